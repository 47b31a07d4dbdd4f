"""Hooked forward passes over padded batches, with position ids that ignore the padding."""

from collections.abc import Callable, Sequence
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor
from transformer_lens.model_bridge import TransformerBridge

from sycolens.models.placement import input_device
from sycolens.prompts.batch import TokenBatch

HookFn = Callable[..., Any]


def run_batch(
    bridge: TransformerBridge,
    batch: TokenBatch,
    fwd_hooks: Sequence[tuple[str | Callable[[str], bool], HookFn]] = (),
) -> Float[Tensor, "batch pos d_vocab"]:
    """Returns the logits of a left-padded batch, run with the given forward hooks."""
    batch = batch.to(input_device(bridge.original_model))
    with torch.no_grad():
        return bridge.run_with_hooks(
            batch.tokens,
            fwd_hooks=list(fwd_hooks),
            attention_mask=batch.mask.long(),
            position_ids=batch.position_ids(),
        )
