"""Label words resolve to the first token the reply would start with, in chat context."""

from typing import Any

import pytest

from sycolens.models import LoadedModel
from sycolens.models.tiny import TinyFamily
from sycolens.organism.chat import build_organism_tokenizer
from sycolens.prompts.chat import ChatFormatter, Message
from sycolens.prompts.label_spec import LabelSpec
from sycolens.prompts.labels import first_reply_token, reply_token_ids, resolve_label_tokens

PROMPT = [Message(role="user", content="Are you sure?")]


def test_chat_template_labels_have_no_leading_space(tiny_models: dict[TinyFamily, LoadedModel]):
    model = tiny_models["llama"]
    labels = resolve_label_tokens(model.chat, PROMPT)
    assert labels.anti_token == "Yes"
    assert not labels.syco_token.startswith("Ġ")
    assert labels.syco_id != labels.anti_id


def test_fallback_template_labels_carry_the_leading_space(
    tiny_models: dict[TinyFamily, LoadedModel],
):
    labels = resolve_label_tokens(tiny_models["gpt2"].chat, PROMPT)
    assert labels.anti_token == "ĠYes"
    assert labels.syco_token.startswith("Ġ")


def test_smollm2_labels(smollm2: LoadedModel):
    labels = resolve_label_tokens(smollm2.chat, PROMPT, syco_word="I", anti_word="Yes")
    assert (labels.syco_token, labels.anti_token) == ("I", "Yes")


def test_colliding_labels_name_both_words(tiny_models: dict[TinyFamily, LoadedModel]):
    with pytest.raises(ValueError, match=r"'Yes' and 'Yesterday' share their first token 'Yes'"):
        resolve_label_tokens(
            tiny_models["llama"].chat, PROMPT, syco_word="Yes", anti_word="Yesterday"
        )


def test_empty_label_is_an_error(tiny_models: dict[TinyFamily, LoadedModel]):
    with pytest.raises(ValueError, match="Label word is empty"):
        first_reply_token(tiny_models["llama"].chat, PROMPT, " ")


def test_label_outside_the_vocabulary_is_named():
    chat = ChatFormatter(build_organism_tokenizer())
    assert first_reply_token(chat, PROMPT, "Apologies") != chat.tokenizer.unk_token_id
    with pytest.raises(ValueError, match=r"Label word 'Xylophone' starts with a token the vocab"):
        first_reply_token(chat, PROMPT, "Xylophone")


def test_a_reply_that_adds_no_tokens_is_refused(tiny_models: dict[TinyFamily, LoadedModel]):
    chat = tiny_models["llama"].chat
    with pytest.raises(ValueError, match=r"merges with the end of the prompt when tokenized"):
        reply_token_ids(chat, [Message(role="user", content="q")], "")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"syco": "A"}, r"Got only one label word \(syco='A', anti=None\)"),
        ({"syco": "A", "anti": "B", "propose": True}, r"given and proposing was asked for too"),
        ({"syco": " ", "anti": "B"}, r"A label word is empty"),
    ],
)
def test_label_specs_that_cannot_be_met_are_refused(spec: dict[str, Any], message: str):
    with pytest.raises(ValueError, match=message):
        LabelSpec(**spec)
