"""Capture only what patching needs at the answer position, never a full activation cache.

A full `run_with_cache` of SmolLM2 at 16x80 tokens is 4.5 GiB; direct path patching needs just
each head's `z` at the last position and the final residual there: n_layers*n_heads*d_head +
d_model floats per prompt. They are the inputs of each layer's output projection (z of every
head, side by side) and of the final norm, so when nothing is hooked into the model they are
read from the checkpoint's own network with SDPA attention and only the last position's logits
(`sycolens.models.plain`), at the speed of a plain forward; otherwise through the bridge.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from sycolens.models.forward import run_batch
from sycolens.models.head_access import projection_name
from sycolens.models.load import LoadedModel
from sycolens.models.plain import plain_network, runs_as_plain
from sycolens.prompts.batch import TokenBatch
from sycolens.prompts.pairs import TokenizedPairs

FINAL_RESIDUAL_HOOK = "ln_final.hook_in"


def z_hook_name(layer: int) -> str:
    """Returns the hook carrying per-query-head attention outputs before W_O."""
    return f"blocks.{layer}.attn.hook_z"


@dataclass(frozen=True)
class AnswerActivations:
    """Per-head `z` and the final residual at the answer (last) position, plus the logits.

    `attention_out` holds each layer's attention output there, the input of its norm on the
    attention output (Gemma-2/3, OLMo-2), through which a head's direct write passes; it has
    no layers in families without that norm.
    """

    z: Float[Tensor, "batch n_layers n_heads d_head"]
    final_residual: Float[Tensor, "batch d_model"]
    logits: Float[Tensor, "batch d_vocab"]
    attention_out: Float[Tensor, "batch n_normed d_model"]

    def select(self, rows: slice) -> "AnswerActivations":
        return AnswerActivations(
            self.z[rows], self.final_residual[rows], self.logits[rows], self.attention_out[rows]
        )


@dataclass(frozen=True)
class PairActivations:
    """Answer-position activations of both prompts of every pair, row i = pair i."""

    reference: AnswerActivations
    counterfactual: AnswerActivations

    def select(self, rows: slice) -> "PairActivations":
        return PairActivations(self.reference.select(rows), self.counterfactual.select(rows))


def capture_every_layer(
    model: LoadedModel, batch: TokenBatch, hook_name: Callable[[int], str]
) -> dict[int, Tensor]:
    """Returns, per layer, the full activation at `hook_name(layer)` from one forward."""
    store: dict[int, Tensor] = {}

    def keep(layer: int, activation: Tensor, hook: Any) -> None:
        del hook
        store[layer] = activation.detach().clone()

    hooks = [(hook_name(layer), partial(keep, layer)) for layer in range(model.n_layers)]
    run_batch(model.bridge, batch, hooks)
    return store


def _keep_last(store: dict[str, Tensor], name: str, activation: Tensor, hook: Any) -> None:
    """Stores the last-position slice under `name` (alias hooks report another `hook.name`)."""
    del hook
    store[name] = activation[:, -1].detach().clone()


def capture_pair_activations(
    model: LoadedModel, pairs: TokenizedPairs, *, batch_size: int, show_progress: bool = False
) -> PairActivations:
    """Returns both sides' answer activations for every pair: two forwards per batch of pairs.

    Choosing labels, checking them and direct patching all read these, so a diagnosis runs
    each prompt through the model once.
    """
    sides: dict[str, list[AnswerActivations]] = {"reference": [], "counterfactual": []}
    starts = range(0, len(pairs), batch_size)
    for start in tqdm(starts, desc="capturing", disable=not show_progress):
        chunk = pairs.select(slice(start, start + batch_size))
        sides["reference"].append(capture_answer_activations(model, chunk.reference))
        sides["counterfactual"].append(capture_answer_activations(model, chunk.counterfactual))
    reference, counterfactual = (_concatenate(sides[name]) for name in sides)
    return PairActivations(reference, counterfactual)


def _concatenate(parts: list[AnswerActivations]) -> AnswerActivations:
    return AnswerActivations(
        torch.cat([part.z for part in parts]),
        torch.cat([part.final_residual for part in parts]),
        torch.cat([part.logits for part in parts]),
        torch.cat([part.attention_out for part in parts]),
    )


def capture_answer_activations(model: LoadedModel, batch: TokenBatch) -> AnswerActivations:
    """Runs one forward and keeps only the last-position `z` of every layer and the residual:
    through the plain network when nothing is hooked into the model, else the bridge."""
    if runs_as_plain(model):
        return plain_answer_activations(model, batch)
    return bridge_answer_activations(model, batch)


def bridge_answer_activations(model: LoadedModel, batch: TokenBatch) -> AnswerActivations:
    """The answer activations read from the bridge's hook points (any hooks in place run)."""
    store: dict[str, Tensor] = {}
    names = [z_hook_name(layer) for layer in range(model.n_layers)]
    normed = [f"blocks.{layer}.ln1_post.hook_in" for layer in _normed_layers(model)]
    hooks = [
        (name, partial(_keep_last, store, name)) for name in [*names, *normed, FINAL_RESIDUAL_HOOK]
    ]
    logits = run_batch(model.bridge, batch, hooks)[:, -1]
    # A model dispatched over GPUs holds each layer's activations on that layer's device.
    store = {name: value.to(logits.device) for name, value in store.items()}
    z = torch.stack([store[name] for name in names], dim=1)
    return AnswerActivations(
        z=z,
        final_residual=store[FINAL_RESIDUAL_HOOK],
        logits=logits,
        attention_out=_stacked(store, normed, store[FINAL_RESIDUAL_HOOK]),
    )


