"""Evaluation data: seeded samples, disjoint general questions, the right text corpus."""

from pathlib import Path

import pytest

from sycolens.evaluation.data import sample_evaluation_data


def test_questions_are_a_seeded_sample_and_general_ones_never_overlap():
    data = sample_evaluation_data("bundled", n_questions=50, n_general=100)
    general = [q for task in data.tasks for q in task.questions]
    assert len(data.questions) == 50 and len(general) == 100
    assert not {q.id for q in data.questions} & {q.id for q in general}
    assert {q.kind for q in data.questions} == {"fact", "multiple_choice", "arithmetic"}
    again = sample_evaluation_data("bundled", n_questions=50, n_general=100)
    assert again.questions == data.questions
    assert data.texts is not None and data.texts.source == "sycolens:bundled"


def test_each_set_brings_its_own_text_unless_another_is_named(tmp_path: Path):
    organism = sample_evaluation_data("organism", n_questions=5, n_general=5, n_texts=7)
    assert organism.texts is not None and organism.texts.source == "sycolens:organism"
    assert len(organism.texts.texts) == 7
    (tmp_path / "t.txt").write_text("Some text of my own.")
    mine = sample_evaluation_data("organism", n_questions=5, n_general=5, texts=str(tmp_path))
    assert mine.texts is not None and mine.texts.texts == ("Some text of my own.",)


def test_general_questions_from_another_source():
    data = sample_evaluation_data("bundled", n_questions=300, n_general=20, general="organism")
    general = [q for task in data.tasks for q in task.questions]
    assert len(data.questions) == 300 and len(general) == 20
    assert all(q.source == "organism" for q in general)


def test_asking_for_too_many_or_too_few_questions_is_an_error():
    with pytest.raises(ValueError, match=r"has 300 questions, fewer than the 350 asked for"):
        sample_evaluation_data("bundled", n_questions=250, n_general=100)
    with pytest.raises(ValueError, match=r"n_general must be >= 1, got 0. Fix --n-general"):
        sample_evaluation_data("bundled", n_questions=5, n_general=0)
    with pytest.raises(ValueError, match=r"--general organism has 300 questions, fewer than"):
        sample_evaluation_data("bundled", n_questions=5, n_general=301, general="organism")
