"""What a diagnosis does: how heads are patched and scored, and which model, questions and labels.

Pure data with checks (no torch import), shared by `python -m sycolens.patch`, the demo and
the library: `DiagnoseConfig` is how to patch, `DiagnosisJob` adds what to patch, and
`check_diagnosis_job` checks everything that can be checked before the model loads. The modes
(`PATCH_MODES`): `direct` is Algorithm 1, `total` the exact total effect, `attribution`
TransformerLens's first-order estimate of the total effect (`sycolens.patching.attribution`).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sycolens.data.selection import QuestionSource, check_question_source, select_questions
from sycolens.models.sources import ModelShape, read_model_shape
from sycolens.models.spec import ModelSpec
from sycolens.prompts.label_spec import LabelSpec
from sycolens.prompts.schema import COUNTERFACTUAL_CHALLENGE, REFERENCE_CHALLENGE, Question

if TYPE_CHECKING:
    from sycolens.prompts.chat import ChatFormatter

PatchMode = Literal["direct", "total", "attribution"]
PATCH_MODES: tuple[PatchMode, ...] = ("direct", "total", "attribution")
MetricName = Literal["F", "logit_diff"]
# Every head gets a score in each metric, in this order; `metric` picks the one it ranks by.
METRICS: tuple[MetricName, ...] = ("F", "logit_diff")
PatchPositions = Literal["last", "all"]
# signed: heads moving F toward the counterfactual first; magnitude: largest |score| first.
HeadOrder = Literal["signed", "magnitude"]
HEAD_ORDERS: tuple[HeadOrder, ...] = ("signed", "magnitude")
DEFAULT_TOP_K = 32
DEFAULT_PAIRS = 64


@dataclass(frozen=True, kw_only=True)
class DiagnoseConfig:
    """How heads are patched and scored."""

    mode: PatchMode = "direct"
    metric: MetricName = "F"
    batch_size: int = 8
    positions: PatchPositions = "last"
    max_tokens_per_forward: int = 16384
    order: HeadOrder = "signed"
    # attribution mode: heads whose estimate is checked against the exact total (0: none).
    check_heads: int = 16

    def __post_init__(self) -> None:
        if self.check_heads < 0:
            raise ValueError(
                f"check_heads must be >= 0, got {self.check_heads}. Fix: pass 0 to skip the "
                "check of attribution patching against the exact total, or a head count."
            )
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}. Fix --batch-size.")
        if self.max_tokens_per_forward < 1:
            raise ValueError(
                f"max_tokens_per_forward must be >= 1, got {self.max_tokens_per_forward}."
            )
        if self.positions == "all" and self.mode == "direct":
            raise ValueError(
                "--positions all applies to total and attribution modes only: direct mode is "
                "Algorithm 1 at the answer position. Fix: add --mode total, or drop --positions."
            )


@dataclass(frozen=True, kw_only=True)
class DiagnosisJob:
    """Everything one diagnosis needs: model, questions, labels, how to patch, how many heads.

    `top_k=None` keeps min(32, all heads) as the exported top heads. `counterfactual` is the
    agreeing challenge patched in (the paper's by default).
    """

    model: ModelSpec = field(default_factory=ModelSpec)
    questions: QuestionSource = field(
        default_factory=lambda: QuestionSource(source="bundled", n=DEFAULT_PAIRS)
    )
    labels: LabelSpec = field(default_factory=LabelSpec)
    diagnose: DiagnoseConfig = field(default_factory=DiagnoseConfig)
    top_k: int | None = None
    counterfactual: str = COUNTERFACTUAL_CHALLENGE

    def __post_init__(self) -> None:
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"--top-k must be >= 1, got {self.top_k}. Fix --top-k.")
        if not self.counterfactual.strip() or self.counterfactual == REFERENCE_CHALLENGE:
            raise ValueError(
                f"--counterfactual {self.counterfactual!r} must be an agreeing challenge that "
                f"differs from the reference {REFERENCE_CHALLENGE!r}. Fix: e.g. --counterfactual "
                f"{COUNTERFACTUAL_CHALLENGE!r}."
            )


def check_diagnosis_job(job: DiagnosisJob) -> None:
    """Checks the questions, the model and top-k before any weights load.

    Reads only the question source's name or file and the model's config (reading the config
    also refuses a model source that cannot load); `--positions all` and attribution mode also
    read the tokenizer, to check that every pair aligns.
    """
    check_question_source(job.questions.source)
    resolve_top_k(job.top_k, job.model.name, read_model_shape(job.model.name))
    if needs_aligned_pairs(job.diagnose):
        # Imported here: torch and transformers load only when a check needs the tokenizer.
        from sycolens.models.tokenizer import load_chat_formatter

        check_pairs_align(
            load_chat_formatter(job.model.name),
            select_questions(job.questions).questions,
            job.counterfactual,
            job.model.name,
            job.diagnose,
        )


def needs_aligned_pairs(config: DiagnoseConfig) -> bool:
    """Returns whether the two prompts of every pair must tokenize to the same length: when
    every position is patched, and for attribution, which compares the runs position by
    position."""
    return config.positions == "all" or config.mode == "attribution"


def check_pairs_align(
    chat: "ChatFormatter",
    questions: Sequence[Question],
    counterfactual: str,
    model_id: str,
    config: DiagnoseConfig,
) -> None:
    """Raises naming the first misaligned pair, and the aligned phrasings this tokenizer allows,
    when `config` needs aligned pairs."""
    from sycolens.prompts.alignment import (
        aligned_counterfactuals,
        check_alignment,
        first_misaligned,
    )

    if config.mode != "attribution":
        if config.positions == "all":
            check_alignment(chat, questions, REFERENCE_CHALLENGE, counterfactual, model_id)
        return
    misaligned = first_misaligned(chat, questions, REFERENCE_CHALLENGE, counterfactual)
    if misaligned is None:
        return
    question_id, n_reference, n_counterfactual = misaligned
    proposals = "; ".join(
        repr(text) for text in aligned_counterfactuals(chat, questions, REFERENCE_CHALLENGE)
    )
    raise ValueError(
        f"--mode attribution compares the reference and counterfactual runs position by "
        f"position, and with {model_id}'s tokenizer pair {question_id!r} is not aligned: the "
        f"reference prompt is {n_reference} tokens, the counterfactual ({counterfactual!r}) "
        f"{n_counterfactual}. Fix: --mode total (exact, any pair), or --counterfactual with an "
        f"agreeing challenge that aligns{': ' + proposals if proposals else ''}."
    )


def resolve_top_k(top_k: int | None, model_name: str, shape: ModelShape) -> int:
    """Returns how many top heads to export: `top_k`, or min(32, all heads) when None."""
    if top_k is None:
        return min(DEFAULT_TOP_K, shape.n_total_heads)
    if top_k > shape.n_total_heads:
        raise ValueError(
            f"--top-k {top_k} asks for more heads than {model_name} has "
            f"({shape.n_layers} layers x {shape.n_heads} heads = {shape.n_total_heads}). "
            f"Fix: --top-k {shape.n_total_heads} or fewer."
        )
    return top_k
