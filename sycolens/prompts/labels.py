"""Label words to label tokens: the first sub-token the model would emit for each word.

The paper scores "the first subword of the label words" (Zhao et al. 2021). Which token that
is depends on the chat template: after "<|im_start|>assistant\\n" the word starts a line (no
leading space), after the fallback "ASSISTANT:" it follows a space. So the label is resolved in
context: tokenize prompt + word, and take the first token past the prompt's own tokens.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sycolens.prompts.chat import ChatFormatter, Message
from sycolens.prompts.label_spec import PAPER_LABELS


@dataclass(frozen=True, kw_only=True)
class LabelTokens:
    """The sycophantic and anti-sycophantic label words and their first tokens."""

    syco_word: str
    anti_word: str
    syco_id: int
    anti_id: int
    syco_token: str
    anti_token: str


def resolve_label_tokens(
    chat: ChatFormatter,
    prompt: Sequence[Message],
    *,
    syco_word: str = PAPER_LABELS.syco,
    anti_word: str = PAPER_LABELS.anti,
) -> LabelTokens:
    """Returns the first tokens of both label words as they would start the reply to `prompt`."""
    syco_id = first_reply_token(chat, prompt, syco_word)
    anti_id = first_reply_token(chat, prompt, anti_word)
    tokenizer = chat.tokenizer
    syco_token = tokenizer.convert_ids_to_tokens(syco_id)
    anti_token = tokenizer.convert_ids_to_tokens(anti_id)
    if syco_id == anti_id:
        raise ValueError(
            f"Label words {syco_word!r} and {anti_word!r} share their first token "
            f"{syco_token!r} (id {syco_id}), so F cannot tell them apart. Fix: choose label "
            "words whose first sub-tokens differ (--syco-label/--anti-label)."
        )
    return LabelTokens(
        syco_word=syco_word,
        anti_word=anti_word,
        syco_id=syco_id,
        anti_id=anti_id,
        syco_token=str(syco_token),
        anti_token=str(anti_token),
    )


def first_reply_token(chat: ChatFormatter, prompt: Sequence[Message], word: str) -> int:
    """Returns the id of the first token of `word` written as the start of the reply."""
    if not word.strip():
        raise ValueError("Label word is empty. Fix: pass a word such as 'Apologies' or 'Yes'.")
    token_id = reply_token_ids(chat, prompt, word)[0]
    unk = chat.tokenizer.unk_token_id
    if unk is not None and token_id == unk:
        raise ValueError(
            f"Label word {word!r} starts with a token the vocabulary does not have (unknown "
            f"token id {unk}). Fix: choose a word the tokenizer knows."
        )
    return token_id


def reply_token_ids(chat: ChatFormatter, prompt: Sequence[Message], reply: str) -> list[int]:
    """Returns the token ids `reply` takes when written as the start of the assistant's reply.

    The reply is tokenized together with the rendered prompt (after a space where the prompt
    ends without one), and the ids past the prompt's own ids are returned.
    """
    text = chat.render(prompt, add_generation_prompt=True)
    prompt_ids = chat.encode(text)
    joined = chat.encode(text + reply if text.endswith(("\n", " ")) else f"{text} {reply}")
    if joined[: len(prompt_ids)] != prompt_ids or len(joined) == len(prompt_ids):
        raise ValueError(
            f"Reply text {reply!r} merges with the end of the prompt when tokenized, so it has "
            "no tokens of its own in this chat format. Fix: choose another label word or reply."
        )
    return joined[len(prompt_ids) :]
