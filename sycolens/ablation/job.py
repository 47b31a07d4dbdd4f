"""What a knockout run needs (model, ranking file, held-out questions), checked before loading.

Pure data and JSON reading (no torch import), so `python -m sycolens.ablate` refuses a bad
ranking, a head count or a model of another shape in a second.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sycolens.ablation.config import KnockoutConfig
from sycolens.data.held_out import held_out_source
from sycolens.data.selection import QuestionSource, check_question_source
from sycolens.models.sources import read_model_shape
from sycolens.models.spec import ModelSpec
from sycolens.patching.ranking_file import (
    check_order_available,
    check_ranking_shape,
    read_ranking_document,
)

DEFAULT_KNOCKOUT_QUESTIONS = 48


@dataclass(frozen=True, kw_only=True)
class KnockoutJob:
    """A knockout curve of the heads in `heads` (a ranking JSON) on held-out questions.

    `questions=None` takes `n_questions` of the ranking's own question source and seed, after
    the questions it was ranked on; questions the ranking used are passed over in any case.
    """

    model: ModelSpec = field(default_factory=ModelSpec)
    heads: Path
    questions: QuestionSource | None = None
    n_questions: int = DEFAULT_KNOCKOUT_QUESTIONS
    knockout: KnockoutConfig = field(default_factory=KnockoutConfig)
    allow_other_weights: bool = False

    def __post_init__(self) -> None:
        if self.n_questions < 1:
            raise ValueError(
                f"--n-questions must be >= 1, got {self.n_questions}. Fix --n-questions."
            )


def check_knockout_job(job: KnockoutJob) -> dict[str, Any]:
    """Checks the ranking against the model's shape and the question source; returns it."""
    document = read_ranking_document(job.heads)
    shape = read_model_shape(job.model.name)
    check_ranking_shape(job.heads, document, job.model.name, shape)
    check_order_available(job.heads, document, job.knockout.order)
    job.knockout.check_heads(shape.n_total_heads, job.model.name)
    source = held_out_source(job.questions, job.n_questions, document, job.heads)
    check_question_source(source.source)
    return document
