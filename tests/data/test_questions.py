"""Question sets: the bundled set is well-formed; loaders name file and line on bad input."""

import json
from pathlib import Path

import pytest

from sycolens.data.bundled import build
from sycolens.data.questions import (
    DatasetFormatError,
    load_are_you_sure_jsonl,
    load_bundled_questions,
    load_mmlu_csv,
    load_mmlu_jsonl,
    load_questions_file,
    load_sycolens_jsonl,
)
from sycolens.prompts.schema import Question


def test_bundled_set_has_a_few_hundred_unique_valid_questions():
    questions = load_bundled_questions()
    assert len(questions) == 453
    assert len({q.id for q in questions}) == 453
    kinds = {kind: sum(q.kind == kind for q in questions) for kind in ("fact", "arithmetic")}
    assert kinds == {"fact": 207, "arithmetic": 180}
    assert all(q.wrong_answers and q.answer not in q.wrong_answers for q in questions)
    assert all(q.explanation for q in questions)
    assert sum(bool(q.aliases) for q in questions) >= 40


def test_bundled_arithmetic_answers_are_correct():
    for q in load_bundled_questions():
        if q.kind == "arithmetic":
            expression = q.question.removeprefix("What is ").removesuffix("?")
            assert str(eval(expression)) == q.answer, q.id  # noqa: S307 - our own fixed data


