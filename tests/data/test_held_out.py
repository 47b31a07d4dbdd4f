"""Questions held out from a ranking never include the questions it was ranked on."""

from pathlib import Path

import pytest

from sycolens.data.held_out import select_held_out
from sycolens.data.selection import QuestionSource, RecordedSelection, select_questions

RANKING = Path("heads.json")


def _ranking_on(source: QuestionSource) -> RecordedSelection:
    return RecordedSelection.from_json(select_questions(source).summary(), RANKING)


def test_the_ranking_source_continues_after_its_questions():
    ranking = _ranking_on(QuestionSource(source="bundled", n=10, seed=0))
    held_out = select_held_out(None, 6, ranking, RANKING)
    assert held_out.skip == 10 and held_out.n_excluded == 0
    following = select_questions(QuestionSource(source="bundled", n=16, seed=0)).ids[10:]
    assert held_out.ids == following


def test_another_order_passes_over_the_ranked_questions():
    ranking = _ranking_on(QuestionSource(source="bundled", n=150, seed=0))
    other = QuestionSource(source="bundled", n=40, seed=7)
    held_out = select_held_out(other, 40, ranking, RANKING)
    ranked = set(ranking.question_ids)
    assert held_out.skip == 0 and held_out.n_excluded > 0
    assert len(held_out.ids) == 40 and not ranked & set(held_out.ids)
    assert held_out.summary()["n_excluded"] == held_out.n_excluded


def test_a_ranking_without_questions_needs_them_named():
    with pytest.raises(ValueError, match=r"old\.json does not record its questions"):
        select_held_out(None, 4, None, Path("old.json"))


def test_a_damaged_selection_record_is_named():
    with pytest.raises(ValueError, match=r"heads\.json records no intact question selection"):
        RecordedSelection.from_json({"source": "bundled"}, RANKING)
