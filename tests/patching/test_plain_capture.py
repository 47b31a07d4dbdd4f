"""Answer activations read from the plain network (SDPA, sharing the loaded tensors) equal
those read through the bridge's hook points, on every family and both organisms, padding
included; and capture goes through the bridge whenever anything is hooked into the model."""

from collections.abc import Callable
from typing import Any

import pytest
import torch

from sycolens.ablation.knockout import knocked_out
from sycolens.ablation.means import zero_ablation
from sycolens.data.selection import QuestionSource, select_questions
from sycolens.heads import HEAD_ROLES, Head
from sycolens.models.head_access import HeadLayout
from sycolens.models.load import LoadedModel
from sycolens.models.plain import plain_network, runs_as_plain
from sycolens.models.tiny import TINY_FAMILIES, TinyFamily
from sycolens.patching.capture import (
    AnswerActivations,
    bridge_answer_activations,
    capture_answer_activations,
    plain_answer_activations,
)
from sycolens.prompts.batch import TokenBatch
from sycolens.prompts.pairs import build_pairs, tokenize_pairs
from sycolens.tuning.head_deltas import HeadDeltas, delta_targets


def _prompts(model: LoadedModel, source: str) -> TokenBatch:
    """Five reference prompts of different lengths, left-padded."""
    questions = select_questions(QuestionSource(source=source, n=5)).questions
    pairs = tokenize_pairs(
        build_pairs(questions), model.chat, n_ctx=model.n_ctx, pad_token_id=model.pad_token_id
    )
    assert not bool(pairs.reference.mask.all())  # some rows are padded
    return pairs.reference


def _assert_same(plain: AnswerActivations, bridge: AnswerActivations, atol: float) -> None:
    for name in ("z", "final_residual", "logits"):
        torch.testing.assert_close(
            getattr(plain, name), getattr(bridge, name), atol=atol, rtol=1e-4, msg=name
        )


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_plain_equals_bridge_on_every_family(
    family: TinyFamily, tiny_models: dict[TinyFamily, LoadedModel]
):
    model = tiny_models[family]
    batch = _prompts(model, "bundled")
    _assert_same(
        plain_answer_activations(model, batch), bridge_answer_activations(model, batch), 1e-6
    )


@pytest.mark.parametrize("name", ["organism-mha", "organism-gqa"])
def test_plain_equals_bridge_on_the_organisms(name: str, fresh_model: Callable[..., LoadedModel]):
    model = fresh_model(name)
    batch = _prompts(model, "organism")
    _assert_same(
        plain_answer_activations(model, batch), bridge_answer_activations(model, batch), 5e-5
    )


@pytest.mark.smollm2
def test_plain_equals_bridge_on_smollm2(smollm2: LoadedModel):
    batch = _prompts(smollm2, "bundled")
    _assert_same(
        plain_answer_activations(smollm2, batch), bridge_answer_activations(smollm2, batch), 2e-3
    )


def test_the_plain_network_shares_the_loaded_tensors(fresh_model: Callable[..., LoadedModel]):
    model = fresh_model("organism-mha")
    network = plain_network(model)
    assert plain_network(model) is network  # built once per model
    config: Any = model.hf_model.config
    kept = config.rms_norm_eps
    config.rms_norm_eps = kept * 10
    assert not runs_as_plain(model)  # a config changed since the copy: through the bridge
    config.rms_norm_eps = kept
    assert runs_as_plain(model)
    name = "model.layers.1.self_attn.q_proj.weight"
    assert network.get_parameter(name).data_ptr() == model.hf_model.get_parameter(name).data_ptr()
    batch = _prompts(model, "organism")
    before = plain_answer_activations(model, batch)
    with torch.no_grad():
        model.hf_model.get_parameter(name).mul_(1.5)  # an in-place change, as merged deltas are
    _assert_same(
        plain_answer_activations(model, batch), bridge_answer_activations(model, batch), 5e-5
    )
    assert not torch.allclose(plain_answer_activations(model, batch).z, before.z)


def test_capture_goes_through_the_bridge_while_anything_is_hooked(
    fresh_model: Callable[..., LoadedModel],
):
    model = fresh_model("organism-mha")
    batch = _prompts(model, "organism")
    assert runs_as_plain(model)
    clean = capture_answer_activations(model, batch)
    with knocked_out(model, zero_ablation([Head(1, 2)], positions="all")):
        assert not runs_as_plain(model)
        knocked = capture_answer_activations(model, batch)
        torch.testing.assert_close(knocked.z, bridge_answer_activations(model, batch).z)
    assert not torch.allclose(knocked.z[:, 1, 2], clean.z[:, 1, 2])  # the knockout ran
    layout = HeadLayout.of(model.hf_model)
    deltas = HeadDeltas(layout, delta_targets(layout, [Head(2, 0)], HEAD_ROLES), model.hf_model)
    with deltas.applied(model.hf_model):
        assert not runs_as_plain(model)  # SPT's delta hooks
    assert runs_as_plain(model)
    model.hf_model.train()
    assert not runs_as_plain(model)
    model.hf_model.eval()


def test_run_with_cache_leaves_the_plain_network_in_use(fresh_model: Callable[..., LoadedModel]):
    """`run_with_cache` makes transformers install output-capturing hooks that stay; they only
    record outputs while a forward asks for them, so the plain network still applies."""
    model = fresh_model("organism-mha")
    batch = _prompts(model, "organism")
    model.bridge.run_with_cache(batch.tokens[:1])
    assert runs_as_plain(model)
    _assert_same(
        plain_answer_activations(model, batch), bridge_answer_activations(model, batch), 5e-6
    )
