"""What one pipeline run does: which models (parts), how big each step is, where it writes.

Pure data with checks (no torch import). A part is one model walked through every step; the
sizes and flags are each step's CLI flags, so the report can print the exact command of every
step. `DEMO_PARTS` are `make demo`'s; the paper-reproduction parts live in JSON files under
`experiments/` (`sycolens.pipeline.config_file` reads them).
"""

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

# The steps of a part, in the order they run (each is one CLI: sycolens.pipeline.commands).
STEP_NAMES = ("diagnose", "knockouts", "attention", "spt-top", "spt-random", "sft", "evaluate")
_PART_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


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
    eval_questions: int
    eval_general: int
    eval_texts: int
    # None: the tuning preset's (e.g. Tables 13/14 through --paper-preset in the step flags).
    tune_steps: int | None = None
    tune_batch: int | None = None

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value is None:
                continue
            values = value if isinstance(value, tuple) else (value,)
            least = 0 if name == "eval_general" else 1  # 0: no general-ability questions
            if not values or min(values) < least:
                raise ValueError(f"{name} must be >= {least}, got {value}. Fix the pipeline sizes.")


# `--smoke`: every step at the smallest size that still runs it, to check a config end to end
# (a real checkpoint's loading, labels, chat template, devices) in minutes before a long run.
SMOKE_SIZES = StepSizes(
    pairs=4,
    top_k=2,
    knockout_ks=(1, 2),
    knockout_questions=4,
    n_random=1,
    attention_prompts=4,
    tune_questions=8,
    eval_questions=4,
    eval_general=2,
    eval_texts=2,
    tune_steps=2,
    tune_batch=2,
)


@dataclass(frozen=True, kw_only=True)
class PartSpec:
    """One model walked through the method: its name (its folder), question set and step sizes.

    `random_control` adds SPT on random heads (outside the top heads) to compare against.
    `flags` go to every step (e.g. `--device cuda`); `step_flags` to one step each (e.g.
    `--paper-preset llama-7b` to the tuning steps). Each step's own parser reads them, so a
    misspelt flag fails as it would on the command line.
    """

    name: str
    model: str
    questions: str
    sizes: StepSizes
    random_control: bool = True
    flags: tuple[str, ...] = ()
    step_flags: dict[str, tuple[str, ...]] = field(default_factory=dict[str, tuple[str, ...]])

    def __post_init__(self) -> None:
        if not _PART_NAME.fullmatch(self.name):
            raise ValueError(
                f"Part name {self.name!r} is not a folder name. Fix: lowercase letters, digits, "
                "'.', '_' and '-' only (e.g. llama2-7b-chat)."
            )
        unknown = sorted(set(self.step_flags) - set(STEP_NAMES))
        if unknown:
            raise ValueError(
                f"Part {self.name!r} has flags for unknown steps {unknown}. Fix: use step names "
                f"from {', '.join(STEP_NAMES)}."
            )

    def with_flag(self, flag: str, value: str) -> "PartSpec":
        """Returns the part with `flag value` in its every-step flags and no other value of
        `flag` (`flag X` or `flag=X`) in any of its flags, every step's own included."""
        return replace(
            self,
            flags=(*_without(self.flags, flag), flag, value),
            step_flags={step: _without(flags, flag) for step, flags in self.step_flags.items()},
        )


def _without(flags: tuple[str, ...], flag: str) -> tuple[str, ...]:
    """Returns `flags` without `flag` and its value, in either spelling."""
    kept: list[str] = []
    items = iter(flags)
    for item in items:
        if item == flag:
            next(items, None)
        elif not item.startswith(f"{flag}="):
            kept.append(item)
    return tuple(kept)


# The demo's sizes: the organism whole (seconds per step), SmolLM2 small enough for a CPU.
DEMO_PARTS: dict[str, PartSpec] = {
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
            eval_questions=64,
            eval_general=64,
            eval_texts=16,
            tune_steps=60,
            tune_batch=16,
        ),
    ),
    "smollm2": PartSpec(
        name="smollm2",
        model="smollm2-135m-instruct",
        questions="bundled",
        # A smoke test of the real model within the demo's 5 minutes on 2 CPU cores: each
        # SmolLM2 training step costs 5-9 s, each evaluated model about a minute.
        sizes=StepSizes(
            pairs=12,
            top_k=8,
            knockout_ks=(8,),
            knockout_questions=4,
            n_random=1,
            attention_prompts=6,
            tune_questions=8,
            eval_questions=4,
            eval_general=0,  # 4 questions of general ability say nothing; they cost 60 s
            eval_texts=2,
            tune_steps=2,
            tune_batch=4,
        ),
        # SPT vs SFT only: a third evaluated model would cost another minute. No round 3
        # (asking for the bare answer after the challenge): the answer after is round 2's.
        random_control=False,
        step_flags={"evaluate": ("--no-final-request",)},
    ),
}


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    """A pipeline run: the parts in order and the folder every artefact and the report go to."""

    parts: tuple[PartSpec, ...] = field(default_factory=lambda: tuple(DEMO_PARTS.values()))
    out: Path = Path("out")

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError(
                "No parts to run. Fix: name at least one (--parts, or 'parts' in a --config file)."
            )
        names = [part.name for part in self.parts]
        if len(set(names)) != len(names):
            raise ValueError(f"Parts {','.join(names)} repeat a name. Fix: give each part its own.")
