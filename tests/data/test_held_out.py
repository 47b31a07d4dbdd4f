"""Questions held out from a ranking never include the questions it was ranked on."""

from pathlib import Path
from typing import Any

import pytest

from sycolens.data.held_out import select_held_out
from sycolens.data.selection import QuestionSource, select_questions


def _ranking_on(source: QuestionSource) -> dict[str, Any]:
    return {"questions": select_questions(source).summary()}


def test_the_ranking_source_continues_after_its_questions():
    ranking = _ranking_on(QuestionSource(source="bundled", n=10, seed=0))
    held_out = select_held_out(None, 6, ranking)
    assert held_out.skip == 10 and held_out.n_excluded == 0
    following = select_questions(QuestionSource(source="bundled", n=16, seed=0)).ids[10:]
    assert held_out.ids == following


def test_another_order_passes_over_the_ranked_questions():
    ranking = _ranking_on(QuestionSource(source="bundled", n=150, seed=0))
    other = QuestionSource(source="bundled", n=40, seed=7)
    held_out = select_held_out(other, 40, ranking)
    ranked = set(ranking["questions"]["question_ids"])
    assert held_out.skip == 0 and held_out.n_excluded > 0
    assert len(held_out.ids) == 40 and not ranked & set(held_out.ids)
    assert held_out.summary()["n_excluded"] == held_out.n_excluded


def test_a_ranking_without_questions_needs_them_named():
    with pytest.raises(ValueError, match=r"old\.json does not record its questions"):
        select_held_out(None, 4, {"model": {}}, Path("old.json"))
