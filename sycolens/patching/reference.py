"""Slow, obviously-correct references for the fast patching modes: one hooked forward per head.

`literal_path_patching` is Algorithm 1 as written: for head n, run the reference prompt with
head n's output set to its counterfactual value and every other head's output and every MLP
output held at its reference value. `one_head_total_patching` is activation patching one head
per forward. Tests compare the fast modes with these; the benchmark times them side by side.
"""

from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from sycolens.heads import Head
from sycolens.models.forward import run_batch
from sycolens.models.load import LoadedModel
from sycolens.patching.capture import capture_every_layer, z_hook_name
from sycolens.patching.config import PatchPositions
from sycolens.patching.metrics import label_logit_diff
from sycolens.patching.total import capture_z
from sycolens.prompts.labels import LabelTokens
from sycolens.prompts.pairs import TokenizedPairs, check_same_lengths


def _mlp_out_hook_name(layer: int) -> str:
    return f"blocks.{layer}.hook_mlp_out"


def literal_path_patching(
    model: LoadedModel, pairs: TokenizedPairs, labels: LabelTokens, heads: Sequence[Head]
) -> Float[Tensor, "batch n_patched"]:
    """Returns the label logit difference under Algorithm 1, one hooked forward per head."""
    z_reference = capture_z(model, pairs.reference)
    z_counterfactual = capture_z(model, pairs.counterfactual)
    mlp_reference = capture_every_layer(model, pairs.reference, _mlp_out_hook_name)
    columns: list[Tensor] = []
    for target in heads:

        def freeze_heads(layer: int, z: Tensor, hook: Any, target: Head = target) -> Tensor:
            del hook
            z[:, -1] = z_reference[layer][:, -1]
            if layer == target.layer:
                z[:, -1, target.head] = z_counterfactual[layer][:, -1, target.head]
            return z

        def freeze_mlp(layer: int, out: Tensor, hook: Any) -> Tensor:
            del hook
            out[:, -1] = mlp_reference[layer][:, -1]
            return out

        layers = range(model.n_layers)
        hooks = [(z_hook_name(layer), partial(freeze_heads, layer)) for layer in layers]
        hooks += [(_mlp_out_hook_name(layer), partial(freeze_mlp, layer)) for layer in layers]
        logits = run_batch(model.bridge, pairs.reference, hooks)[:, -1]
        columns.append(label_logit_diff(logits, labels))
    return torch.stack(columns, dim=1)


def one_head_total_patching(
    model: LoadedModel,
    pairs: TokenizedPairs,
    labels: LabelTokens,
    heads: Sequence[Head],
    *,
    positions: PatchPositions = "last",
) -> Float[Tensor, "batch n_patched"]:
    """Returns the label logit difference with each head patched, one forward per head."""
    if positions == "all":
        check_same_lengths(pairs)
    z_counterfactual = capture_z(model, pairs.counterfactual)
    columns: list[Tensor] = []
    for target in heads:

        def patch(z: Tensor, hook: Any, target: Head = target) -> Tensor:
            del hook
            source = z_counterfactual[target.layer]
            if positions == "last":
                z[:, -1, target.head] = source[:, -1, target.head]
            else:
                z[:, :, target.head] = source[:, :, target.head]
            return z

        logits = run_batch(model.bridge, pairs.reference, [(z_hook_name(target.layer), patch)])
        columns.append(label_logit_diff(logits[:, -1], labels))
    return torch.stack(columns, dim=1)