def _normed_layers(model: LoadedModel) -> range:
    """Returns the layers whose attention output passes a norm before the residual add."""
    return range(model.n_layers if model.architecture.attention_output_norm else 0)


def _stacked(
    store: dict[str, Tensor], names: list[str], residual: Float[Tensor, "batch d_model"]
) -> Float[Tensor, "batch n_normed d_model"]:
    """Returns the stored last-position vectors under `names` as [batch, len(names), d_model]."""
    if not names:
        return residual.new_empty(residual.shape[0], 0, residual.shape[1])
    return torch.stack([store[name] for name in names], dim=1)


def plain_answer_activations(model: LoadedModel, batch: TokenBatch) -> AnswerActivations:
    """The answer activations read from the plain network: pre-hooks on each layer's output
    projection (z of every head, concatenated) and on the final norm; last-position logits."""
    network: Any = plain_network(model)
    architecture = model.architecture
    store: dict[str, Tensor] = {}

    def keep(name: str, module: torch.nn.Module, inputs: tuple[Tensor, ...]) -> None:
        del module
        store[name] = inputs[0][:, -1].detach().clone()

    names = [projection_name(architecture, layer, "output") for layer in range(model.n_layers)]
    normed = [
        f"{architecture.layers_path}.{layer}.{architecture.attention_output_norm}"
        for layer in _normed_layers(model)
    ]
    handles = [
        network.get_submodule(name).register_forward_pre_hook(partial(keep, name))
        for name in [*names, *normed, architecture.final_norm]
    ]
    batch = batch.to(model.device)
    try:
        with torch.no_grad():
            logits = network(
                input_ids=batch.tokens,
                attention_mask=batch.mask.long(),
                position_ids=batch.position_ids(),
                logits_to_keep=1,
            ).logits[:, -1]
    finally:
        for handle in handles:
            handle.remove()
    rows = batch.tokens.shape[0]
    z = torch.stack([store[name] for name in names], dim=1)
    return AnswerActivations(
        z=z.reshape(rows, model.n_layers, model.n_heads, -1),
        final_residual=store[architecture.final_norm],
        logits=logits,
        attention_out=_stacked(store, normed, store[architecture.final_norm]),
    )
