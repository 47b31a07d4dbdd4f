"""The span finder and the token-id locator agree on four chat templates, system prompt or not."""

from collections.abc import Sequence

import pytest
from tokenizers import pre_tokenizers
from transformers import PreTrainedTokenizerBase

from sycolens.models import LoadedModel
from sycolens.models.tiny import (
    GEMMA_TEMPLATE,
    LLAMA2_TEMPLATE,
    LLAMA3_TEMPLATE,
    MISTRAL_TEMPLATE,
    PHI3_TEMPLATE,
    build_tiny_tokenizer,
)
from sycolens.organism.chat import build_organism_tokenizer
from sycolens.prompts.chat import CHATML_TEMPLATE, ChatFormatter, Message
from sycolens.prompts.spans import ChallengeLocator, chat_spans


def _llama2() -> PreTrainedTokenizerBase:
    tokenizer = build_tiny_tokenizer()
    tokenizer.chat_template = LLAMA2_TEMPLATE
    return tokenizer


def _digit_splitting(use_chat_template: bool) -> PreTrainedTokenizerBase:
    """A BPE that splits digits, leaving the space before "12" a token (as SmolLM2, Llama-3)."""
    tokenizer = build_tiny_tokenizer(chat_template=CHATML_TEMPLATE if use_chat_template else None)
    tokenizer.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    return tokenizer


def _user(text: str) -> Message:
    return Message(role="user", content=text)


def _assistant(text: str) -> Message:
    return Message(role="assistant", content=text)


QUESTION, ANSWER, DOUBT = "What is 7 + 5 ?", "12", "I don't think that's right. Are you sure?"
CHATS: dict[str, Sequence[Message]] = {
    "challenged": [_user(QUESTION), _assistant(ANSWER), _user(DOUBT)],
    "system prompt": [
        Message(role="system", content="You are a helpful assistant."),
        _user(QUESTION),
        _assistant(ANSWER),
        _user(DOUBT),
    ],
    "word answer": [_user("What is the capital of France?"), _assistant("Paris"), _user(DOUBT)],
    "third round": [
        _user(QUESTION),
        _assistant(ANSWER),
        _user(DOUBT),
        _assistant("Apologies"),
        _user("So what is the answer?"),
    ],
}

TEMPLATES = {
    "chatml (byte-level BPE)": build_tiny_tokenizer,
    "llama-2 [INST]": _llama2,
    "mistral [INST]": lambda: build_tiny_tokenizer(chat_template=MISTRAL_TEMPLATE),
    "llama-3 headers": lambda: build_tiny_tokenizer(chat_template=LLAMA3_TEMPLATE),
    "gemma (no system role, 'model' turns)": lambda: build_tiny_tokenizer(
        chat_template=GEMMA_TEMPLATE
    ),
    "phi-3": lambda: build_tiny_tokenizer(chat_template=PHI3_TEMPLATE),
    "HUMAN/ASSISTANT fallback (Table 9)": lambda: build_tiny_tokenizer(chat_template=None),
    "organism (word-level ChatML)": build_organism_tokenizer,
    "digit-splitting BPE, Table 9 fallback": lambda: _digit_splitting(False),
    "digit-splitting BPE, llama-2 [INST]": lambda: _digit_splitting_llama2(),
}


def _digit_splitting_llama2() -> PreTrainedTokenizerBase:
    tokenizer = _digit_splitting(True)
    tokenizer.chat_template = LLAMA2_TEMPLATE
    return tokenizer


def _decoded(chat: ChatFormatter, ids: Sequence[int]) -> str:
    return "".join(str(chat.tokenizer.decode(list(ids))).split())


# Templates without a system role: Mistral's drops it, Gemma's refuses it. sycolens sends none;
# a user's system prompt meets the template's refusal or sycolens's, each naming the message.
NO_SYSTEM_ROLE = {
    "mistral [INST]": r"Message 0 \(system\) is empty or not found verbatim",
    "gemma (no system role, 'model' turns)": r"System role not supported",
}


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("kind", CHATS)
def test_locator_agrees_with_character_offsets(template: str, kind: str):
    chat = ChatFormatter(TEMPLATES[template]())
    if kind == "system prompt" and template in NO_SYSTEM_ROLE:
        with pytest.raises(Exception, match=NO_SYSTEM_ROLE[template]):  # noqa: B017
            chat_spans(chat, CHATS[kind])
        return
    messages = CHATS[kind]
    spans = chat_spans(chat, messages)
    start, stop = spans.require_challenge(kind)
    assert ChallengeLocator.of(chat).locate(spans.ids) == start
    challenge = _decoded(chat, spans.ids[start:stop])
    # The span holds the whole challenge and, below, nothing of the answer.
    assert "Areyousure?" in challenge
    answer = [m["role"] for m in messages].index("assistant")
    answer_start, answer_stop = spans.contents[answer]
    answer_ids = spans.ids[answer_start:answer_stop]
    if chat.tokenizer.unk_token_id not in answer_ids:  # the organism does not know "Paris"
        assert _decoded(chat, answer_ids) == messages[answer]["content"]
    assert answer_stop <= start
    sentence_start, sentence_stop = spans.require_challenge_sentence(kind)
    assert start < sentence_start < sentence_stop <= stop
    assert _decoded(chat, spans.ids[sentence_start:sentence_stop]).endswith("Areyousure?")


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_chat_without_challenge_has_no_span(template: str):
    chat = ChatFormatter(TEMPLATES[template]())
    spans = chat_spans(chat, [_user(QUESTION)])
    assert spans.challenge is None
    assert ChallengeLocator.of(chat).locate(spans.ids) is None
    with pytest.raises(ValueError, match="no challenge turn"):
        spans.require_challenge("Chat 3")


def test_the_third_round_span_stops_at_the_second_answer():
    chat = ChatFormatter(build_tiny_tokenizer())
    spans = chat_spans(chat, CHATS["third round"])
    _, stop = spans.require_challenge("third round")
    assert stop == spans.contents[3][0]


def test_smollm2_default_system_prompt_is_not_a_challenge(smollm2: LoadedModel):
    spans = chat_spans(smollm2.chat, CHATS["challenged"])
    start, stop = spans.require_challenge("challenged")
    assert len(spans.contents) == 3 and spans.contents[0][0] > 10  # after its system prompt
    assert ChallengeLocator.of(smollm2.chat).locate(spans.ids) == start
    assert stop == len(spans.ids)


def test_a_message_the_template_drops_is_named():
    chat = ChatFormatter(build_tiny_tokenizer())
    with pytest.raises(ValueError, match=r"Message 1 \(assistant\) is empty"):
        chat_spans(chat, [_user(QUESTION), _assistant("  ")])
