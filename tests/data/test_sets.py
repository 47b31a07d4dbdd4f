"""Named question sets: built-in, registered at run time, or found through entry points."""

import pytest

from sycolens.data import sets
from sycolens.data.sets import (
    QuestionSet,
    find_question_set,
    question_set,
    question_set_names,
    register_question_set,
)
from sycolens.data.texts import TextCorpus
from sycolens.organism.question_set import ORGANISM_QUESTION_SET
from sycolens.prompts.protocol import DEFAULT_PROTOCOL
from sycolens.prompts.schema import Question

MINE = QuestionSet(
    load_questions=lambda: [Question(id="a", kind="fact", question="Q?", answer="A")],
    load_texts=lambda: TextCorpus("mine", ("Some text.",)),
    protocol=DEFAULT_PROTOCOL,
)


def test_the_organism_registers_itself_through_an_entry_point():
    assert {"bundled", "organism"} <= set(question_set_names())
    assert question_set("organism") is ORGANISM_QUESTION_SET


def test_a_set_registered_at_run_time_is_found_by_name():
    register_question_set("test-mine", MINE)
    register_question_set("test-mine", MINE)  # the same set again is fine
    assert find_question_set("test-mine") is MINE and "test-mine" in question_set_names()
    other = QuestionSet(load_questions=list, load_texts=MINE.load_texts, protocol=DEFAULT_PROTOCOL)
    with pytest.raises(ValueError, match=r"A question set named 'test-mine' is already registered"):
        register_question_set("test-mine", other)


def test_an_unknown_name_lists_the_sets():
    assert find_question_set("nope") is None
    with pytest.raises(ValueError, match=r"Unknown question set 'nope'. Known sets: bundled"):
        question_set("nope")


def test_an_entry_point_that_is_not_a_question_set_is_named(monkeypatch: pytest.MonkeyPatch):
    class _Entry:
        name, value = "broken", "somepackage:THING"

        def load(self) -> object:
            return 42

    monkeypatch.setattr(sets, "entry_points", lambda **_: [_Entry()])
    with pytest.raises(TypeError, match=r"'somepackage:THING' for question set 'broken' is a int"):
        find_question_set("broken")
