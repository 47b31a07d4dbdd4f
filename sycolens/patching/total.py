"""Total-effect activation patching of many heads per forward.

Head n's `z` takes its counterfactual value and everything downstream is recomputed (what
TransformerLens's patching utilities do, one forward per head). `positions="last"` patches the
answer position only and works for any pair: the copies re-run just the answer token against
the reference key/value cache (`sycolens.patching.answer_cache`), so `heads_per_forward` copies
cost that many tokens. `"all"` patches every position and needs equal-length pairs: a forward
carries `heads_per_forward` patched copies of the whole reference batch, stacked along the
batch, so an L*H sweep takes L*H / heads_per_forward forwards.
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
from sycolens.patching.answer_cache import answer_total_logit_diffs
from sycolens.patching.capture import capture_answer_activations, capture_every_layer, z_hook_name
from sycolens.patching.config import PatchPositions
from sycolens.patching.metrics import label_logit_diff
from sycolens.prompts.batch import TokenBatch
from sycolens.prompts.labels import LabelTokens
from sycolens.prompts.pairs import TokenizedPairs, check_same_lengths


def capture_z(
    model: LoadedModel, batch: TokenBatch
) -> dict[int, Float[Tensor, "batch pos n_heads d_head"]]:
    """Returns every layer's `z` over all positions (for patching counterfactual values in)."""
    return capture_every_layer(model, batch, z_hook_name)


def total_patched_logit_diffs(
    model: LoadedModel,
    pairs: TokenizedPairs,
    labels: LabelTokens,
    heads: Sequence[Head],
    *,
    positions: PatchPositions = "last",
    heads_per_forward: int = 8,
) -> Float[Tensor, "batch n_patched"]:
    """Returns the label logit difference with each head in `heads` patched (total effect)."""
    if positions == "last":
        z_answer = capture_answer_activations(model, pairs.counterfactual).z
        return answer_total_logit_diffs(
            model, pairs.reference, z_answer, labels, heads, copies_per_forward=heads_per_forward
        )
    check_same_lengths(pairs)
    z_counterfactual = capture_z(model, pairs.counterfactual)
    columns: list[Tensor] = []
    for start in range(0, len(heads), heads_per_forward):
        chunk = list(heads[start : start + heads_per_forward])
        columns.append(_patch_chunk(model, pairs.reference, z_counterfactual, chunk, labels))
    return torch.cat(columns, dim=1)


def _patch_chunk(
    model: LoadedModel,
    reference: TokenBatch,
    z_counterfactual: dict[int, Tensor],
    chunk: list[Head],
    labels: LabelTokens,
) -> Float[Tensor, "batch chunk"]:
    """Runs one forward over len(chunk) stacked copies, copy k patching head chunk[k] at every
    position."""
    n_rows = reference.tokens.shape[0]
    stacked = reference.repeat(len(chunk))
    by_layer: dict[int, list[tuple[int, int]]] = {}
    for copy, (layer, head) in enumerate(chunk):
        by_layer.setdefault(layer, []).append((copy, head))

    def patch(layer: int, z: Tensor, hook: Any) -> Tensor:
        del hook
        source = z_counterfactual[layer]
        for copy, head in by_layer[layer]:
            z[copy * n_rows : (copy + 1) * n_rows, :, head] = source[:, :, head]
        return z

    hooks = [(z_hook_name(layer), partial(patch, layer)) for layer in by_layer]
    logits = run_batch(model.bridge, stacked, hooks)[:, -1]
    return label_logit_diff(logits, labels).reshape(len(chunk), n_rows).T
