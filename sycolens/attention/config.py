"""What an attention study looks at: which heads, prompts and span (pure data, no torch import)."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sycolens.data.held_out import default_questions, held_out_source
from sycolens.data.selection import QuestionSource, check_question_source
from sycolens.head_lists import HeadList, check_heads_fit
from sycolens.models.sources import read_model_shape
from sycolens.models.spec import ModelSpec
from sycolens.patching.config import HeadOrder
from sycolens.patching.ranking_file import RankingFile

# sentence: the challenge message's own tokens; turn: everything from the end of the answer
# on, template tokens and the assistant cue included (local heads attend to the cue anyway).
AttentionSpan = Literal["sentence", "turn"]
ATTENTION_SPANS: tuple[AttentionSpan, ...] = ("sentence", "turn")
DEFAULT_ATTENTION_PROMPTS = 32


@dataclass(frozen=True, kw_only=True)
class AttentionJob:
    """Attention to the challenge of the top-N heads vs the rest, and views of them.

    `heads` is a ranking JSON, a `{layer: [heads]}` file or a `HeadList`. `top_n=None` takes as
    many heads as the ranking exported (its top_k), or every listed head; `questions=None` the
    ranking's own source, held out (the model's own set for hand-picked heads). Views show
    `n_view_heads` top heads on the first `n_views` prompts.
    """

    model: ModelSpec = field(default_factory=ModelSpec)
    heads: Path | HeadList
    questions: QuestionSource | None = None
    n_prompts: int = DEFAULT_ATTENTION_PROMPTS
    top_n: int | None = None
    order: HeadOrder = "signed"
    span: AttentionSpan = "sentence"
    n_views: int = 3
    n_view_heads: int = 4
    batch_size: int = 8
    allow_other_weights: bool = False

    def __post_init__(self) -> None:
        flags = {
            "n_prompts": "--prompts",
            "n_view_heads": "--view-heads",
            "batch_size": "--batch-size",
        }
        for name, flag in flags.items():
            if getattr(self, name) < 1:
                raise ValueError(f"{flag} must be >= 1, got {getattr(self, name)}. Fix {flag}.")
        if self.n_views < 0:
            raise ValueError(f"--views must be >= 0, got {self.n_views}. Fix --views.")
        if self.top_n is not None and self.top_n < 1:
            raise ValueError(f"--top-k must be >= 1, got {self.top_n}. Fix --top-k.")


def check_attention_job(job: AttentionJob) -> RankingFile | HeadList:
    """Checks the heads against the model's shape, top-N and the questions; returns the
    ranking or the head list."""
    shape = read_model_shape(job.model.name)
    given = check_heads_fit(job.heads, job.model.name, shape)
    if not isinstance(given, HeadList):
        given.check_order_available(job.order)
    top_n = resolve_top_n(job, given, shape.n_total_heads)
    if top_n >= shape.n_total_heads:
        raise ValueError(
            f"--top-k {top_n} leaves no other heads to compare with ({job.model.name} has "
            f"{shape.n_total_heads}). Fix: --top-k {shape.n_total_heads - 1} or fewer."
        )
    if isinstance(given, HeadList):
        given.first(top_n)
        source = (
            job.questions
            if job.questions is not None
            else default_questions(job.model.name, job.n_prompts)
        )
    else:
        source = held_out_source(job.questions, job.n_prompts, given.questions, given.path)
    check_question_source(source.source)
    return given


def resolve_top_n(job: AttentionJob, given: RankingFile | HeadList, n_total_heads: int) -> int:
    """Returns how many top heads to compare: `top_n`, else the ranking's exported top_k or
    every listed head, at most all heads but one (so some are left to compare with)."""
    if job.top_n is not None:
        return job.top_n
    n_given = len(given.heads) if isinstance(given, HeadList) else len(given.top_k)
    return min(n_given, n_total_heads - 1)
