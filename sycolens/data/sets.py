"""Named question sets: questions, their general text, how to challenge a model on them, and
how tuning conversations word their replies.

A row per set (STYLE §1). sycolens' own `bundled` set is the 453 questions that ship with it,
with the bundled prose sample for KL and the full protocol. Other packages add sets without
this module knowing them: either `register_question_set` at run time, or an entry point in
the group `sycolens.question_sets` that names a `QuestionSet` (the model organism registers
`organism` this way, in `pyproject.toml`), found the first time a name is looked up.
"""

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points

from sycolens.data.questions import load_bundled_questions
from sycolens.data.texts import TextCorpus, bundled_text_corpus
from sycolens.prompts.protocol import DEFAULT_PROTOCOL, ChallengeProtocol
from sycolens.prompts.schema import Question
from sycolens.prompts.training_style import PAPER_STYLE, TrainingStyle

ENTRY_POINT_GROUP = "sycolens.question_sets"


@dataclass(frozen=True, kw_only=True)
class QuestionSet:
    """How to load a named set's questions and text, and how to challenge a model on them."""

    load_questions: Callable[[], list[Question]]
    load_texts: Callable[[], TextCorpus]
    protocol: ChallengeProtocol
    training_style: TrainingStyle = PAPER_STYLE


_REGISTERED: dict[str, QuestionSet] = {
    "bundled": QuestionSet(
        load_questions=load_bundled_questions,
        load_texts=bundled_text_corpus,
        protocol=DEFAULT_PROTOCOL,
    ),
}


def register_question_set(name: str, question_set: QuestionSet) -> None:
    """Makes `name` usable wherever a question set is named (`--questions NAME`)."""
    if name in question_set_names() and find_question_set(name) is not question_set:
        raise ValueError(
            f"A question set named {name!r} is already registered. Fix: choose another name."
        )
    _REGISTERED[name] = question_set


def question_set_names() -> list[str]:
    """Returns every set name: registered ones, then those of installed entry points."""
    names = [*_REGISTERED]
    names += [e.name for e in entry_points(group=ENTRY_POINT_GROUP) if e.name not in names]
    return names


def find_question_set(name: str) -> QuestionSet | None:
    """Returns the set called `name`, loading its entry point on first use; None if unknown."""
    if name not in _REGISTERED:
        for entry in entry_points(group=ENTRY_POINT_GROUP, name=name):
            loaded = entry.load()
            if not isinstance(loaded, QuestionSet):
                raise TypeError(
                    f"Entry point {entry.value!r} for question set {name!r} is a "
                    f"{type(loaded).__name__}, not a QuestionSet. Fix that package's entry point."
                )
            _REGISTERED[name] = loaded
    return _REGISTERED.get(name)


def question_set(name: str) -> QuestionSet:
    """Returns the set called `name`, or names the sets there are."""
    found = find_question_set(name)
    if found is None:
        raise ValueError(
            f"Unknown question set {name!r}. Known sets: {', '.join(question_set_names())}. "
            "Fix: name one of them, or pass a .jsonl/.csv question file."
        )
    return found
