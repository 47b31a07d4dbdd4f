"""Evaluation data: selections, disjoint general questions, the right text corpus."""

import json
from pathlib import Path

from sycolens.data.selection import QuestionSource
from sycolens.evaluation.config import general_source_for
from sycolens.evaluation.data import build_evaluation_data


def _general_questions(data):
    return [q for task in data.tasks for q in task.questions]


def test_general_questions_follow_the_same_order_and_never_overlap():
    questions = QuestionSource(source="bundled", n=50)
    data = build_evaluation_data(questions, general=general_source_for(questions, 100))
    general = _general_questions(data)
    assert len(data.questions) == 50 and len(general) == 100
    assert not {q.id for q in data.questions} & {q.id for q in general}
    assert {q.kind for q in data.questions} == {"fact", "multiple_choice", "arithmetic"}
    assert data.general is not None and data.general.skip == 50
    again = build_evaluation_data(questions, general=general_source_for(questions, 100))
    assert again.questions == data.questions
    assert data.texts is not None and data.texts.source == "sycolens:bundled"
    summary = data.summary()
    assert summary["questions"]["question_ids"] == [q.id for q in data.questions]
    assert summary["general"]["n_used"] == 100


def test_a_users_file_is_used_whole_with_bundled_general_ability(tmp_path: Path):
    path = tmp_path / "mine.jsonl"
    rows = [{"id": f"m{i}", "kind": "arithmetic", "question": f"What is {i} + 1?",
             "answer": str(i + 1)} for i in range(12)]  # fmt: skip
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    questions = QuestionSource(source=str(path), n=64)
    general = general_source_for(questions, 64)
    assert general.source == "bundled"
    data = build_evaluation_data(questions, general=general)
    assert len(data.questions) == 12
    assert data.summary()["questions"]["n_requested"] == 64
    assert len(_general_questions(data)) == 64
    assert all(q.source == "sycolens" for q in _general_questions(data))
    assert data.texts is not None and data.texts.source == "sycolens:bundled"


def test_each_set_brings_its_own_text_unless_another_is_named(tmp_path: Path):
    organism = QuestionSource(source="organism", n=5)
    data = build_evaluation_data(organism, general=None, n_texts=7)
    assert data.texts is not None and data.texts.source == "sycolens:organism"
    assert len(data.texts.texts) == 7 and data.tasks == ()
    (tmp_path / "t.txt").write_text("Some text of my own.")
    mine = build_evaluation_data(organism, general=None, texts=str(tmp_path))
    assert mine.texts is not None and mine.texts.texts == ("Some text of my own.",)


def test_general_questions_from_another_source():
    questions = QuestionSource(source="bundled")
    other = QuestionSource(source="organism", n=20)
    data = build_evaluation_data(questions, general=other)
    general = _general_questions(data)
    assert len(data.questions) == 453 and len(general) == 20
    assert all(q.source == "organism" for q in general)
