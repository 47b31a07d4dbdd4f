"""What a tuning run trains, on what, and how: pure data with checks (no torch import).

`TuneConfig` says which parameters train (SPT: the top-k heads' slices, or k random heads as
the control; SFT: everything) and the optimisation; `TuneJob` adds the model, the ranking and
the questions. `PRESETS` are the paper's Tables 13 (SFT) and 14 (SPT) by family and size
(`--paper-preset llama-7b`); `SMALL_MODEL_PRESETS`, the default, were chosen on the organism,
since the paper tunes nothing under 7B.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from sycolens.data.selection import QuestionSource
from sycolens.head_lists import HeadList
from sycolens.heads import HEAD_ROLES, HeadRole
from sycolens.models.spec import ModelSpec
from sycolens.training.config import TrainingConfig

TuneMode = Literal["spt", "sft"]
HeadChoice = Literal["top", "random"]
GQA_ROLES: tuple[HeadRole, ...] = ("query", "output")  # Algorithm 2: W_Q and W_O only
MergeRule = Literal["union", "average"]  # how delta sets merge (sycolens.tuning.merge)
MERGE_RULES: tuple[MergeRule, ...] = ("union", "average")


@dataclass(frozen=True, kw_only=True)
class Preset:
    """One row of Tables 13/14: peak learning rate, batch size, steps and (SPT) head count."""

    learning_rate: float
    batch_size: int
    steps: int
    k: int


# (family, billions of parameters) -> preset, from Tables 13 (SFT) and 14 (SPT); min_lr 0,
# cosine schedule throughout.
PRESETS: dict[tuple[TuneMode, str, int], Preset] = {
    ("sft", "llama", 7): Preset(learning_rate=5e-6, batch_size=32, steps=120, k=0),
    ("sft", "llama", 13): Preset(learning_rate=5e-6, batch_size=32, steps=120, k=0),
    ("sft", "llama", 70): Preset(learning_rate=5e-6, batch_size=64, steps=60, k=0),
    ("sft", "mistral", 7): Preset(learning_rate=5e-6, batch_size=32, steps=120, k=0),
    ("sft", "qwen2", 7): Preset(learning_rate=5e-7, batch_size=32, steps=100, k=0),
    ("sft", "qwen2", 14): Preset(learning_rate=5e-7, batch_size=32, steps=100, k=0),
    ("sft", "qwen2", 72): Preset(learning_rate=1e-6, batch_size=64, steps=60, k=0),
    ("spt", "llama", 7): Preset(learning_rate=1e-5, batch_size=32, steps=240, k=32),
    ("spt", "llama", 13): Preset(learning_rate=1e-5, batch_size=32, steps=240, k=64),
    ("spt", "llama", 70): Preset(learning_rate=1e-5, batch_size=64, steps=120, k=192),
    ("spt", "mistral", 7): Preset(learning_rate=5e-6, batch_size=32, steps=240, k=32),
    ("spt", "qwen2", 7): Preset(learning_rate=5e-6, batch_size=32, steps=240, k=32),
    ("spt", "qwen2", 14): Preset(learning_rate=5e-6, batch_size=32, steps=240, k=64),
    ("spt", "qwen2", 72): Preset(learning_rate=4e-6, batch_size=64, steps=100, k=192),
}
# The presets' names (`--paper-preset llama-7b`): each family and size has an SFT and SPT row.
PRESET_NAMES = tuple(sorted({f"{family}-{size}b" for _, family, size in PRESETS}))
SMALL_MODEL_PRESETS: dict[TuneMode, Preset] = {
    "spt": Preset(learning_rate=1e-3, batch_size=16, steps=60, k=3),
    "sft": Preset(learning_rate=1e-4, batch_size=16, steps=60, k=0),
}


@dataclass(frozen=True, kw_only=True)
class LowRank:
    """SPT + LoRA (the paper's C.4): each head slice's delta is (alpha / rank) * B @ A, with A
    drawn from `seed`; alpha defaults to the rank (scale 1)."""

    rank: int
    alpha: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"--lora-rank must be >= 1, got {self.rank}. Fix --lora-rank.")
        if self.alpha is not None and not self.alpha > 0:
            raise ValueError(f"--lora-alpha must be > 0, got {self.alpha}. Fix --lora-alpha.")

    @property
    def scale(self) -> float:
        return (self.alpha if self.alpha is not None else self.rank) / self.rank


@dataclass(frozen=True, kw_only=True)
class TuneConfig:
    """Which parameters train and how.

    `seed` orders the training conversations; `head_seed` draws the random heads of the
    control (`heads="random"`), so several controls can share one data order.

    `roles=None` trains W_Q, W_K, W_V and W_O slices of each head, or W_Q and W_O under
    grouped-query attention (Algorithm 2), where key/value slices need `train_shared_kv`.

    `gradient_checkpointing` recomputes each decoder layer's activations in the backward: less
    memory, about one more forward of time, the same gradients. `lora` makes each head slice's
    delta low-rank (SPT + LoRA).

    `fsdp` shards the model over the processes of a launch (FSDP2: `sycolens.training.fsdp`);
    `fsdp_offload` keeps the shards, their gradients and optimizer state in host memory.
    """

    mode: TuneMode = "spt"
    k: int = 3
    heads: HeadChoice = "top"
    roles: tuple[HeadRole, ...] | None = None
    train_shared_kv: bool = False
    training: TrainingConfig = field(
        default_factory=lambda: TrainingConfig(steps=60, learning_rate=1e-3, checkpoint_every=20)
    )
    batch_size: int = 16
    seed: int = 0
    head_seed: int = 0
    gradient_checkpointing: bool = False
    lora: LowRank | None = None
    fsdp: bool = False
    fsdp_offload: bool = False

    def __post_init__(self) -> None:
        if self.fsdp_offload and not self.fsdp:
            raise ValueError(
                "--fsdp-offload keeps FSDP's shards in host memory, but there are none without "
                "--fsdp. Fix: add --fsdp, or drop --fsdp-offload."
            )
        if self.mode == "sft" and self.lora is not None:
            raise ValueError("LoRA is for SPT's head slices: drop --lora-rank, or use --mode spt.")
        if self.mode == "spt" and self.k < 1:
            raise ValueError(f"--top-k must be >= 1 for SPT, got {self.k}. Fix --top-k.")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}. Fix --batch-size.")
        unknown = set(self.roles or ()) - set(HEAD_ROLES)
        if unknown or (self.roles is not None and not self.roles):
            raise ValueError(
                f"--roles {self.roles} must be a non-empty subset of {HEAD_ROLES}. Fix --roles."
            )


@dataclass(frozen=True, kw_only=True)
class TuneJob:
    """The model, its heads (SPT), the training questions, the run settings, the output.

    `ranking` is a head ranking JSON (SPT trains its top k), a `{layer: [heads]}` file or a
    `HeadList` (SPT trains its first k, by default all of them); None for SFT or random heads.

    The evaluation of the run must not see the training questions: their ids are written into
    the deltas' metadata and the run's config, and the evaluator leaves them out.
    """

    model: ModelSpec = field(default_factory=ModelSpec)
    ranking: Path | HeadList | None = None
    questions: QuestionSource = field(
        default_factory=lambda: QuestionSource(source="bundled", n=64)
    )
    tune: TuneConfig = field(default_factory=TuneConfig)
    out: Path = Path("tune-run")
    allow_other_weights: bool = False

    def __post_init__(self) -> None:
        if self.model.device_map is not None:
            raise ValueError(DISPATCHED_TUNING)
        is_fp16 = self.model.dtype == "float16" and self.tune.training.autocast == "float16"
        if is_fp16 and self.tune.mode == "sft":
            raise ValueError(
                "SFT of float16 weights with --autocast fp16 cannot scale its loss: the "
                "float16 gradients cannot be unscaled. Fix: load the weights in float32 "
                "(--dtype float32) with --autocast fp16, or use --autocast bf16."
            )


RUN_SCHEMA = "sycolens.tune_run"


def check_run_folder_free(out: Path) -> None:
    """Refuses an `--out` folder that already holds a run document (`tune.json`), saying whose:
    a finished sycolens run is never overwritten or resumed by accident, and another program's
    tune.json is never taken for one."""
    document_path = out / "tune.json"
    if not document_path.exists():
        return
    try:
        document: object = json.loads(document_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        document = None
    if isinstance(document, dict):
        run = cast(dict[str, Any], document)
        if run.get("schema") == RUN_SCHEMA:
            model = cast(dict[str, Any], run.get("model") or {})
            raise FileExistsError(
                f"{out} already holds a finished run ({run.get('mode')} on "
                f"{model.get('id')!r}). Fix: pass another --out, or delete it."
            )
    raise FileExistsError(
        f"{out} holds a tune.json that is not a sycolens tuning run; a run would write its own "
        "there. Fix: pass another --out (a new or empty folder)."
    )


DISPATCHED_TUNING = (
    "Tuning trains weights in place, but a model dispatched by a device map keeps its "
    "offloaded weights in accelerate's hooks, out of an optimizer's reach. Fix: load it "
    "whole (no device map); for a model bigger than one device, shard it with `sycolens "
    "tune --fsdp` (and --fsdp-offload on one GPU)."
)
