"""Mixed precision for the training loop: autocast of the forward, loss scaling for float16.

The trained tensors stay in their own dtype (fp32 deltas, or the model's weights) and AdamW
updates them there; only the forward runs in `bfloat16` or `float16` under `torch.autocast`.
float16's narrow range underflows small gradients, so its loss is scaled by a `GradScaler`
(unscaled before clipping, steps with non-finite gradients skipped); its state is part of a
checkpoint, so a resumed float16 run takes the same steps as an uninterrupted one. Under FSDP
the gradients are DTensors: their norm and the scaler's overflow check cover every shard.
"""

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import Tensor
from torch.distributed.tensor import DTensor

from sycolens.training.config import AutocastDtype


class NonFiniteError(FloatingPointError):
    """A loss or gradient that is NaN or infinite, caught before it reaches the weights."""


class MixedPrecision:
    """Autocast for the forward and, under float16, loss scaling for the backward and step."""

    def __init__(self, dtype: AutocastDtype | None, device_type: str) -> None:
        self.dtype = dtype
        self.device_type = device_type
        self.scaler = torch.amp.GradScaler(device_type, enabled=dtype == "float16")

    def forward_context(self) -> AbstractContextManager[Any]:
        """Returns the context the forward runs in: autocast to `dtype`, or nothing."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=getattr(torch, self.dtype))

    def backward(self, loss: Tensor) -> None:
        self.scaler.scale(loss).backward()

    def step(
        self,
        optimizer: torch.optim.Optimizer,
        trainable: Sequence[Tensor],
        max_grad_norm: float | None,
    ) -> None:
        """Unscales the gradients, clips their norm, steps. Under float16 a step with
        non-finite gradients is skipped (the loss scale shrinks); otherwise such gradients are
        an error, raised before the step, so no trained tensor takes a NaN. Sharded (FSDP)
        gradients' norm is taken over every process's shards."""
        self.scaler.unscale_(optimizer)
        norm = torch.nn.utils.get_total_norm([t.grad for t in trainable if t.grad is not None])
        if isinstance(norm, DTensor):
            norm = norm.full_tensor()
        if not self.scaler.is_enabled() and not torch.isfinite(norm):
            raise NonFiniteError(f"the gradient norm is {norm.item()}")
        if max_grad_norm is not None:
            torch.nn.utils.clip_grads_with_norm_(trainable, max_grad_norm, norm)
        self.scaler.step(optimizer)
        self.scaler.update()

    def check_loss(self, loss: Tensor) -> None:
        """Raises on a non-finite loss, except under float16 loss scaling, which skips the
        step its gradients would take."""
        if not self.scaler.is_enabled() and not torch.isfinite(loss.detach()).all():
            raise NonFiniteError(f"the loss is {loss.detach().float().mean().item()}")

    @property
    def loss_scale(self) -> float | None:
        """The float16 loss scale the next backward uses (None without scaling)."""
        return self.scaler.get_scale() if self.scaler.is_enabled() else None