def _write_lines(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_are_you_sure_multiple_choice_and_free_form(tmp_path: Path):
    path = _write_lines(
        tmp_path / "are_you_sure.jsonl",
        [
            {
                "prompt": [{"type": "human", "content": "..."}],
                "base": {
                    "dataset": "mmlu_mc_cot",
                    "question": "Which is a mammal?",
                    "correct_letter": "B",
                    "letters": "AB",
                    "answers": "(A) shark\n(B) dolphin",
                },
            },
            {
                "prompt": [{"type": "human", "content": "..."}],
                "base": {
                    "dataset": "trivia_qa",
                    "question": "Capital of France?",
                    "correct_answer": "Paris",
                    "incorrect_answer": "Lyon",
                },
            },
        ],
    )
    mc, free = load_are_you_sure_jsonl(path)
    assert (mc.kind, mc.answer, mc.choices, mc.wrong_answers) == (
        "multiple_choice",
        "B",
        ("shark", "dolphin"),
        ("A",),
    )
    assert mc.answer_text() == "(B) dolphin"
    assert (free.kind, free.answer, free.wrong_answers, free.source) == (
        "fact",
        "Paris",
        ("Lyon",),
        "trivia_qa",
    )


def test_malformed_json_names_file_and_line(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"base": {"question": "q", "correct_answer": "a"}}\n{oops\n')
    with pytest.raises(DatasetFormatError, match=r"bad\.jsonl:2: not valid JSON"):
        load_are_you_sure_jsonl(path)


def test_missing_field_names_file_line_and_field(tmp_path: Path):
    path = _write_lines(tmp_path / "ays.jsonl", [{"base": {"question": "q"}}])
    with pytest.raises(DatasetFormatError, match=r"ays\.jsonl:1: missing field 'correct_answer'"):
        load_are_you_sure_jsonl(path)


def test_blank_line_is_not_skipped_silently(tmp_path: Path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "q", "choices": ["a", "b"], "answer": 1}\n\n')
    with pytest.raises(DatasetFormatError, match=r"q\.jsonl:2: blank line"):
        load_mmlu_jsonl(path)


def test_mmlu_jsonl_accepts_letters_and_indices(tmp_path: Path):
    path = _write_lines(
        tmp_path / "mmlu.jsonl",
        [
            {"question": "q1", "choices": ["a", "b", "c"], "answer": 2},
            {"question": "q2", "choices": ["a", "b", "c"], "answer": "a"},
        ],
    )
    first, second = load_mmlu_jsonl(path)
    assert (first.answer, second.answer) == ("C", "A")


def test_mmlu_answer_out_of_range_names_line(tmp_path: Path):
    path = _write_lines(tmp_path / "m.jsonl", [{"question": "q", "choices": ["a"], "answer": 3}])
    with pytest.raises(DatasetFormatError, match=r"m\.jsonl:1: answer 3 is not one of 1 choices"):
        load_mmlu_jsonl(path)


def test_mmlu_csv(tmp_path: Path):
    path = tmp_path / "astronomy_test.csv"
    path.write_text('"Largest planet?",Mars,Jupiter,Venus,Earth,B\nshort,row\n')
    with pytest.raises(DatasetFormatError, match=r"astronomy_test\.csv:2: expected question"):
        load_mmlu_csv(path)
    path.write_text('"Largest planet?",Mars,Jupiter,Venus,Earth,B\n')
    (question,) = load_mmlu_csv(path)
    assert (question.answer, question.choices[1]) == ("B", "Jupiter")


def test_sycolens_jsonl_round_trip(tmp_path: Path):
    record = {"id": "x", "kind": "fact", "question": "q?", "answer": "a", "wrong_answers": ["b"]}
    (question,) = load_sycolens_jsonl(_write_lines(tmp_path / "mine.jsonl", [record]))
    assert question == Question(
        id="x", kind="fact", question="q?", answer="a", wrong_answers=("b",)
    )


def test_question_without_answer_or_bad_kind_is_an_error(tmp_path: Path):
    with pytest.raises(ValueError, match=r"Question 'x' has no correct answer"):
        Question(id="x", kind="fact", question="q", answer=" ")
    path = _write_lines(
        tmp_path / "k.jsonl", [{"id": "x", "kind": "essay", "question": "q", "answer": "a"}]
    )
    with pytest.raises(DatasetFormatError, match=r"k\.jsonl:1: kind 'essay' is not one of"):
        load_sycolens_jsonl(path)
    with pytest.raises(ValueError, match=r"is arithmetic but its answer 'twelve' is not a number"):
        Question(id="x", kind="arithmetic", question="7 + 5?", answer="twelve")
    with pytest.raises(ValueError, match=r"answer 'C' is not a letter of its 2 choices"):
        Question(id="x", kind="multiple_choice", question="q", answer="C", choices=("a", "b"))


def test_files_that_hold_no_questions_or_the_wrong_shape_are_named(tmp_path: Path):
    not_objects = tmp_path / "x.jsonl"
    not_objects.write_text("[1, 2]\n")
    with pytest.raises(DatasetFormatError, match=r"x\.jsonl:1: expected a JSON object per line"):
        load_mmlu_jsonl(not_objects)
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    with pytest.raises(DatasetFormatError, match=r"e\.jsonl holds no questions"):
        load_questions_file(empty)
    with pytest.raises(ValueError, match=r"has suffix '\.txt'; expected \.jsonl or \.csv"):
        load_questions_file(tmp_path / "q.txt")


def test_an_are_you_sure_option_without_its_letter_names_the_line(tmp_path: Path):
    path = tmp_path / "ays.jsonl"
    base = {"question": "q", "answers": "A) x\n(B) y", "correct_letter": "A"}
    path.write_text(json.dumps({"base": base}) + "\n")
    with pytest.raises(DatasetFormatError, match=r"ays\.jsonl:1: option line 'A\) x' does not"):
        load_are_you_sure_jsonl(path)


def test_a_question_of_an_unknown_kind_is_refused():
    # Under the tests' runtime type checker the constructor refuses the kind first, so the
    # check users without one rely on is run directly.
    question = Question(id="x", kind="fact", question="q", answer="a")
    object.__setattr__(question, "kind", "essay")
    with pytest.raises(ValueError, match=r"Question 'x': kind 'essay' is not one of"):
        question.__post_init__()


def test_the_committed_bundled_file_is_what_its_generator_writes():
    committed = (Path(build.__file__).parent / "questions.jsonl").read_text()
    assert committed == build.questions_jsonl(), (
        "sycolens/data/bundled/questions.jsonl was edited by hand or its generator changed. "
        "Fix: edit sycolens/data/bundled/build.py and run python -m sycolens.data.bundled.build."
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("latin1.jsonl", b'{"question": "caf\xe9"}\n', r"latin1\.jsonl:1: not UTF-8 text \(byte "
         r"0xe9\); a binary file or another encoding\. Fix: point at a text file, or save it"),
        ("late.csv", b"q,a,b,A\nq,a,b,\xff\n", r"late\.csv:2: not UTF-8 text \(byte 0xff\)"),
        ("zeros.jsonl", b"\0\0\0\0", r"zeros\.jsonl:1: holds a NUL byte, so it is a binary file"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_utf8_text_is_named_not_a_decode_error(
    tmp_path: Path, name: str, content: bytes, message: str
):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetFormatError, match=message):
        load_questions_file(path)


def test_a_utf8_file_with_a_byte_order_mark_reads(tmp_path: Path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffWhich?,a,b,B\n".encode())
    (question,) = load_questions_file(path)
    assert (question.question, question.answer) == ("Which?", "B")


@pytest.mark.parametrize("answer", ["", "AB", "answer"])
def test_an_mmlu_answer_that_is_not_one_letter_is_refused(tmp_path: Path, answer: str):
    # LETTERS.index("") is 0 and LETTERS.index("BC") is 1: neither may pass as an answer.
    path = tmp_path / "m.csv"
    path.write_text(f"q,a,b,{answer}\n")
    with pytest.raises(
        DatasetFormatError, match=r"m\.csv:1: answer '\w*' is neither a letter .* Fix this line"
    ):
        load_mmlu_csv(path)


def test_an_empty_csv_holds_no_questions(tmp_path: Path):
    path = tmp_path / "e.csv"
    path.write_text("")
    with pytest.raises(DatasetFormatError, match=r"e\.csv holds no questions. Fix: point at"):
        load_questions_file(path)
