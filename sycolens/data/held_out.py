"""Questions held out from a head ranking: verification never reuses what ranked the heads.

By default the held-out questions come from the ranking's own source and seed, after the
questions it was made on (the next ones of the same stratified order, so the same mix of
kinds); whatever the source, questions whose ids the ranking used are passed over. Hand-picked
heads carry no questions: they are verified on the model's own question set.
"""

from pathlib import Path
from typing import Any

from sycolens.data.selection import QuestionSelection, QuestionSource, select_questions
from sycolens.models.registry import question_set_for


def default_questions(model: str, n: int) -> QuestionSource:
    """Returns the questions to verify hand-picked heads on: the model's own set, seed 0."""
    return QuestionSource(source=question_set_for(model), n=n, seed=0)


def held_out_source(
    questions: QuestionSource | None, n: int, ranking: dict[str, Any], path: Path | None = None
) -> QuestionSource:
    """Returns `questions`, else `n` questions of the ranking's own source and seed."""
    if questions is not None:
        return questions
    used = ranking.get("questions")
    if used is None:
        raise ValueError(
            f"{path or 'The ranking'} does not record its questions (a v1 ranking). Fix: pass "
            "--questions."
        )
    return QuestionSource(source=used["source"], n=n, seed=used["seed"])


def select_held_out(
    questions: QuestionSource | None, n: int, ranking: dict[str, Any], path: Path | None = None
) -> QuestionSelection:
    """Returns the held-out selection: it skips and excludes the ranking's own questions."""
    source = held_out_source(questions, n, ranking, path)
    used = ranking.get("questions") or {}
    skip = 0
    if used and (used["source"], used["seed"]) == (source.source, source.seed):
        skip = int(used["skip"]) + int(used.get("n_excluded", 0)) + int(used["n_used"])
    return select_questions(source, skip=skip, exclude=frozenset(used.get("question_ids", [])))
