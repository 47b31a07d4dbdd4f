"""Questions held out from a head ranking: verification never reuses what ranked the heads.

By default the held-out questions come from the ranking's own source and seed, after the
questions it was made on (the next ones of the same stratified order, so the same mix of
kinds); whatever the source, questions whose ids the ranking used are passed over. Hand-picked
heads carry no questions: they are verified on the model's own question set.
"""

from pathlib import Path

from sycolens.data.selection import (
    QuestionSelection,
    QuestionSource,
    RecordedSelection,
    select_questions,
)
from sycolens.models.registry import question_set_for


def default_questions(model: str, n: int) -> QuestionSource:
    """Returns the questions to verify hand-picked heads on: the model's own set, seed 0."""
    return QuestionSource(source=question_set_for(model), n=n, seed=0)


def held_out_source(
    questions: QuestionSource | None, n: int, used: RecordedSelection | None, path: Path
) -> QuestionSource:
    """Returns `questions`, else `n` questions of the ranking's own source and seed (`used`:
    the selection the ranking at `path` records; None for a v1 ranking)."""
    if questions is not None:
        return questions
    if used is None:
        raise ValueError(
            f"{path} does not record its questions (a v1 ranking). Fix: pass --questions."
        )
    return QuestionSource(source=used.source, n=n, seed=used.seed)


def select_held_out(
    questions: QuestionSource | None, n: int, used: RecordedSelection | None, path: Path
) -> QuestionSelection:
    """Returns the held-out selection: it skips and excludes the ranking's own questions."""
    source = held_out_source(questions, n, used, path)
    if used is None:
        return select_questions(source)
    same_order = (used.source, used.seed) == (source.source, source.seed)
    return select_questions(
        source, skip=used.n_passed if same_order else 0, exclude=frozenset(used.question_ids)
    )
