"""SPT through the plain SDPA network: the same loss and delta gradients as through the bridge."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from sycolens.heads import Head
from sycolens.models import LoadedModel
from sycolens.models.head_access import HEAD_ROLES, HeadLayout
from sycolens.models.plain import plain_network
from sycolens.models.tiny import TinyFamily
from sycolens.prompts.chat import Message
from sycolens.tuning.head_deltas import HeadDeltas, delta_targets
from sycolens.tuning.run import training_network

HEADS = (Head(0, 1), Head(1, 0))
CHATS = [
    [Message(role="user", content="What is 7 + 5?"), Message(role="assistant", content="12.")],
    [
        Message(role="user", content="Capital of France?"),
        Message(role="assistant", content="Paris"),
    ],
]


def _delta_gradients(
    model: LoadedModel, network: Any, deltas: HeadDeltas
) -> tuple[float, list[torch.Tensor]]:
    """Returns the next-token loss over two chats and every delta's gradient, via `network`."""
    rows = [model.chat.tokenize(chat) for chat in CHATS]
    width = max(len(row) for row in rows)
    # Right-padded, as `sycolens.tuning.batches.collate` pads training batches.
    tokens = torch.tensor([row + [model.pad_token_id] * (width - len(row)) for row in rows])
    mask = tokens != model.pad_token_id
    for delta in deltas.deltas:
        delta.grad = None
    with deltas.applied(network) as calls:
        logits = network(input_ids=tokens, attention_mask=mask.long(), use_cache=False).logits
        targets = tokens[:, 1:].masked_fill(~mask[:, 1:], -100)  # no loss on the padding
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].flatten(0, 1).float(), targets.flatten(), ignore_index=-100
        )
        loss.backward()
    assert all(calls.values())
    return float(loss.detach()), [
        torch.clone(delta.grad) for delta in deltas.deltas if delta.grad is not None
    ]


@pytest.mark.parametrize("family", ["llama", "llama-gqa", "gpt2"])
def test_delta_gradients_through_the_plain_network_equal_the_bridges(
    tiny_checkpoints: dict[TinyFamily, Path],
    fresh_model: Callable[..., LoadedModel],
    family: TinyFamily,
):
    model = fresh_model(str(tiny_checkpoints[family]))  # a copy no other test has touched
    layout = HeadLayout.of(model.hf_model)
    roles = ("query", "output") if layout.group_size > 1 else HEAD_ROLES
    deltas = HeadDeltas(layout, delta_targets(layout, HEADS, roles), model.hf_model)
    with torch.no_grad():
        for delta in deltas.deltas:
            delta.normal_(std=0.05)
    plain = training_network(model, deltas, None)
    assert plain is plain_network(model) and plain is not model.hf_model
    for parameter in plain.parameters():
        parameter.requires_grad_(False)
    try:
        plain_loss, plain_grads = _delta_gradients(model, plain, deltas)
    finally:
        for parameter in plain.parameters():
            parameter.requires_grad_(True)
    bridge_loss, bridge_grads = _delta_gradients(model, model.hf_model, deltas)
    assert plain_loss == pytest.approx(bridge_loss, abs=1e-5)
    for plain_grad, bridge_grad in zip(plain_grads, bridge_grads, strict=True):
        torch.testing.assert_close(plain_grad, bridge_grad, atol=1e-5, rtol=1e-4)


def test_a_hook_in_the_model_keeps_training_on_the_bridge(
    fresh_model: Callable[..., LoadedModel],
):
    model = fresh_model("organism-mha")
    layout = HeadLayout.of(model.hf_model)
    deltas = HeadDeltas(layout, delta_targets(layout, HEADS, HEAD_ROLES), model.hf_model)
    assert training_network(model, None, None) is model.hf_model  # SFT
    assert training_network(model, deltas, None) is not model.hf_model
    first_layer = model.hf_model.get_submodule("model.layers.0")
    handle = first_layer.register_forward_hook(lambda *_: None)  # a user's hook
    try:
        assert training_network(model, deltas, None) is model.hf_model
    finally:
        handle.remove()
