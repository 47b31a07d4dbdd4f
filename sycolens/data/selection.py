"""One way to choose questions: (source, n, seed) -> a seeded, de-duplicated, kind-stratified set.

Every CLI, the demo and the library choose questions here, and every JSON they write records
the selection (`QuestionSelection.summary`: source, seed, the chosen ids and their SHA-256), so
any result can be reproduced.

How: the source's questions (a named set or a file) are de-duplicated (the same question and
options, compared without case and spacing; the first kept, the count reported), then put in a
seeded stratified order: each kind is shuffled with the seed, and the i-th question of a kind
with c questions gets the key (i + 0.5) / c. Sorting by key interleaves the kinds, so every
prefix holds each kind in proportion to the pool (within one question): the bundled set's first
rows are all capital cities, its first 64 in this order are facts, choices and sums. A
selection is the first n of the order after `skip` questions, so the next ones are a disjoint
selection of the same mix. Asking for more questions than a source has uses all of them, and
the selection says how many it used.
"""

import hashlib
import json
import random
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sycolens.data.questions import load_questions_file
from sycolens.data.sets import find_question_set, question_set, question_set_names
from sycolens.prompts.schema import Question

QUESTION_FILE_SUFFIXES = (".jsonl", ".csv")


@dataclass(frozen=True, kw_only=True)
class QuestionSource:
    """Which questions to use: a set name or file, how many (None: all) and the order's seed."""

    source: str = "bundled"
    n: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n is not None and self.n < 1:
            raise ValueError(
                f"Asked for {self.n} questions of {self.source}. Fix: ask for at least 1 "
                "(or leave the count out to use them all)."
            )


@dataclass(frozen=True)
class QuestionSelection:
    """The chosen questions and everything needed to choose them again."""

    questions: tuple[Question, ...]
    source: str
    seed: int
    n_requested: int | None
    n_available: int
    n_duplicates: int
    skip: int
    n_excluded: int = 0

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.questions)

    def sha256(self) -> str:
        """Returns the SHA-256 of the chosen questions' full records, in order."""
        return sha256_of([asdict(q) for q in self.questions])

    def kind_counts(self) -> dict[str, int]:
        return dict(Counter(q.kind for q in self.questions))

    def summary(self) -> dict[str, Any]:
        """Returns the selection as JSON data: enough to choose the same questions again."""
        return {
            "source": self.source,
            "seed": self.seed,
            "skip": self.skip,
            "n_excluded": self.n_excluded,
            "n_requested": self.n_requested,
            "n_used": len(self.questions),
            "n_available": self.n_available,
            "n_duplicates_dropped": self.n_duplicates,
            "kinds": self.kind_counts(),
            "question_ids": list(self.ids),
            "sha256": self.sha256(),
        }


@dataclass(frozen=True, kw_only=True)
class RecordedSelection:
    """A selection as a result file records it (`QuestionSelection.summary`), read back: what
    a held-out selection needs to pass over the questions a result was made on."""

    source: str
    seed: int
    skip: int
    n_excluded: int
    n_used: int
    question_ids: tuple[str, ...]

    @classmethod
    def from_json(cls, summary: Any, where: str | Path) -> "RecordedSelection":
        """Returns the selection recorded in `where` (a file, or a result), or raises naming it."""
        try:
            fields: dict[str, Any] = dict(summary)
            return cls(
                source=str(fields["source"]),
                seed=int(fields["seed"]),
                skip=int(fields["skip"]),
                n_excluded=int(fields.get("n_excluded", 0)),
                n_used=int(fields["n_used"]),
                question_ids=tuple(str(i) for i in fields.get("question_ids", ())),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"{where} records no intact question selection under 'questions' (source, seed, "
                f"skip, n_used; {type(error).__name__}: {error}): the file is damaged. Fix: "
                "write it again with the sycolens command that made it."
            ) from error

    @property
    def n_passed(self) -> int:
        """Returns how many questions of the order the selection went through."""
        return self.skip + self.n_excluded + self.n_used


