"""What one pipeline run does: which models (parts), how big each step is, where it writes.

Pure data with checks (no torch import). A part is one model walked through every step; the
sizes are each step's CLI flags, so the report can print the exact command of every step.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

PartName = Literal["organism", "smollm2"]
PART_NAMES: tuple[PartName, ...] = ("organism", "smollm2")


@dataclass(frozen=True, kw_only=True)
class StepSizes:
    """How big each step is: pairs to rank on, knockouts, attention prompts, tuning, evaluation."""

    pairs: int
    top_k: int
    knockout_ks: tuple[int, ...]
    knockout_questions: int
    n_random: int
    attention_prompts: int
    tune_questions: int
    tune_steps: int
    tune_batch: int
    eval_questions: int
    eval_general: int
    eval_texts: int

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            values = value if isinstance(value, tuple) else (value,)
            if not values or min(values) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}. Fix the pipeline sizes.")


@dataclass(frozen=True, kw_only=True)
class PartSpec:
    """One model walked through the method: its name, question set and step sizes.

    `random_control` adds SPT on random heads (outside the top heads) to compare against.
    """

    name: PartName
    model: str
    questions: str
    sizes: StepSizes
    random_control: bool = True


# The demo's sizes: the organism whole (seconds per step), SmolLM2 small enough for a CPU.
DEMO_PARTS: dict[PartName, PartSpec] = {
    "organism": PartSpec(
        name="organism",
        model="organism-mha",
        questions="organism",
        sizes=StepSizes(
            pairs=32,
            top_k=3,
            knockout_ks=(1, 2, 3, 4, 8),
            knockout_questions=32,
            n_random=3,
            attention_prompts=32,
            tune_questions=64,
            tune_steps=60,
            tune_batch=16,
            eval_questions=64,
            eval_general=64,
            eval_texts=16,
        ),
    ),
    "smollm2": PartSpec(
        name="smollm2",
        model="smollm2-135m-instruct",
        questions="bundled",
        sizes=StepSizes(
            pairs=16,
            top_k=8,
            knockout_ks=(8,),
            knockout_questions=8,
            n_random=1,
            attention_prompts=8,
            tune_questions=16,
            tune_steps=4,
            tune_batch=4,
            eval_questions=4,
            eval_general=4,
            eval_texts=2,
        ),
        # SPT vs SFT only: each evaluated model costs SmolLM2 about a minute here.
        random_control=False,
    ),
}


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    """A pipeline run: the parts in order and the folder every artefact and the report go to."""

    parts: tuple[PartSpec, ...] = field(default_factory=lambda: tuple(DEMO_PARTS.values()))
    out: Path = Path("out")

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("No parts to run. Fix: --parts organism,smollm2 (or one of them).")
        names = [part.name for part in self.parts]
        if len(set(names)) != len(names):
            raise ValueError(f"--parts {','.join(names)} repeats a part. Fix: name each once.")
