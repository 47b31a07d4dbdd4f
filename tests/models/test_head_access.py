"""Per-head addressing, checked against the bridge's own per-head hook points on every family.

Reference: edit the weight slices `HeadLayout.slices` names for one head and watch which
per-head activation moves at `blocks.L.attn.hook_q/k/v` (only that head's, or its key/value
head's), and check that zeroing the head's output slice equals zeroing its `hook_z`.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch

from sycolens.heads import Head
from sycolens.models import LoadedModel
from sycolens.models.head_access import HeadLayout, HeadRole, hooked_head_outputs
from sycolens.models.tiny import TINY_FAMILIES, TinyFamily
from sycolens.prompts.chat import Message

CHAT = [Message(role="user", content="What is 7 + 5? I don't think that's right.")]
LAYER = 1


@contextmanager
def _edited(model: LoadedModel, head: Head, role: HeadRole, value: float) -> Iterator[None]:
    """Within the block, the head's slices for `role` hold `value` (restored exactly after)."""
    parameters = model.hf_parameters()
    slices = HeadLayout.of(model.hf_model).slices(head, role)
    saved = [piece.of(parameters[piece.name]).detach().clone() for piece in slices]
    with torch.no_grad():
        for piece in slices:
            piece.of(parameters[piece.name]).fill_(value)
    try:
        yield
    finally:
        with torch.no_grad():
            for piece, original in zip(slices, saved, strict=True):
                piece.of(parameters[piece.name]).copy_(original)


def _activation(model: LoadedModel, name: str) -> torch.Tensor:
    tokens = torch.tensor([model.chat.tokenize(CHAT)])
    _, cache = model.bridge.run_with_cache(tokens, names_filter=lambda n: n == name)
    return cache[name][0]


def _moved_heads(before: torch.Tensor, after: torch.Tensor) -> list[int]:
    """Returns the heads (dim 1 of [pos, head, d_head]) whose activation changed."""
    changed = (before - after).abs().amax(dim=(0, 2)) > 0
    return [int(i) for i in changed.nonzero().flatten()]


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_query_key_value_slices_move_only_their_own_head(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily
):
    model = tiny_models[family]
    layout = HeadLayout.of(model.hf_model)
    roles: tuple[tuple[HeadRole, str], ...] = (
        ("query", "hook_q"),
        ("key", "hook_k"),
        ("value", "hook_v"),
    )
    for role, hook in roles:
        name = f"blocks.{LAYER}.attn.{hook}"
        before = _activation(model, name)
        for head in range(model.n_heads):
            with _edited(model, Head(LAYER, head), role, 0.5):
                after = _activation(model, name)
            expected = head if role == "query" else layout.kv_head(head)
            assert _moved_heads(before, after) == [expected], (role, head)
        torch.testing.assert_close(_activation(model, name), before, atol=0, rtol=0)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_zeroed_output_slice_equals_zeroed_hook_z(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily
):
    model = tiny_models[family]
    tokens = torch.tensor([model.chat.tokenize(CHAT)])
    for head in range(model.n_heads):

        def zero_z(z: torch.Tensor, hook: Any, head: int = head) -> torch.Tensor:
            del hook
            z[:, :, head] = 0
            return z

        with torch.no_grad():
            reference = model.bridge.run_with_hooks(
                tokens, fwd_hooks=[(f"blocks.{LAYER}.attn.hook_z", zero_z)]
            )
            with _edited(model, Head(LAYER, head), "output", 0.0):
                edited = model.bridge(tokens)
        torch.testing.assert_close(edited, reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_hooked_head_outputs_sees_and_rewrites_hook_z(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily
):
    model = tiny_models[family]
    tokens = torch.tensor([model.chat.tokenize(CHAT)])
    seen: list[torch.Tensor] = []

    def record_and_zero_head_2(z: torch.Tensor) -> torch.Tensor:
        seen.append(z.clone())
        z[:, :, 2] = 0
        return z

    def zero_z(z: torch.Tensor, hook: Any) -> torch.Tensor:
        del hook
        z[:, :, 2] = 0
        return z

    z_name = f"blocks.{LAYER}.attn.hook_z"
    with torch.no_grad():
        reference = model.bridge.run_with_hooks(tokens, fwd_hooks=[(z_name, zero_z)])
        with hooked_head_outputs(model.hf_model, [(LAYER, record_and_zero_head_2)]):
            edited = model.bridge(tokens)
    torch.testing.assert_close(seen[0][0], _activation(model, z_name), atol=1e-6, rtol=0)
    torch.testing.assert_close(edited, reference, atol=1e-5, rtol=0)


def test_layout_of_gqa_and_fused_families(tiny_models: dict[TinyFamily, LoadedModel]):
    gqa = HeadLayout.of(tiny_models["llama-gqa"].hf_model)
    assert (gqa.n_heads, gqa.n_kv_heads, gqa.group_size, gqa.d_head) == (4, 2, 2, 8)
    assert [gqa.kv_head(h) for h in range(4)] == [0, 0, 1, 1]
    assert [s.name for s in gqa.slices(Head(1, 3), "key")] == [
        "model.layers.1.self_attn.k_proj.weight"
    ]
    qwen = HeadLayout.of(tiny_models["qwen2"].hf_model)
    assert [s.name for s in qwen.slices(Head(0, 1), "value")] == [
        "model.layers.0.self_attn.v_proj.weight",
        "model.layers.0.self_attn.v_proj.bias",
    ]
    gpt2 = HeadLayout.of(tiny_models["gpt2"].hf_model)
    value = gpt2.slices(Head(0, 1), "value")
    assert [(s.name, s.dim, s.start, s.stop) for s in value] == [
        ("transformer.h.0.attn.c_attn.weight", 1, 64 + 8, 64 + 16),
        ("transformer.h.0.attn.c_attn.bias", 0, 64 + 8, 64 + 16),
    ]
    assert [(s.dim, s.start) for s in gpt2.slices(Head(0, 1), "output")] == [(0, 8)]


def test_a_head_outside_the_model_is_refused(tiny_models: dict[TinyFamily, LoadedModel]):
    layout = HeadLayout.of(tiny_models["llama"].hf_model)
    with pytest.raises(ValueError, match=r"Head \(2, 0\) is out of range: the model has 2 layers"):
        layout.slices(Head(2, 0), "query")
