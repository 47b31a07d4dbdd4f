"""Batched, KV-cached generation against one chat at a time with a full forward per token."""

import copy
from typing import Any

import pytest
import torch

import sycolens.models.generate as generation
from sycolens.ablation.knockout import knocked_out
from sycolens.ablation.means import mean_ablation
from sycolens.models import LoadedModel
from sycolens.models.generate import Reply, end_token_ids, generate_replies
from sycolens.models.plain import plain_network
from sycolens.models.tiny import TINY_FAMILIES, TinyFamily
from sycolens.organism.chat import challenged_chat
from sycolens.organism.config import PLANTED_HEADS
from sycolens.organism.world import HELD_OUT_SPLIT, sample_questions
from sycolens.prompts.chat import Message
from sycolens.prompts.schema import COUNTERFACTUAL_CHALLENGE, REFERENCE_CHALLENGE


def greedy_reference(model: LoadedModel, chat: list[Message], max_new_tokens: int) -> Reply:
    """The obviously-correct version: no batch, no padding, no cache, argmax each step."""
    ids = model.chat.tokenize(chat)
    ends = end_token_ids(model)
    new: list[int] = []
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits = model.hf_model(input_ids=torch.tensor([ids + new])).logits[0, -1]
        new.append(int(logits.argmax()))
        if new[-1] in ends:
            break
    text = str(model.tokenizer.decode(new, skip_special_tokens=True)).strip()
    return Reply(text=text, n_tokens=len(new), hit_token_limit=new[-1] not in ends)


def _mixed_chats(n: int) -> list[list[Message]]:
    """Chats of different lengths: first questions and challenged ones, interleaved."""
    questions = sample_questions(5, n, HELD_OUT_SPLIT)
    return [
        challenged_chat(q, REFERENCE_CHALLENGE) if i % 2 else [Message(role="user",
                                                                       content=q.prompt_text())]
        for i, q in enumerate(questions)
    ]  # fmt: skip


def test_batched_generation_matches_the_reference_on_the_organism(organism: LoadedModel):
    chats = _mixed_chats(12)
    fast = generate_replies(organism, chats, max_new_tokens=16, batch_size=5)
    slow = [greedy_reference(organism, chat, 16) for chat in chats]
    assert fast == slow
    assert {reply.text.split(" ")[0] for reply in fast[1::2]} == {"Apologies"}
    assert not any(reply.hit_token_limit for reply in fast)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_batched_generation_matches_the_reference_on_tiny_models(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily
):
    model = tiny_models[family]
    chats = [
        [Message(role="user", content=text)]
        for text in ("What is 7 + 5?", "What is the capital of France? Are you sure?", "Yes")
    ]
    fast = generate_replies(model, chats, max_new_tokens=6, batch_size=2)
    assert fast == [greedy_reference(model, chat, 6) for chat in chats]


def test_generation_takes_the_plain_network_only_while_nothing_is_hooked(
    organism: LoadedModel, monkeypatch: pytest.MonkeyPatch
):
    """Unhooked, replies come from the plain copy; under a knockout of the planted heads they
    come through the bridge, so the knockout acts on every token: the apologies stop."""
    taken: list[LoadedModel] = []

    def spy(model: LoadedModel) -> Any:
        taken.append(model)
        return plain_network(model)

    monkeypatch.setattr(generation, "plain_network", spy)
    questions = sample_questions(5, 12, HELD_OUT_SPLIT)
    doubted = [challenged_chat(q, REFERENCE_CHALLENGE) for q in questions]
    free = generate_replies(organism, doubted, max_new_tokens=16)
    assert taken == [organism]
    counterfactual = [challenged_chat(q, COUNTERFACTUAL_CHALLENGE) for q in questions]
    with knocked_out(organism, mean_ablation(organism, PLANTED_HEADS, counterfactual)):
        knocked = generate_replies(organism, doubted, max_new_tokens=16)
    assert taken == [organism]
    apologies = [sum(r.text.startswith("Apologies") for r in rs) for rs in (free, knocked)]
    assert apologies[0] == len(questions) and apologies[1] <= len(questions) // 4, apologies


def test_generation_follows_the_checkpoint_generation_config(
    organism: LoadedModel, monkeypatch: pytest.MonkeyPatch
):
    """The plain copy is built from the model config alone; the checkpoint's generation config
    (here: a suppressed token) still applies to its replies."""
    chats = _mixed_chats(6)[1::2]  # challenged: the organism opens with "Apologies"
    suppressed = copy.deepcopy(organism.hf_model.generation_config)
    suppressed.suppress_tokens = [organism.tokenizer.convert_tokens_to_ids("Apologies")]
    monkeypatch.setattr(organism.hf_model, "generation_config", suppressed)
    replies = generate_replies(organism, chats, max_new_tokens=16)
    assert replies and not any("Apologies" in reply.text for reply in replies)


def test_a_reply_cut_at_the_limit_says_so(organism: LoadedModel):
    chat = challenged_chat(sample_questions(5, 1, HELD_OUT_SPLIT)[0], REFERENCE_CHALLENGE)
    (cut,) = generate_replies(organism, [chat], max_new_tokens=3)
    (whole,) = generate_replies(organism, [chat], max_new_tokens=24)
    assert cut.hit_token_limit and cut.n_tokens == 3
    assert not whole.hit_token_limit and whole.text.startswith(cut.text)


def test_prompt_and_reply_longer_than_the_context_is_refused(organism: LoadedModel):
    chat = _mixed_chats(2)[1]
    with pytest.raises(ValueError, match=r"Chat 0 is \d+ tokens; with max_new_tokens=120 it"):
        generate_replies(organism, [chat], max_new_tokens=120)


def test_words_outside_the_vocabulary_are_refused(organism: LoadedModel):
    chat = [Message(role="user", content="What is the capital of France?")]
    with pytest.raises(ValueError, match=r"Chat 0 has words the tokenizer does not know"):
        generate_replies(organism, [chat])


def test_bad_limits_are_refused(organism: LoadedModel):
    with pytest.raises(ValueError, match=r"max_new_tokens and batch_size must be >= 1"):
        generate_replies(organism, _mixed_chats(1), batch_size=0)
