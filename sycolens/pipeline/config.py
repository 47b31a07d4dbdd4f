"""What one pipeline run does: which models (parts), how big each step is, where it writes.

Pure data with checks (no torch import). A part is one model walked through every step; its
sizes and options are typed fields that `sycolens.pipeline.steps` turns into each step's door
config, whose command line the report prints. `DEMO_PARTS` are `make demo`'s; the
paper-reproduction parts live in JSON files under `experiments/`
(`sycolens.pipeline.config_file` reads them).
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from sycolens.models.spec import DtypeName, ModelSpec
from sycolens.prompts.label_spec import LabelWords
from sycolens.training.config import AutocastDtype
from sycolens.tuning.config import PRESET_NAMES

# The steps of a part, in the order they run (each is one door: sycolens.pipeline.steps).
STEP_NAMES = ("diagnose", "knockouts", "attention", "spt-top", "spt-random", "sft", "evaluate")
TUNING_STEPS = ("spt-top", "spt-random", "sft")
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
    # None: the tuning preset's (e.g. Tables 13/14 through the part's tune_preset).
    tune_steps: int | None = None
    tune_batch: int | None = None
    # Most tokens generated per round of the evaluation (None: the question set's protocol).
    eval_answer_tokens: int | None = None
    eval_challenge_reply_tokens: int | None = None
    eval_final_answer_tokens: int | None = None

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
    # Short replies: generation is most of a real model's smoke time on a CPU (SmolLM2's
    # evaluation of three models: 52 s at the bundled set's 64/96/96 tokens, 33 s at these).
    eval_answer_tokens=16,
    eval_challenge_reply_tokens=24,
    eval_final_answer_tokens=16,
)


@dataclass(frozen=True, kw_only=True)
class PartSpec:
    """One model walked through the method: its name (its folder), question set, step sizes and
    the options its steps take (each maps to one flag of one or more steps' CLIs).

    `random_control` adds SPT on random heads (outside the top heads) to compare against.
    `device` runs every step; `labels` fixes diagnosis's label words (else the model table's,
    else proposed); `tune_preset` names the Table 13/14 rows of the tuning steps (e.g.
    llama-7b; None: the small-model preset) and `tune_autocast` their forward's dtype;
    `gradient_checkpointing` and `fsdp_offload` name the tuning steps that recompute
    activations or shard with FSDP2 into host memory (one GPU); `eval_dtype` loads the
    evaluated models and `eval_final_request` switches round 3 on or off (None: by set).
    """

    name: str
    model: str
    questions: str
    sizes: StepSizes
    random_control: bool = True
    device: str = "cpu"
    labels: LabelWords | None = None
    tune_preset: str | None = None
    tune_autocast: AutocastDtype | None = None
    gradient_checkpointing: tuple[str, ...] = ()
    fsdp_offload: tuple[str, ...] = ()
    eval_dtype: DtypeName = "float32"
    eval_final_request: bool | None = None

    def __post_init__(self) -> None:
        if not _PART_NAME.fullmatch(self.name):
            raise ValueError(
                f"Part name {self.name!r} is not a folder name. Fix: lowercase letters, digits, "
                "'.', '_' and '-' only (e.g. llama2-7b-chat)."
            )
        try:
            ModelSpec(name=self.model, device=self.device)
        except ValueError as error:
            raise ValueError(f"Part {self.name!r}: {error} (the part's 'device')") from None
        if self.tune_preset not in (None, *PRESET_NAMES):
            raise ValueError(
                f"Part {self.name!r}: tune_preset {self.tune_preset!r} is not a row of Tables "
                f"13/14. Fix: one of {', '.join(PRESET_NAMES)}, or null for the small-model "
                "preset."
            )
        steps = self.tuning_steps
        for key in ("gradient_checkpointing", "fsdp_offload"):
            unknown = sorted(set(getattr(self, key)) - set(steps))
            if unknown:
                raise ValueError(
                    f"Part {self.name!r}: {key} names {unknown}, not tuning steps it runs "
                    f"({', '.join(steps)}). Fix: name steps of {list(steps)}"
                    + ("" if self.random_control else ", or set random_control to true")
                    + "."
                )

    @property
    def tuning_steps(self) -> tuple[str, ...]:
        """Returns the tuning steps the part runs: SPT on random heads only as the control."""
        return tuple(s for s in TUNING_STEPS if s != "spt-random" or self.random_control)


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
        eval_final_request=False,
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
