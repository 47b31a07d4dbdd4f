"""Question selection: seeded, de-duplicated, kind-stratified, recorded, and strict on input."""

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from sycolens import evaluate, patch
from sycolens.data.questions import DatasetFormatError, load_bundled_questions
from sycolens.data.selection import (
    QuestionSource,
    check_question_source,
    deduplicate,
    select_questions,
    selection_note,
    stratified_order,
)
from sycolens.prompts.schema import Question, QuestionKind


def _question(i: int, kind: QuestionKind = "fact", text: str | None = None) -> Question:
    answer = "B" if kind == "multiple_choice" else str(i)
    choices = ("x", "y") if kind == "multiple_choice" else ()
    return Question(id=f"q{i}", kind=kind, question=text or f"Question {i}?", answer=answer,
                    choices=choices)  # fmt: skip


def test_the_bundled_set_has_no_duplicate_questions():
    questions = load_bundled_questions()
    assert deduplicate(questions)[1] == 0
    assert len({q.id for q in questions}) == len(questions) == 453


def test_duplicates_are_dropped_first_kept_and_counted():
    pool = [_question(0, text="What is 2 * 6?"), _question(1), _question(2, text="what is  2 * 6?")]
    kept, dropped = deduplicate(pool)
    assert [q.id for q in kept] == ["q0", "q1"] and dropped == 1


def test_every_prefix_of_the_order_mixes_kinds_in_proportion():
    bundled = load_bundled_questions()
    ordered = stratified_order(bundled, seed=0)
    totals = Counter(q.kind for q in bundled)
    for n in (8, 16, 64, 100):
        counts = Counter(q.kind for q in ordered[:n])
        for kind, total in totals.items():
            assert abs(counts[kind] - n * total / len(bundled)) <= 1, (n, kind, counts)
    assert sorted(q.id for q in ordered) == sorted(q.id for q in bundled)


def test_the_order_is_seeded():
    bundled = load_bundled_questions()
    first = [q.id for q in stratified_order(bundled, seed=0)]
    assert first == [q.id for q in stratified_order(load_bundled_questions(), seed=0)]
    assert first != [q.id for q in stratified_order(load_bundled_questions(), seed=1)]


def test_64_bundled_questions_mix_facts_arithmetic_and_choice():
    selection = select_questions(QuestionSource(source="bundled", n=64))
    kinds = selection.kind_counts()
    assert kinds == {"fact": 29, "multiple_choice": 9, "arithmetic": 26}
    summary = selection.summary()
    assert summary["question_ids"] == [q.id for q in selection.questions]
    assert summary["seed"] == 0 and summary["n_used"] == 64 and len(summary["sha256"]) == 64
    again = select_questions(QuestionSource(source="bundled", n=64))
    assert again.sha256() == selection.sha256()


def test_skip_gives_the_next_disjoint_questions():
    first = select_questions(QuestionSource(source="bundled", n=30))
    after = select_questions(QuestionSource(source="bundled", n=30), skip=30)
    assert not set(first.ids) & set(after.ids)
    whole = select_questions(QuestionSource(source="bundled", n=60))
    assert whole.ids == first.ids + after.ids


def test_a_small_file_is_used_whole_and_says_so(tmp_path: Path):
    path = tmp_path / "mine.jsonl"
    rows = [{"id": f"m{i}", "kind": "fact", "question": f"Q{i}?", "answer": "a"} for i in range(12)]
    rows.append(dict(rows[0], id="copy"))
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    selection = select_questions(QuestionSource(source=str(path), n=64))
    assert len(selection.questions) == 12 and selection.n_duplicates == 1
    note = selection_note(selection.summary())
    assert note.startswith(f"12 of 12 questions of {path} (12 fact; seed 0; 64 asked for")
    assert "1 duplicates dropped" in note


def test_bad_sources_and_counts_name_the_fix(tmp_path: Path):
    with pytest.raises(ValueError, match=r"Unknown question set 'bundeld'. Known sets: bundled, "):
        check_question_source("bundeld")
    with pytest.raises(FileNotFoundError, match=r"Question file .*missing.jsonl does not exist"):
        check_question_source(str(tmp_path / "missing.jsonl"))
    with pytest.raises(ValueError, match=r"Asked for 0 questions of bundled. Fix: ask for at"):
        QuestionSource(source="bundled", n=0)
    with pytest.raises(ValueError, match=r"has 453 distinct questions, none left after the first"):
        select_questions(QuestionSource(source="bundled", n=5), skip=453)


def test_the_organism_set_comes_from_its_entry_point():
    selection = select_questions(QuestionSource(source="organism", n=8))
    assert all(q.source == "organism" for q in selection.questions)


FACT = {"id": "q", "kind": "fact", "question": "Capital of France?", "answer": "Paris"}
BROKEN_FILES = [
    ("empty.jsonl", "", r"empty\.jsonl holds no questions\. Fix: point at a non-empty file"),
    (
        "bad.jsonl",
        f"{json.dumps(FACT)}\n{json.dumps(FACT)}\n{{oops\n",
        r"bad\.jsonl:3: not valid JSON \(.*\)\. Fix this line",
    ),
    (
        "fields.jsonl",
        json.dumps({"id": "q", "kind": "fact", "question": "q?"}) + "\n",
        r"fields\.jsonl:1: missing field 'answer'\. Fix this line",
    ),
    (
        "columns.csv",
        "question,answer\nCapital of France?,Paris\n",
        r"columns\.csv:1: expected question, at least two options and an answer letter "
        r"\(>= 4 columns, no header row\), found 2\. Fix the row",
    ),
    ("empty.csv", "", r"empty\.csv holds no questions"),
]


@pytest.mark.parametrize(("name", "content", "message"), BROKEN_FILES)
def test_a_question_file_is_parsed_when_it_is_checked(
    tmp_path: Path, name: str, content: str, message: str
):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DatasetFormatError, match=message):
        check_question_source(str(path))


@pytest.mark.parametrize(("name", "content", "message"), BROKEN_FILES[:2])
@pytest.mark.parametrize("door", [evaluate.parse_args, patch.parse_args])
def test_a_broken_question_file_is_a_usage_error_before_any_model_loads(
    tmp_path: Path,
    door: Callable[..., object],
    name: str,
    content: str,
    message: str,
    usage_error: Callable[..., str],
):
    path = tmp_path / name
    path.write_text(content)
    argv = ["--model", "organism-mha", "--questions", str(path), "--out", str(tmp_path / "o.json")]
    assert re.search(message, usage_error(door, argv))