def selection_note(summary: dict[str, Any]) -> str:
    """Returns one line saying which questions a selection summary holds, for CLIs to print."""
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(summary["kinds"].items()))
    used, asked = summary["n_used"], summary["n_requested"]
    whole = asked is not None and asked > used
    extras = [f"seed {summary['seed']}"]
    if whole:
        extras.append(f"{asked} asked for, all used")
    if summary["n_duplicates_dropped"]:
        extras.append(f"{summary['n_duplicates_dropped']} duplicates dropped")
    if summary["skip"]:
        extras.append(f"after the first {summary['skip']}")
    if summary.get("n_excluded"):
        extras.append(f"{summary['n_excluded']} used for the ranking passed over")
    return (
        f"{used} of {summary['n_available']} questions of {summary['source']} ({kinds}; "
        f"{'; '.join(extras)})"
    )


def check_question_source(source: str) -> None:
    """Raises when `source` is neither a known set nor a readable question file.

    CLIs call it while parsing flags, so a typo, an empty file or a malformed line fails in a
    second (naming the file, the line and the fix) rather than after the model has loaded. A
    file is parsed whole to check it (question files are small); a named set is not loaded.
    """
    if find_question_set(source) is None:
        _load_question_file(source)


def load_question_pool(source: str) -> list[Question]:
    """Returns every question of a named set or a question file, in the source's own order."""
    if find_question_set(source) is not None:
        return question_set(source).load_questions()
    return _load_question_file(source)


def _load_question_file(source: str) -> list[Question]:
    """Returns the questions of the file `source` names, or says why it names none."""
    path = Path(source).expanduser()
    if path.suffix not in QUESTION_FILE_SUFFIXES:
        raise ValueError(
            f"Unknown question set {source!r}. Known sets: {', '.join(question_set_names())}. "
            "Fix: name one of them, or pass a .jsonl or .csv question file."
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"Question file {path} does not exist. Fix: check the path, or name a set "
            f"({', '.join(question_set_names())})."
        )
    return load_questions_file(path)


def deduplicate(questions: list[Question]) -> tuple[list[Question], int]:
    """Returns the questions with repeats dropped (first kept) and how many were dropped."""
    kept: dict[str, Question] = {}
    for question in questions:
        kept.setdefault(_identity(question), question)
    return list(kept.values()), len(questions) - len(kept)


def stratified_order(questions: list[Question], seed: int) -> list[Question]:
    """Returns the questions in the seeded, kind-interleaved order of the module doc."""
    by_kind: dict[str, list[Question]] = {}
    for question in questions:
        by_kind.setdefault(question.kind, []).append(question)
    keyed: list[tuple[float, int, Question]] = []
    for rank, kind in enumerate(sorted(by_kind)):
        members = by_kind[kind]
        random.Random(f"{seed}:{kind}").shuffle(members)
        keyed += [((i + 0.5) / len(members), rank, q) for i, q in enumerate(members)]
    keyed.sort(key=lambda item: item[:2])
    return [question for _, _, question in keyed]


def select_questions(
    source: QuestionSource, *, skip: int = 0, exclude: frozenset[str] = frozenset()
) -> QuestionSelection:
    """Returns the first `source.n` questions of the stratified order after `skip` of them.

    Questions whose id is in `exclude` (say, those a head ranking was made on) are passed
    over and counted, so a held-out selection never reuses them.
    """
    pool, n_duplicates = deduplicate(load_question_pool(source.source))
    after_skip = stratified_order(pool, source.seed)[skip:]
    ordered = [question for question in after_skip if question.id not in exclude]
    if not ordered:
        raise ValueError(
            f"{source.source} has {len(pool)} distinct questions, none left after the first "
            f"{skip} and {len(exclude)} excluded ones. Fix: ask for fewer questions, or use "
            "another source."
        )
    chosen = ordered if source.n is None else ordered[: source.n]
    return QuestionSelection(
        questions=tuple(chosen),
        source=source.source,
        seed=source.seed,
        n_requested=source.n,
        n_available=len(pool),
        n_duplicates=n_duplicates,
        skip=skip,
        n_excluded=len(after_skip) - len(ordered),
    )


def _identity(question: Question) -> str:
    parts = [question.question, *question.choices]
    return "\n".join(" ".join(part.casefold().split()) for part in parts)


def sha256_of(value: Any) -> str:
    """Returns the SHA-256 of a JSON-serialisable value (keys sorted)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
