"""What a knockout run needs (model, ranking file, held-out questions), checked before loading.

Pure data and JSON reading (no torch import), so `python -m sycolens.ablate` refuses a bad
ranking, a head count or a model of another shape in a second.
"""

from dataclasses import dataclass, field
from pathlib import Path

from sycolens.ablation.config import KnockoutConfig
from sycolens.data.held_out import default_questions, held_out_source
from sycolens.data.selection import QuestionSource, check_question_source
from sycolens.head_lists import HeadList, check_heads_fit
from sycolens.models.sources import read_model_shape
from sycolens.models.spec import ModelSpec
from sycolens.patching.ranking_file import RankingFile

DEFAULT_KNOCKOUT_QUESTIONS = 48


@dataclass(frozen=True, kw_only=True)
class KnockoutJob:
    """A knockout curve of `heads` (a ranking JSON, a `{layer: [heads]}` file or a `HeadList`)
    on held-out questions.

    `questions=None` takes `n_questions` of a ranking's own question source and seed, after
    the questions it was ranked on (questions the ranking used are passed over in any case);
    for hand-picked heads, of the model's own question set.
    """

    model: ModelSpec = field(default_factory=ModelSpec)
    heads: Path | HeadList
    questions: QuestionSource | None = None
    n_questions: int = DEFAULT_KNOCKOUT_QUESTIONS
    knockout: KnockoutConfig = field(default_factory=KnockoutConfig)
    allow_other_weights: bool = False

    def __post_init__(self) -> None:
        if self.n_questions < 1:
            raise ValueError(
                f"--n-questions must be >= 1, got {self.n_questions}. Fix --n-questions."
            )


def check_knockout_job(job: KnockoutJob) -> RankingFile | HeadList:
    """Checks the heads against the model's shape, the head counts and the question source;
    returns the ranking or the head list."""
    shape = read_model_shape(job.model.name)
    given = check_heads_fit(job.heads, job.model.name, shape)
    job.knockout.check_heads(shape.n_total_heads, job.model.name)
    if isinstance(given, HeadList):
        given.first(job.knockout.ks[-1], "--ks")
        source = (
            job.questions
            if job.questions is not None
            else default_questions(job.model.name, job.n_questions)
        )
    else:
        given.check_order_available(job.knockout.order)
        source = held_out_source(job.questions, job.n_questions, given.questions, given.path)
    check_question_source(source.source)
    return given
