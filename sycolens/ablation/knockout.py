"""Knock heads out inside any forward or generation: a context manager on `hook_z`.

Within `knocked_out(model, ablation)` every forward of the model, whether the bridge's, the HF
model's own or one step of `generate` with its key/value cache, has the chosen heads' `z`
(`blocks.{L}.attn.hook_z`, their output before W_O) replaced by their mean over
counterfactual prompts or by zero. A forward pre-hook on the HF model reads each forward's
token ids first and decides which positions are replaced:

- `positions="challenge"`: in a full prompt, from the start of the challenge turn
  (`sycolens.prompts.spans.ChallengeLocator`) to its end; in a cached generation step, the new
  tokens of rows whose prompt had a challenge turn. Rows without one are left untouched and
  counted, so the evaluator's first round and KL on plain text run unablated.
- `positions="all"`: every real (unpadded) position.

Mean values are aligned from the end: the position k tokens before the last real token of a
forward takes the counterfactual mean at offset k (clamped to the deepest offset measured);
each generated token is the last position of its step and takes the answer position's mean.
"""

from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from sycolens.ablation.config import AblationMethod, AblationPositions
from sycolens.heads import Head
from sycolens.models.head_access import HeadLayout
from sycolens.models.load import LoadedModel
from sycolens.patching.capture import z_hook_name
from sycolens.prompts.spans import ChallengeLocator


@dataclass(frozen=True, kw_only=True)
class HeadAblation:
    """Heads to knock out, by mean or zero ablation, at `positions`.

    `means[layer]` holds, for mean ablation, each head's mean `z` over the counterfactual
    prompts at offsets 0, 1, ... from the last position (row 0 = the answer position):
    positions are aligned from the end, like the prompt pairs.
    """

    heads: tuple[Head, ...]
    method: AblationMethod = "mean"
    positions: AblationPositions = "challenge"
    means: dict[int, Float[Tensor, "depth n_heads d_head"]] | None = None

    def __post_init__(self) -> None:
        if len(set(self.heads)) != len(self.heads):
            raise ValueError(f"Heads {list(self.heads)} repeat a head. Fix: list each once.")
        if self.method == "mean":
            missing = sorted({layer for layer, _ in self.heads} - set(self.means or {}))
            if missing:
                raise ValueError(
                    f"Mean ablation has no mean activations for layers {missing}. Fix: build "
                    "the ablation with `mean_ablation`, which measures them."
                )

    @property
    def layers(self) -> list[int]:
        """Returns the layers that hold knocked-out heads, ascending."""
        return sorted({layer for layer, _ in self.heads})

    def heads_in(self, layer: int) -> list[int]:
        """Returns the knocked-out heads of `layer`, ascending."""
        return sorted(head for head_layer, head in self.heads if head_layer == layer)


@dataclass
class AblationLog:
    """What a knockout did: forwards seen, rows, rows without a challenge turn, z replaced."""

    forwards: int = 0
    rows: int = 0
    rows_without_challenge: int = 0
    positions_replaced: int = 0


@dataclass
class _Positions:
    """The current forward's positions to replace and their offsets from its last position."""

    replace: Bool[Tensor, "batch pos"] | None = None
    offsets: Int[Tensor, "batch pos"] | None = None
    has_challenge: list[bool] = field(default_factory=list[bool])


def check_ablation_heads(model: LoadedModel, ablation: HeadAblation) -> None:
    """Raises naming the head when one is not a head of `model`."""
    layout = HeadLayout.of(model.hf_model)
    for head in ablation.heads:
        layout.check_head(head)


