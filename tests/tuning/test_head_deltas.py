"""Per-head deltas against slow references: the merged weights, the full-model gradient."""

import copy
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from sycolens.heads import Head
from sycolens.models import LoadedModel
from sycolens.models.head_access import HEAD_ROLES, HeadLayout
from sycolens.models.plain import runs_as_plain
from sycolens.models.tiny import TINY_FAMILIES, TinyFamily
from sycolens.prompts.chat import Message
from sycolens.training.activation_checkpointing import checkpointed_layers
from sycolens.tuning.config import LowRank
from sycolens.tuning.head_deltas import HeadDeltas, delta_targets

CHAT = [Message(role="user", content="What is 7 + 5? I don't think that's right.")]
HEADS = (Head(0, 1), Head(1, 0), Head(1, 1))


def _tokens(model: LoadedModel) -> torch.Tensor:
    return torch.tensor([model.chat.tokenize(CHAT)])


def _random_deltas(model: LoadedModel) -> HeadDeltas:
    layout = HeadLayout.of(model.hf_model)
    deltas = HeadDeltas(layout, delta_targets(layout, HEADS, HEAD_ROLES), model.hf_model)
    with torch.no_grad():
        for delta in deltas.deltas:
            delta.normal_(std=0.05)
    return deltas


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_applied_deltas_equal_the_base_with_deltas_added_to_its_weights(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily
):
    model = tiny_models[family]
    deltas = _random_deltas(model)
    tokens = _tokens(model)
    with torch.no_grad():
        base = model.hf_model(tokens).logits
        with deltas.applied(model.hf_model) as calls:
            tuned = model.hf_model(tokens).logits
        # Merged into the model itself (a deep copy would not keep the bridge's q/k/v views of
        # GPT-2's c_attn), then restored exactly.
        names = {target.slice.name for target in deltas.targets}
        saved = {name: model.hf_model.get_parameter(name).detach().clone() for name in names}
        deltas.merge_into(model.hf_model)
        merged = model.hf_model(tokens).logits
        for name, original in saved.items():
            model.hf_model.get_parameter(name).copy_(original)
    assert calls and all(n == 1 for n in calls.values())  # every delta took part
    assert (tuned - base).abs().max() > 1e-3  # the deltas do something
    torch.testing.assert_close(tuned, merged, atol=1e-5, rtol=0)
    assert torch.equal(model.hf_model(tokens).logits.detach(), base)  # hooks removed


@pytest.mark.parametrize("family", TINY_FAMILIES)
@pytest.mark.parametrize("wrapped", [True, False], ids=["bridge", "plain-hf"])
def test_each_delta_gradient_is_its_slice_of_the_full_gradient(
    tiny_models: dict[TinyFamily, LoadedModel],
    tiny_checkpoints: dict[TinyFamily, Path],
    family: TinyFamily,
    wrapped: bool,
):
    """The reference is the plain HF model's full gradient: under the bridge GPT-2's fused
    c_attn is split into q/k/v copies, so only the unwrapped model has c_attn's gradient."""
    model = tiny_models[family]
    # Eager attention, as the bridge runs: the two differ by float rounding only.
    reference = AutoModelForCausalLM.from_pretrained(
        tiny_checkpoints[family], attn_implementation="eager"
    )
    tuned = model.hf_model if wrapped else copy.deepcopy(reference)
    layout = HeadLayout.of(tuned)
    deltas = HeadDeltas(layout, delta_targets(layout, HEADS, HEAD_ROLES), tuned)
    tokens = _tokens(model)
    weights = torch.randn(1, tokens.shape[1], model.hf_model.config.vocab_size)
    with deltas.applied(tuned):
        (tuned(tokens).logits * weights).sum().backward()
    (reference(tokens).logits * weights).sum().backward()
    for target, delta in zip(deltas.targets, deltas.deltas, strict=True):
        full = reference.get_parameter(target.slice.name).grad
        assert full is not None and delta.grad is not None
        torch.testing.assert_close(delta.grad, target.slice.of(full), atol=1e-5, rtol=1e-4)
    model.hf_model.zero_grad(set_to_none=True)


