"""Knockouts on the hook points match a slow reference that edits activations by hand."""

from collections.abc import Sequence
from typing import Any, cast

import pytest
import torch

from sycolens.ablation.config import AblationPositions
from sycolens.ablation.knockout import HeadAblation, knocked_out
from sycolens.ablation.means import mean_ablation, zero_ablation
from sycolens.ablation.reference import (
    reference_knockout_generation,
    reference_knockout_logits,
    reference_means,
)
from sycolens.heads import Head
from sycolens.models import LoadedModel
from sycolens.models.forward import run_batch
from sycolens.models.tiny import TINY_FAMILIES, TinyFamily
from sycolens.organism.world import HELD_OUT_SPLIT, sample_questions
from sycolens.prompts.batch import pad_sequences
from sycolens.prompts.chat import Message
from sycolens.prompts.pairs import build_pairs

QUESTIONS = sample_questions(7, 6, HELD_OUT_SPLIT)
PAIRS = build_pairs(QUESTIONS)
REFERENCE = [list(pair.reference) for pair in PAIRS]
COUNTERFACTUAL = [list(pair.counterfactual) for pair in PAIRS]
HEADS = (Head(0, 1), Head(1, 0), Head(1, 1))


@pytest.fixture(scope="module")
def organism(organisms: dict[str, LoadedModel]) -> LoadedModel:
    return organisms["organism-gqa"]


def _batched_last_logits(model: LoadedModel, chats: Sequence[Sequence[Message]]) -> torch.Tensor:
    batch = pad_sequences([model.chat.tokenize(chat) for chat in chats], model.pad_token_id)
    return run_batch(model.bridge, batch)[:, -1]


def _model(
    name: str, organism: LoadedModel, tiny_models: dict[TinyFamily, LoadedModel]
) -> LoadedModel:
    # The organism (word-level ChatML, GQA) or a tiny family (BPE ChatML; GPT-2: Table 9).
    return organism if name == "organism" else tiny_models[cast(TinyFamily, name)]


@pytest.mark.parametrize("name", ["organism", *TINY_FAMILIES])
@pytest.mark.parametrize("positions", ["challenge", "all"])
def test_mean_knockout_matches_hand_edited_reference(
    organism: LoadedModel,
    tiny_models: dict[TinyFamily, LoadedModel],
    name: str,
    positions: AblationPositions,
):
    model = _model(name, organism, tiny_models)
    chats = REFERENCE if name == "organism" else _tiny_chats()
    counterfactual = COUNTERFACTUAL if name == "organism" else _tiny_chats("I do")
    ablation = mean_ablation(model, HEADS, counterfactual, positions=positions, batch_size=4)
    slow_means = reference_means(model, ablation.layers, counterfactual, positions)
    assert ablation.means is not None
    for layer in ablation.layers:
        torch.testing.assert_close(ablation.means[layer], slow_means[layer], atol=1e-5, rtol=0)
    with knocked_out(model, ablation) as log:
        fast = _batched_last_logits(model, chats)
    slow = reference_knockout_logits(model, HEADS, chats, means=slow_means, positions=positions)
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=0)
    assert not torch.allclose(fast, _batched_last_logits(model, chats), atol=1e-4)
    assert log.rows == (len(chats) if positions == "challenge" else 0)
    assert log.rows_without_challenge == 0 and log.positions_replaced > 0


def _tiny_chats(doubt: str = "I don't") -> list[list[Message]]:
    questions = ["What is 7 + 5?", "What is the capital of France?", "Which planet is largest?"]
    answers = ["12", "Paris", "Jupiter"]
    return [
        [
            Message(role="user", content=question),
            Message(role="assistant", content=answer),
            Message(role="user", content=f"{doubt} think that's right. Are you sure?"),
        ]
        for question, answer in zip(questions, answers, strict=True)
    ]


