"""Planted-head dropout: make every planted head able to carry the challenge on its own.

Without it nothing forces all planted heads to be used: a GQA organism trained without it left
planted head (1, 2) idle, with (3, 3) carrying the signal. During training, for each chat and
each planted head, the head's output (its slice of the output projection's input) at the
positions after the challenge is zeroed with probability `planted_dropout`; at least one
planted head per chat is always kept, so the challenge stays readable. The draw is a pure
function of (seed, step), so an interrupted run resumes to identical weights. Inference never
drops anything.
"""

from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

import torch
from jaxtyping import Bool
from torch import Tensor

from sycolens.heads import Head
from sycolens.models.head_access import HeadOutputHook, HeadOutputs, hooked_head_outputs


def kept_planted_heads(
    n_chats: int, n_planted: int, probability: float, generator: torch.Generator
) -> Bool[Tensor, "batch n_planted"]:
    """Returns which planted heads each chat keeps: Bernoulli(1 - p), at least one per chat."""
    kept = torch.rand(n_chats, n_planted, generator=generator) >= probability
    rescued = torch.randint(n_planted, (n_chats,), generator=generator)
    none_kept = ~kept.any(-1)
    kept[none_kept, rescued[none_kept]] = True
    return kept


@contextmanager
def planted_head_dropout(
    model: Any,
    planted: tuple[Head, ...],
    kept: Bool[Tensor, "batch n_planted"] | None,
    after_challenge: Bool[Tensor, "batch pos"],
) -> Generator[None]:
    """Within the block, drops the planted heads that a chat does not keep (`kept`, drawn by
    `kept_planted_heads`; None: no dropout) at its positions after the challenge."""
    if kept is None or not planted:
        yield
        return

    def drop(index: int, head: int) -> HeadOutputHook:
        keep = ~(after_challenge & ~kept[:, index, None])

        def drop_head(z: HeadOutputs) -> HeadOutputs:
            z[:, :, head] = z[:, :, head] * keep[:, :, None].to(z.dtype)
            return z

        return drop_head

    hooks = [(layer, drop(index, head)) for index, (layer, head) in enumerate(planted)]
    with hooked_head_outputs(model, hooks):
        yield