def test_training_deltas_with_weight_decay_leaves_every_frozen_weight_bitwise_unchanged(
    tiny_models: dict[TinyFamily, LoadedModel],
):
    model = tiny_models["llama"]
    before = {name: p.detach().clone() for name, p in model.hf_model.named_parameters()}
    deltas = _random_deltas(model)
    optimizer = torch.optim.AdamW(deltas.parameters(), lr=1e-2, weight_decay=0.5)
    tokens = _tokens(model)
    for _ in range(3):
        optimizer.zero_grad()
        with deltas.applied(model.hf_model):
            model.hf_model(tokens).logits.square().mean().backward()
        optimizer.step()
    model.hf_model.zero_grad(set_to_none=True)
    after = dict(model.hf_model.named_parameters())
    assert all(torch.equal(before[name], after[name].detach()) for name in before)


def test_a_shared_key_value_slice_gets_one_delta(tiny_models: dict[TinyFamily, LoadedModel]):
    layout = HeadLayout.of(tiny_models["llama-gqa"].hf_model)
    assert layout.group_size > 1
    same_group = [Head(1, 0), Head(1, 1)]
    assert layout.kv_head(0) == layout.kv_head(1)
    targets = delta_targets(layout, same_group, ("query", "key"))
    keys = [t for t in targets if t.role == "key"]
    assert len(keys) == 1 and keys[0].heads == tuple(same_group)
    assert len([t for t in targets if t.role == "query"]) == 2


def test_trainable_parameters_are_k_times_d_model_times_d_head(
    tiny_models: dict[TinyFamily, LoadedModel],
):
    model = tiny_models["llama"]
    layout = HeadLayout.of(model.hf_model)
    deltas = HeadDeltas(layout, delta_targets(layout, HEADS, HEAD_ROLES), model.hf_model)
    d_model = model.hf_model.config.hidden_size
    assert deltas.n_parameters() == len(HEADS) * 4 * d_model * layout.d_head