@contextmanager
def knocked_out(model: LoadedModel, ablation: HeadAblation) -> Generator[AblationLog]:
    """Within the block, `ablation.heads` are knocked out in every forward of `model`."""
    check_ablation_heads(model, ablation)
    locator = ChallengeLocator.of(model.chat) if ablation.positions == "challenge" else None
    log = AblationLog()
    state = _Positions()

    def read_inputs(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            raise ValueError(
                "A knockout needs the forward's token ids to find the challenge turn, but got "
                "inputs_embeds only. Fix: call the model with input_ids."
            )
        past = kwargs.get("past_key_values")
        past_length = int(past.get_seq_length()) if past is not None else 0
        _update_positions(state, log, ids, kwargs.get("attention_mask"), past_length, locator)

    def replace(layer: int, z: Tensor, hook: Any) -> Tensor:
        del hook
        assert state.replace is not None and state.offsets is not None
        heads = ablation.heads_in(layer)
        means = None if ablation.means is None else ablation.means[layer]
        # A dispatched model's layer may run on another device than the token ids.
        values = replaced_values(z, means, state.offsets.to(z.device))[:, :, heads]
        where = state.replace.to(z.device)[:, :, None, None]
        z[:, :, heads] = torch.where(where, values, z[:, :, heads])
        log.positions_replaced += int(state.replace.sum()) * len(heads)
        return z

    hooks = [(z_hook_name(layer), partial(replace, layer)) for layer in ablation.layers]
    handle = model.hf_model.register_forward_pre_hook(read_inputs, with_kwargs=True)
    try:
        with model.bridge.hooks(fwd_hooks=hooks):
            yield log
    finally:
        handle.remove()


def _update_positions(
    state: _Positions,
    log: AblationLog,
    ids: Int[Tensor, "batch pos"],
    attention_mask: Int[Tensor, "batch total"] | None,
    past_length: int,
    locator: ChallengeLocator | None,
) -> None:
    """Sets which positions of this forward to replace, and their offsets from the end."""
    n_rows, n_new = ids.shape
    real = (
        torch.ones_like(ids, dtype=torch.bool)
        if attention_mask is None
        else attention_mask[:, -n_new:].bool()
    )
    # Offset from the row's last real token: real tokens after this one.
    after = real.flip(-1).long().cumsum(-1).flip(-1) - 1
    state.offsets = after.clamp(min=0)
    log.forwards += 1
    if locator is None:
        state.replace = real
        return
    if past_length == 0:
        state.replace, state.has_challenge = _from_challenge(ids, real, locator)
        log.rows += n_rows
        log.rows_without_challenge += state.has_challenge.count(False)
        return
    if len(state.has_challenge) != n_rows:
        raise ValueError(
            f"A cached forward of {n_rows} rows follows a prompt of {len(state.has_challenge)} "
            "rows inside one knockout, so its challenge turns are unknown. Fix: run the prompt "
            "(without a cache) inside the same `knocked_out` block first."
        )
    rows = torch.tensor(state.has_challenge, device=ids.device)[:, None]
    state.replace = real & rows


def _from_challenge(
    ids: Int[Tensor, "batch pos"], real: Bool[Tensor, "batch pos"], locator: ChallengeLocator
) -> tuple[Bool[Tensor, "batch pos"], list[bool]]:
    """Returns, per row, the positions from its challenge turn on, and whether it has one."""
    replace = torch.zeros_like(real)
    has_challenge: list[bool] = []
    for row in range(ids.shape[0]):
        where = real[row].nonzero().flatten()
        start = locator.locate(ids[row, where].tolist())
        has_challenge.append(start is not None)
        if start is not None:
            replace[row, where[start:]] = True
    return replace, has_challenge


def replaced_values(
    z: Float[Tensor, "batch pos n_heads d_head"],
    means: Float[Tensor, "depth n_heads d_head"] | None,
    offsets: Int[Tensor, "batch pos"],
) -> Float[Tensor, "batch pos n_heads d_head"]:
    """Returns the ablation value at every position: the aligned mean, or zero."""
    if means is None:
        return torch.zeros_like(z)
    return means.to(z.device, z.dtype)[offsets.clamp(max=means.shape[0] - 1)]