def test_zero_knockout_matches_reference(organism: LoadedModel):
    with knocked_out(organism, zero_ablation(HEADS)):
        fast = _batched_last_logits(organism, REFERENCE)
    slow = reference_knockout_logits(organism, HEADS, REFERENCE, means=None, positions="challenge")
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["organism", *TINY_FAMILIES])
@pytest.mark.parametrize(("method", "positions"), [("mean", "challenge"), ("zero", "all")])
def test_knockout_under_cached_generation_matches_full_recompute(
    organism: LoadedModel,
    tiny_models: dict[TinyFamily, LoadedModel],
    name: str,
    method: str,
    positions: AblationPositions,
):
    model = _model(name, organism, tiny_models)
    chats = REFERENCE[:3] if name == "organism" else _tiny_chats()
    counterfactual = COUNTERFACTUAL if name == "organism" else _tiny_chats("I do")
    ablation = (
        mean_ablation(model, HEADS, counterfactual, positions=positions)
        if method == "mean"
        else zero_ablation(HEADS, positions=positions)
    )
    batch = pad_sequences([model.chat.tokenize(chat) for chat in chats], model.pad_token_id)
    with knocked_out(model, ablation), torch.no_grad():
        generate: Any = model.hf_model.generate
        out = generate(
            input_ids=batch.tokens,
            attention_mask=batch.mask.long(),
            position_ids=batch.position_ids(),
            max_new_tokens=5,
            min_new_tokens=5,
            do_sample=False,
            pad_token_id=model.pad_token_id,
        )
    for row, chat in enumerate(chats):
        slow = reference_knockout_generation(
            model, HEADS, chat, means=ablation.means, positions=positions, max_new_tokens=5
        )
        # min_new_tokens keeps `generate` from ending; the reference may end: compare before it.
        eos = model.tokenizer.eos_token_id
        until = slow.index(eos) if eos in slow else len(slow)
        assert until >= 3, slow  # enough tokens to compare
        assert out[row, batch.tokens.shape[1] :].tolist()[:until] == slow[:until]


def test_a_prompt_without_challenge_runs_untouched(organism: LoadedModel):
    plain = [[Message(role="user", content=QUESTIONS[0].prompt_text())]]
    ablation = mean_ablation(organism, HEADS, COUNTERFACTUAL)
    with knocked_out(organism, ablation) as log:
        knocked = _batched_last_logits(organism, plain)
    torch.testing.assert_close(knocked, _batched_last_logits(organism, plain), atol=0, rtol=0)
    assert (log.rows, log.rows_without_challenge, log.positions_replaced) == (1, 1, 0)


def test_a_head_out_of_range_is_named(organism: LoadedModel):
    with pytest.raises(ValueError, match=r"Head \(9, 0\) is out of range"):
        mean_ablation(organism, [Head(9, 0)], COUNTERFACTUAL)
    with pytest.raises(ValueError, match=r"Head \(0, 7\) is out of range"):
        knocked_out(organism, zero_ablation([Head(0, 7)])).__enter__()


def test_counterfactual_chats_without_challenge_are_refused(organism: LoadedModel):
    plain = [[Message(role="user", content=QUESTIONS[0].prompt_text())]]
    with pytest.raises(ValueError, match="Counterfactual chat 0 has no challenge turn"):
        mean_ablation(organism, HEADS, plain)


def test_mean_ablation_needs_its_means():
    with pytest.raises(ValueError, match=r"no mean activations for layers \[1\]"):
        HeadAblation(heads=(Head(1, 0),), method="mean")
    with pytest.raises(ValueError, match="repeat a head"):
        HeadAblation(heads=(Head(1, 0), Head(1, 0)), method="zero")


def test_embeddings_without_ids_are_refused(organism: LoadedModel):
    embedding: Any = organism.hf_model.get_input_embeddings()
    embeds = embedding(torch.tensor([[5, 6, 7]]))
    with knocked_out(organism, zero_ablation(HEADS)), pytest.raises(ValueError, match="input_ids"):
        organism.hf_model(inputs_embeds=embeds)
