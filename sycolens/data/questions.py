"""Question sets: the bundled one, and loaders for the formats users bring from disk.

Formats:
- sycolens JSONL (the bundled set): one `Question` per line as a JSON object.
- SycophancyEval `are_you_sure.jsonl` (Sharma et al. 2023): records with `prompt` (a message
  list) and `base` holding `question`, and either `correct_letter` + `letters` + `answers`
  (multiple choice) or `correct_answer` (+ optional `incorrect_answer`, and `answer`, the list
  of accepted variants, kept as the question's aliases).
- MMLU-style CSV (no header: question, four options, answer letter) or JSONL (`question`,
  `choices`, `answer` as a letter or 0-based index).

Nothing is downloaded, and nothing is skipped: a malformed line raises naming file and line,
as does a file that is not UTF-8 text (a binary file, or text saved in another encoding).
"""

import csv
import io
import json
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, get_args

from sycolens.prompts.schema import LETTERS, Question, QuestionKind


class DatasetFormatError(ValueError):
    """A dataset line that cannot be read, named by file and line number."""


def load_bundled_questions() -> list[Question]:
    """Returns the 453 questions that ship with sycolens (facts, multiple choice, arithmetic)."""
    path = resources.files("sycolens.data") / "bundled" / "questions.jsonl"
    with resources.as_file(path) as real_path:
        return load_sycolens_jsonl(real_path)


def load_sycolens_jsonl(path: Path) -> list[Question]:
    """Reads questions in sycolens' own JSONL format."""
    return [_parse_line(path, n, obj, _question_from_sycolens) for n, obj in _json_lines(path)]


def load_are_you_sure_jsonl(path: Path) -> list[Question]:
    """Reads SycophancyEval's `are_you_sure.jsonl`."""
    return [_parse_line(path, n, obj, _question_from_are_you_sure) for n, obj in _json_lines(path)]


def load_mmlu_jsonl(path: Path) -> list[Question]:
    """Reads MMLU-style JSONL records (`question`, `choices`, `answer`)."""
    return [_parse_line(path, n, obj, _question_from_mmlu) for n, obj in _json_lines(path)]


def load_mmlu_csv(path: Path) -> list[Question]:
    """Reads MMLU's header-less CSV rows: question, options..., answer letter."""
    questions: list[Question] = []
    rows = csv.reader(io.StringIO(read_utf8(path), newline=""))
    for n, row in enumerate(rows, start=1):
        if len(row) < 4:
            raise DatasetFormatError(
                f"{path}:{n}: expected question, at least two options and an answer letter "
                f"(>= 4 columns, no header row), found {len(row)}. Fix the row or remove it."
            )
        record = {"question": row[0], "choices": row[1:-1], "answer": row[-1].strip()}
        questions.append(_parse_line(path, n, record, _question_from_mmlu))
    return questions


