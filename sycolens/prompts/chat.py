"""Render multi-turn chats to text and token ids, the way the model was trained to see them.

A tokenizer with a chat template renders with that template. One without (base models,
GPT-2) falls back to the paper's HUMAN/ASSISTANT template (Table 9). Chats are tokenized
here rather than with `bridge.to_tokens`, which prepends a second BOS to templated text.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict

from transformers import PreTrainedTokenizerBase

Role = Literal["user", "assistant", "system"]


class Message(TypedDict):
    role: Role
    content: str


# A ChatML template (as SmolLM2 and Qwen use), for tokenizers that sycolens builds itself.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_FALLBACK_SPEAKERS: dict[str, str] = {"user": "HUMAN", "assistant": "ASSISTANT", "system": "SYSTEM"}


@dataclass(frozen=True)
class ChatFormatter:
    """Turns message lists into the exact text and token ids the model is prompted with."""

    tokenizer: PreTrainedTokenizerBase

    @property
    def uses_chat_template(self) -> bool:
        """True when the tokenizer's own chat template is used (else HUMAN/ASSISTANT)."""
        return bool(getattr(self.tokenizer, "chat_template", None))

    def render(self, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
        """Returns the chat as text, ending with the assistant's cue when asked."""
        if not messages:
            raise ValueError("Cannot render an empty chat. Fix: pass at least one message.")
        if self.uses_chat_template:
            text = self.tokenizer.apply_chat_template(
                [{"role": m["role"], "content": m["content"]} for m in messages],
                tokenize=False,
                add_generation_prompt=add_generation_prompt,
            )
            assert isinstance(text, str)
            return text
        lines = [f"{_FALLBACK_SPEAKERS[m['role']]}: {m['content']}" for m in messages]
        if add_generation_prompt:
            lines.append(f"{_FALLBACK_SPEAKERS['assistant']}:")
        return "\n".join(lines)

    def encode(self, text: str) -> list[int]:
        """Returns token ids of rendered text, with exactly one BOS where the model wants one.

        A chat template writes its own special tokens into the text, so none are added; the
        fallback template gets the tokenizer's default special tokens (BOS for Llama-2).
        """
        ids = self.tokenizer(text, add_special_tokens=not self.uses_chat_template)["input_ids"]
        return list(ids)

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Returns `encode(text)` and each token's [start, stop) character offsets in `text`.

        Tokens the tokenizer adds itself (a BOS) have empty offsets.
        """
        encoded = self.tokenizer(
            text,
            add_special_tokens=not self.uses_chat_template,
            return_offsets_mapping=True,
        )
        offsets = [(int(a), int(b)) for a, b in encoded["offset_mapping"]]
        return list(encoded["input_ids"]), offsets

    def tokenize(
        self, messages: Sequence[Message], *, add_generation_prompt: bool = True
    ) -> list[int]:
        """Returns the token ids of a rendered chat."""
        return self.encode(self.render(messages, add_generation_prompt=add_generation_prompt))


def check_known_tokens(chat: ChatFormatter, ids: Sequence[int], what: str) -> None:
    """Raises naming `what` when `ids` hold the tokenizer's unknown token (word-level vocabs)."""
    unk = chat.tokenizer.unk_token_id
    if unk is not None and unk in ids:
        unknown_at = next(i for i, token in enumerate(ids) if token == unk)
        raise ValueError(
            f"{what} has words the tokenizer does not know (unknown token id {unk} at token "
            f"{unknown_at}). Fix: use text in the model's vocabulary (for the organism: "
            "--questions organism, and no final-answer turn)."
        )
