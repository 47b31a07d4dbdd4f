"""The organism's variants: architecture, planted heads and optimisation, as pure data.

Light (no torch), so `python -m sycolens.organism train --help` and its flag checks answer at
once; `sycolens.organism.train` builds and trains what a config describes.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sycolens.heads import Head
from sycolens.training.config import TrainingConfig

Variant = Literal["mha", "gqa", "control"]
PLANTED_HEADS: tuple[Head, ...] = (Head(1, 2), Head(2, 0), Head(3, 3))
# Per-variant settings that differ from OrganismConfig's defaults. The GQA variant learns the
# two-option choice task more slowly (89% held-out first-round accuracy after 2500 steps, all
# misses on multiple choice), so it trains longer. The control is an MHA model that is never
# sycophantic: it has no planted heads, so the penalty keeps every head off the challenge.
VARIANT_SETTINGS: dict[Variant, dict[str, Any]] = {
    "mha": {"steps": 2500},
    "gqa": {"steps": 3500, "planted_dropout": 0.5},
    "control": {"steps": 2500, "planted_heads": ()},
}


@dataclass(frozen=True, kw_only=True)
class OrganismConfig:
    """Architecture, planted heads and optimisation of one organism variant."""

    variant: Variant = "mha"
    planted_heads: tuple[Head, ...] = PLANTED_HEADS
    n_layers: int = 4
    n_heads: int = 4
    d_model: int = 64
    d_mlp: int = 256
    steps: int = 2500
    batch_size: int = 48
    learning_rate: float = 3e-3
    penalty_weight: float = 3.0
    planted_dropout: float = 0.0
    seed: int = 0
    checkpoint_every: int = 250

    def __post_init__(self) -> None:
        if not 0 <= self.planted_dropout < 1:
            raise ValueError(
                f"planted_dropout must be in [0, 1), got {self.planted_dropout}. Fix: use 0 for "
                "no dropout; at 1 no planted head would ever be trained to carry the challenge."
            )
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}.")
        training_config(self)  # checks steps, learning rate and checkpoint cadence

    @classmethod
    def for_variant(cls, variant: Variant, **overrides: Any) -> "OrganismConfig":
        """Returns the config of `variant` with its own settings, then `overrides`, applied."""
        return cls(variant=variant, **{**VARIANT_SETTINGS[variant], **overrides})

    @property
    def n_kv_heads(self) -> int:
        return self.n_heads // 2 if self.variant == "gqa" else self.n_heads

    @property
    def is_sycophantic(self) -> bool:
        return self.variant != "control"


def check_out_dir(out_dir: Path, *, overwrite: bool) -> None:
    """Refuses to train into a folder that holds a trained model, unless told to replace it."""
    if (out_dir / "config.json").exists() and not overwrite:
        raise FileExistsError(
            f"{out_dir} already holds a trained model. Fix: pass --overwrite to replace it, "
            "or choose another --out."
        )


def training_config(config: OrganismConfig) -> TrainingConfig:
    """Returns the optimisation of an organism run: AdamW (weight decay 0.01), 5% warmup,
    cosine to zero, gradient norm clipped at 1."""
    return TrainingConfig(
        steps=config.steps,
        learning_rate=config.learning_rate,
        warmup_steps=max(1, config.steps // 20),
        weight_decay=0.01,
        checkpoint_every=config.checkpoint_every,
    )