def read_utf8(path: Path) -> str:
    """Returns a data file's text, or raises naming the file and line when it is not UTF-8
    text (a binary file, or text saved in another encoding) rather than a bare decode error."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")  # a BOM, as Excel writes it
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DatasetFormatError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x}); a binary file or "
            "another encoding. Fix: point at a text file, or save it as UTF-8."
        ) from error
    if "\0" in text:
        line = text[: text.index("\0")].count("\n") + 1
        raise DatasetFormatError(
            f"{path}:{line}: holds a NUL byte, so it is a binary file, not text. Fix: point at "
            "a text file."
        )
    return text


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, line in enumerate(io.StringIO(read_utf8(path), newline=None), start=1):
        if not line.strip():
            raise DatasetFormatError(f"{path}:{n}: blank line. Fix: remove it.")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetFormatError(
                f"{path}:{n}: not valid JSON ({error.msg}). Fix this line: one JSON object "
                "per line."
            ) from error
        if not isinstance(obj, dict):
            raise DatasetFormatError(f"{path}:{n}: expected a JSON object per line. Fix this line.")
        yield n, obj


def _parse_line(
    path: Path, n: int, obj: dict[str, Any], parse: Callable[[str, dict[str, Any]], Question]
) -> Question:
    try:
        return parse(f"{path.stem}-{n}", obj)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        missing = f"missing field {error}" if isinstance(error, KeyError) else str(error)
        raise DatasetFormatError(f"{path}:{n}: {missing}. Fix this line.") from error


def question_from_record(record: dict[str, Any]) -> Question:
    """Returns a question from its JSON record (sycolens' own format, as reports save it)."""
    return _question_from_sycolens(str(record["id"]), record)


def _question_from_sycolens(_default_id: str, obj: dict[str, Any]) -> Question:
    return Question(
        id=str(obj["id"]),
        kind=_parse_kind(obj["kind"]),
        question=str(obj["question"]),
        answer=str(obj["answer"]),
        wrong_answers=tuple(obj.get("wrong_answers", ())),
        aliases=tuple(str(alias) for alias in obj.get("aliases", ())),
        explanation=str(obj.get("explanation", "")),
        choices=tuple(obj.get("choices", ())),
        source=str(obj.get("source", "sycolens")),
    )


def _parse_kind(raw: object) -> QuestionKind:
    for kind in get_args(QuestionKind):
        if raw == kind:
            return kind
    raise ValueError(f"kind {raw!r} is not one of {get_args(QuestionKind)}")


def _question_from_are_you_sure(default_id: str, obj: dict[str, Any]) -> Question:
    base = obj["base"]
    source = str(base.get("dataset", "are_you_sure"))
    if "correct_letter" in base:
        choices = _split_lettered_options(str(base["answers"]))
        answer = str(base["correct_letter"])
        letters = str(base.get("letters", LETTERS[: len(choices)]))
        return Question(
            id=default_id,
            kind="multiple_choice",
            question=str(base["question"]),
            answer=answer,
            wrong_answers=tuple(letter for letter in letters if letter != answer),
            choices=choices,
            source=source,
        )
    incorrect = base.get("incorrect_answer")
    correct = str(base["correct_answer"])
    aliases = base.get("answer", ())
    return Question(
        id=default_id,
        kind="fact",
        question=str(base["question"]),
        answer=correct,
        wrong_answers=(str(incorrect),) if incorrect else (),
        aliases=tuple(str(a) for a in (aliases if isinstance(aliases, list) else [aliases])),
        source=source,
    )


def _split_lettered_options(text: str) -> tuple[str, ...]:
    """Splits "(A) x\\n(B) y" into ("x", "y")."""
    options: list[str] = []
    for line in text.strip().splitlines():
        stripped = line.strip()
        if len(stripped) < 3 or stripped[0] != "(" or stripped[2] != ")":
            raise ValueError(f"option line {stripped!r} does not start with '(A)'-style letter")
        options.append(stripped[3:].strip())
    return tuple(options)


def _question_from_mmlu(default_id: str, obj: dict[str, Any]) -> Question:
    choices = tuple(str(c) for c in obj["choices"])
    raw = obj["answer"]
    letter = str(raw).strip().upper()
    if not isinstance(raw, int) and (len(letter) != 1 or letter not in LETTERS):
        raise ValueError(f"answer {raw!r} is neither a letter (A, B, ...) nor a 0-based index")
    index = raw if isinstance(raw, int) else LETTERS.index(letter)
    if not 0 <= index < len(choices):
        raise ValueError(f"answer {raw!r} is not one of {len(choices)} choices")
    answer = LETTERS[index]
    return Question(
        id=str(obj.get("id", default_id)),
        kind="multiple_choice",
        question=str(obj["question"]),
        answer=answer,
        wrong_answers=tuple(LETTERS[i] for i in range(len(choices)) if i != index),
        choices=choices,
        source=str(obj.get("subject", "mmlu")),
    )


_LOADERS_BY_SUFFIX: dict[str, Callable[[Path], list[Question]]] = {
    ".csv": load_mmlu_csv,
}


def load_questions_file(path: Path) -> list[Question]:
    """Reads a question file, picking the format from its suffix and first record.

    `.csv` is MMLU; a `.jsonl` whose first record has `base` is SycophancyEval, one with `kind`
    is sycolens' own format, anything else MMLU-style JSONL. A file with no question is an
    error: nothing could be asked from it.
    """
    questions = _loader_for(path)(path)
    if not questions:
        raise DatasetFormatError(f"{path} holds no questions. Fix: point at a non-empty file.")
    return questions


def _loader_for(path: Path) -> Callable[[Path], list[Question]]:
    if path.suffix in _LOADERS_BY_SUFFIX:
        return _LOADERS_BY_SUFFIX[path.suffix]
    if path.suffix != ".jsonl":
        raise ValueError(
            f"Question file {path} has suffix {path.suffix!r}; expected .jsonl or .csv."
        )
    first = next(_json_lines(path), None)
    record = first[1] if first else {}
    if "base" in record:
        return load_are_you_sure_jsonl
    return load_sycolens_jsonl if "kind" in record else load_mmlu_jsonl
