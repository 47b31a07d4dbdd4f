"""Chat rendering: the tokenizer's template when it has one, else HUMAN/ASSISTANT (Table 9)."""

import pytest

from sycolens.models import LoadedModel
from sycolens.models.tiny import TinyFamily
from sycolens.prompts.chat import ChatFormatter, Message

CHAT = [Message(role="user", content="What is 7 + 5?")]


def test_chat_template_is_used(tiny_models: dict[TinyFamily, LoadedModel]):
    chat = tiny_models["llama"].chat
    assert chat.uses_chat_template
    assert (
        chat.render(CHAT) == "<|im_start|>user\nWhat is 7 + 5?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_fallback_template_is_the_papers(tiny_models: dict[TinyFamily, LoadedModel]):
    chat = tiny_models["gpt2"].chat
    assert not chat.uses_chat_template
    assert chat.render(CHAT) == "HUMAN: What is 7 + 5?\nASSISTANT:"
    assert chat.render(CHAT, add_generation_prompt=False) == "HUMAN: What is 7 + 5?"


def test_templated_chat_has_exactly_one_start_token(tiny_models: dict[TinyFamily, LoadedModel]):
    chat = tiny_models["llama"].chat
    ids = chat.tokenize(CHAT)
    start = chat.tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert ids[0] == start
    assert ids[1] != start


def test_smollm2_chat_is_not_double_bos(smollm2: LoadedModel):
    ids = smollm2.chat.tokenize(CHAT)
    assert ids[0] == smollm2.tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert ids[:2] != [ids[0], ids[0]]


def test_empty_chat_is_an_error(tiny_models: dict[TinyFamily, LoadedModel]):
    chat: ChatFormatter = tiny_models["llama"].chat
    with pytest.raises(ValueError, match="empty chat"):
        chat.render([])
