"""Total-effect activation patching of many heads per forward.

Head n's `z` takes its counterfactual value and everything downstream is recomputed (what
TransformerLens's patching utilities do, one forward per head). `positions="last"` patches the
answer position only and works for any pair: the copies re-run just the answer token against
the reference key/value cache (`sycolens.patching.answer_cache`), so `heads_per_forward` copies
cost that many tokens. `"all"` patches every position and needs equal-length pairs: a forward
carries `heads_per_forward` patched copies of the whole reference batch, stacked along the
batch, so an L*H sweep takes L*H / heads_per_forward forwards. When nothing is hooked into the
model those run through the plain network layer by layer, each copy joining at its head's
layer (below it, it would recompute the reference's activations) and only the last position's
label logits formed; otherwise every copy runs the whole bridge.
"""

from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from sycolens.heads import Head
from sycolens.models.forward import run_batch
from sycolens.models.head_access import HeadOutputHook, hooked_head_outputs
from sycolens.models.layer_calls import record_layer_calls
from sycolens.models.load import LoadedModel
from sycolens.models.plain import plain_network, runs_as_plain
from sycolens.patching.answer_cache import answer_total_logit_diffs, in_given_order, layer_order
from sycolens.patching.capture import capture_answer_activations, capture_every_layer, z_hook_name
from sycolens.patching.config import PatchPositions
from sycolens.patching.direct import label_logit_diff_from_normed
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
    if runs_as_plain(model):
        return _stepped_all_positions(
            model, pairs.reference, z_counterfactual, heads, labels, heads_per_forward
        )
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
            z[copy * n_rows : (copy + 1) * n_rows, :, head] = source[:, :, head].to(z.device)
        return z

    hooks = [(z_hook_name(layer), partial(patch, layer)) for layer in by_layer]
    logits = run_batch(model.bridge, stacked, hooks)[:, -1]
    return label_logit_diff(logits, labels).reshape(len(chunk), n_rows).T


def _stepped_all_positions(
    model: LoadedModel,
    reference: TokenBatch,
    z_counterfactual: dict[int, Tensor],
    heads: Sequence[Head],
    labels: LabelTokens,
    heads_per_forward: int,
) -> Float[Tensor, "batch n_patched"]:
    """Patches every position through the plain network, layer by layer: a copy joins the
    stack at its head's layer as a copy of the reference sequences there (block 0, run
    alongside), since below it it would only recompute them; only the last position's two
    label logits are formed."""
    network: Any = plain_network(model)
    layers = network.get_submodule(model.architecture.layers_path)
    final_norm = network.get_submodule(model.architecture.final_norm)
    order = layer_order(heads)
    ordered = [heads[i] for i in order]
    batch = reference.to(model.device)
    n_rows = batch.tokens.shape[0]
    columns: list[Tensor] = []
    with torch.no_grad():
        for start in range(0, len(ordered), heads_per_forward):
            chunk = ordered[start : start + heads_per_forward]
            stacked = batch.repeat(len(chunk) + 1)
            calls = record_layer_calls(
                layers,
                lambda stacked=stacked: network.base_model(
                    input_ids=stacked.tokens,
                    attention_mask=stacked.mask.long(),
                    position_ids=stacked.position_ids(),
                    use_cache=False,
                ),
            )
            hidden = calls[0].hidden_states[:n_rows]
            for layer, (module, call) in enumerate(zip(layers, calls, strict=True)):
                joining = [head.head for head in chunk if head.layer == layer]
                hook = _block_patch(layer, hidden.shape[0] // n_rows, joining, z_counterfactual)
                hidden = torch.cat([hidden, hidden[:n_rows].repeat(len(joining), 1, 1)])
                with hooked_head_outputs(network, [hook] if joining else []):
                    hidden = call.run_on_first_sequences(module, hidden)
            normed = final_norm(hidden[n_rows:, -1])
            diffs = label_logit_diff_from_normed(model, normed, labels)
            columns.append(diffs.reshape(len(chunk), n_rows).T)
    return in_given_order(torch.cat(columns, dim=1), order)


def _block_patch(
    layer: int, first_block: int, heads: list[int], z_counterfactual: dict[int, Tensor]
) -> tuple[int, HeadOutputHook]:
    """Returns the hook giving block first_block + k (one copy of every sequence) head
    heads[k]'s counterfactual z at every position."""
    source = z_counterfactual[layer]
    n_rows = source.shape[0]

    def patch(
        z: Float[Tensor, "stacked pos n_heads d_head"],
    ) -> Float[Tensor, "stacked pos n_heads d_head"]:
        for offset, head in enumerate(heads):
            block = slice((first_block + offset) * n_rows, (first_block + offset + 1) * n_rows)
            z[block, :, head] = source[:, :, head].to(z.dtype)
        return z

    return layer, patch
