"""How a training run optimises: AdamW, warmup then cosine to a floor, accumulation, clipping.

Pure data with range checks. Pinpoint tuning, its full fine-tuning baseline and the model
organism all train through `sycolens.training.loop.train` with one of these.
"""

import math
from dataclasses import dataclass
from typing import Literal

AutocastDtype = Literal["bfloat16", "float16"]


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """Steps, learning-rate schedule, AdamW settings, accumulation, checkpoint cadence, and the
    dtype the forward is autocast to (None: the weights' own)."""

    steps: int
    learning_rate: float
    min_learning_rate: float = 0.0
    warmup_steps: int = 0
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    accumulation: int = 1
    max_grad_norm: float | None = 1.0
    checkpoint_every: int = 100
    autocast: AutocastDtype | None = None

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(
                f"steps must be >= 1, got {self.steps}: zero steps would write an untrained "
                "model. Fix --steps."
            )
        rates = (self.learning_rate, self.min_learning_rate)
        if (
            not all(math.isfinite(rate) for rate in rates)
            or not self.learning_rate > 0
            or not (0 <= self.min_learning_rate <= self.learning_rate)
        ):
            raise ValueError(
                f"Need 0 <= min_learning_rate ({self.min_learning_rate}) <= learning_rate "
                f"({self.learning_rate}), learning_rate > 0 and both finite. Fix the learning "
                "rates (--lr, --min-lr)."
            )
        if not 0 <= self.warmup_steps <= self.steps:
            raise ValueError(
                f"--warmup must be in [0, steps], got {self.warmup_steps} of {self.steps}. "
                "Fix --warmup."
            )
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(
                f"--weight-decay must be a finite number >= 0, got {self.weight_decay}. Fix "
                "--weight-decay."
            )
        for flag, value in (("--accumulation", self.accumulation),
                            ("--checkpoint-every", self.checkpoint_every)):  # fmt: skip
            if value < 1:
                raise ValueError(f"{flag} must be >= 1, got {value}. Fix {flag}.")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be > 0 or None, got {self.max_grad_norm}.")


def learning_rate_at(config: TrainingConfig, step: int) -> float:
    """Returns the learning rate of optimiser step `step` (0-based).

    Linear warmup over `warmup_steps` ((step + 1) / warmup of the peak), then a half cosine from
    the peak down to `min_learning_rate` at the last step.
    """
    peak, floor = config.learning_rate, config.min_learning_rate
    if step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))