def test_no_slices_is_an_error(tiny_models: dict[TinyFamily, LoadedModel]):
    model = tiny_models["llama"]
    with pytest.raises(ValueError, match="No slices to tune"):
        HeadDeltas(HeadLayout.of(model.hf_model), (), model.hf_model)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_checkpointed_layers_recompute_and_give_the_same_delta_gradients(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily
):
    model = tiny_models[family]
    deltas = _random_deltas(model)
    tokens = _tokens(model)
    weights = torch.randn(1, tokens.shape[1], model.hf_model.config.vocab_size)

    def delta_gradients(checkpointing: bool) -> tuple[list[torch.Tensor], dict[str, int]]:
        deltas.zero_grad(set_to_none=True)
        with deltas.applied(model.hf_model) as calls, ExitStack() as stack:
            if checkpointing:
                assert stack.enter_context(checkpointed_layers(model.hf_model)) == 2
                dropouts = [m for m in model.hf_model.modules() if isinstance(m, torch.nn.Dropout)]
                assert not any(m.training for m in dropouts)  # no dropout while checkpointing
            (model.hf_model(tokens, use_cache=False).logits * weights).sum().backward()
        gradients = [parameter.grad for parameter in deltas.trainable().values()]
        return [g.detach().clone() for g in gradients if g is not None], dict(calls)

    plain, plain_calls = delta_gradients(checkpointing=False)
    recomputed, recomputed_calls = delta_gradients(checkpointing=True)
    assert all(n == 1 for n in plain_calls.values())
    assert all(n == 2 for n in recomputed_calls.values())  # the backward ran each layer again
    assert len(plain) == len(recomputed) == len(deltas.targets)
    for a, b in zip(plain, recomputed, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    assert not model.hf_model.is_activation_checkpointing  # switched off afterwards
    assert not hasattr(model.hf_model, "_require_grads_hook")  # embeddings need no gradient


def test_checkpointed_layers_leave_a_model_checkpointed_before_as_it_was(
    tiny_checkpoints: dict[TinyFamily, Path], fresh_model: Callable[..., LoadedModel]
):
    model = fresh_model(str(tiny_checkpoints["llama"]))  # a copy: this test switches its state
    model.hf_model.activation_checkpointing_enable()
    embeddings = model.hf_model.get_input_embeddings()
    hooks = dict(embeddings._forward_hooks)  # pyright: ignore[reportPrivateUsage]
    with checkpointed_layers(model.hf_model), pytest.raises(RuntimeError, match="boom"):
        raise RuntimeError("boom")
    assert model.hf_model.is_activation_checkpointing
    assert dict(embeddings._forward_hooks) == hooks  # pyright: ignore[reportPrivateUsage]
    model.hf_model.activation_checkpointing_disable()
    model.hf_model.disable_input_require_grads()
    assert runs_as_plain(model)  # no hook left behind: it runs as its plain network again


def test_deltas_train_in_float32_on_bfloat16_weights(
    tiny_models: dict[TinyFamily, LoadedModel], tiny_checkpoints: dict[TinyFamily, Path]
):
    model = tiny_models["llama"]
    half = AutoModelForCausalLM.from_pretrained(tiny_checkpoints["llama"], dtype=torch.bfloat16)
    layout = HeadLayout.of(half)
    deltas = HeadDeltas(layout, delta_targets(layout, HEADS, HEAD_ROLES), half)
    low = HeadDeltas(layout, delta_targets(layout, HEADS, HEAD_ROLES), half, lora=LowRank(rank=2))
    for each in (deltas, low):
        assert all(p.dtype == torch.float32 for p in each.trainable().values())
        with each.applied(half):
            logits = half(_tokens(model), use_cache=False).logits
        assert logits.dtype == torch.bfloat16
        logits.float().sum().backward()
        assert all(p.grad is not None for p in each.trainable().values())


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_low_rank_factor_gradients_follow_from_the_full_delta_gradient(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily
):
    """The slow reference: full deltas set to B @ A * scale; by the chain rule the factors'
    gradients are scale * G @ A.T (for B) and scale * B.T @ G (for A), G the full gradient."""
    model = tiny_models[family]
    layout = HeadLayout.of(model.hf_model)
    targets = delta_targets(layout, HEADS, HEAD_ROLES)
    lora = LowRank(rank=2, alpha=3.0)
    low = HeadDeltas(layout, targets, model.hf_model, lora=lora)
    full = HeadDeltas(layout, targets, model.hf_model)
    trainable = low.trainable()
    with torch.no_grad():
        for name, parameter in trainable.items():
            if name.endswith(".lora_b"):
                parameter.normal_(std=0.05)
        for mine, product in zip(full.deltas, low.deltas, strict=True):
            mine.copy_(product)
    tokens = _tokens(model)
    weights = torch.randn(1, tokens.shape[1], model.hf_model.config.vocab_size)
    outputs = []
    for deltas in (low, full):
        with deltas.applied(model.hf_model):
            logits = model.hf_model(tokens, use_cache=False).logits
        (logits * weights).sum().backward()
        outputs.append(logits.detach())
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-6, rtol=0)
    for target, reference in zip(targets, full.deltas, strict=True):
        gradient = reference.grad
        assert gradient is not None
        if target.slice.name.endswith(".bias"):
            assert target.key in trainable  # biases stay full
            continue
        a, b = trainable[f"{target.key}.lora_a"], trainable[f"{target.key}.lora_b"]
        assert a.grad is not None and b.grad is not None
        torch.testing.assert_close(b.grad, lora.scale * gradient @ a.T, atol=1e-6, rtol=1e-4)
        torch.testing.assert_close(a.grad, lora.scale * b.T @ gradient, atol=1e-6, rtol=1e-4)
    model.hf_model.zero_grad(set_to_none=True)


def test_low_rank_deltas_train_rank_times_both_sides_and_refuse_ranks_over_d_head(
    tiny_models: dict[TinyFamily, LoadedModel],
):
    model = tiny_models["llama"]
    layout = HeadLayout.of(model.hf_model)
    targets = delta_targets(layout, HEADS, HEAD_ROLES)
    low = HeadDeltas(layout, targets, model.hf_model, lora=LowRank(rank=3))
    d_model = model.hf_model.config.hidden_size
    assert low.n_parameters() == len(HEADS) * 4 * 3 * (d_model + layout.d_head)
    assert all(not bool(delta.ne(0).any()) for delta in low.deltas)  # starts at the base
    too_big = layout.d_head + 1
    with pytest.raises(ValueError, match=rf"LoRA rank {too_big} is larger than .* d_head = "
                       rf"{layout.d_head}.*Fix --lora-rank"):  # fmt: skip
        HeadDeltas(layout, targets, model.hf_model, lora=LowRank(rank=too_big))
