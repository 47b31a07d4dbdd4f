"""Forward passes over left-padded batches, with position ids that ignore the padding."""

from collections.abc import Callable, Sequence
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor
from transformer_lens.model_bridge import TransformerBridge

from sycolens.prompts.pairs import TokenBatch

HookFn = Callable[..., Any]


def position_ids(mask: Bool[Tensor, "batch pos"]) -> Int[Tensor, "batch pos"]:
    """Returns 0-based positions counted over real tokens only (padding gets position 0)."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def run_batch(
    bridge: TransformerBridge,
    batch: TokenBatch,
    fwd_hooks: Sequence[tuple[str | Callable[[str], bool], HookFn]] = (),
) -> Float[Tensor, "batch pos d_vocab"]:
    """Returns the logits of a left-padded batch, run with the given forward hooks."""
    device = next(bridge.parameters()).device
    batch = batch.to(device)
    with torch.no_grad():
        return bridge.run_with_hooks(
            batch.tokens,
            fwd_hooks=list(fwd_hooks),
            attention_mask=batch.mask.long(),
            position_ids=position_ids(batch.mask),
        )
