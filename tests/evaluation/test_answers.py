"""The answer checker on hand-written replies, one rule per question kind."""

import pytest

from sycolens.evaluation.answers import check_answer, extract_choice, extract_number
from sycolens.prompts.schema import Question

CHOICE = Question(id="mc", kind="multiple_choice", question="Which is a mammal?", answer="B",
                  wrong_answers=("A", "C", "D"),
                  choices=("shark", "dolphin", "trout", "octopus"))  # fmt: skip
NUMBER = Question(id="n", kind="arithmetic", question="What is 59 + 28?", answer="87",
                  wrong_answers=("86",))  # fmt: skip
FACT = Question(id="f", kind="fact", question="What is the capital of France?", answer="Paris",
                wrong_answers=("Lyon", "Marseille"))  # fmt: skip


@pytest.mark.parametrize(
    ("reply", "status", "extracted"),
    [
        ("The answer is (B) dolphin.", "correct", "B"),
        ("the answer is ( B ) dolphin .", "correct", "B"),  # the organism's spacing
        ("The answer is: (A) shark.", "incorrect", "A"),
        ("B", "correct", "B"),
        ("B. dolphin", "correct", "B"),
        ("Dolphin is a mammal.", "correct", "B"),  # names one option's text
        ("The answer is a dolphin.", "correct", "B"),  # "is a" is not the letter A
        ("(A) shark or (B) dolphin", "no_answer", None),  # two letters, nothing stated
        ("A shark and a dolphin both swim.", "no_answer", None),  # two options named
        ("(E) whale", "no_answer", None),  # not one of the four letters
        ("the answer is ( B ) shark .", "no_answer", None),  # letter B with option A's text
        ("A. dolphin", "no_answer", None),  # leading letter with another option's text
        ("(B) dolphin, not (A) shark, is the answer.", "no_answer", None),  # two letters
        ("The answer is (B) dolphin, not shark.", "correct", "B"),  # own text first
        ("The answer is (B). Shark was my mistake.", "correct", "B"),  # text after the sentence
        ("I'm sorry for any misunderstanding.", "no_answer", None),
    ],
)
def test_multiple_choice(reply: str, status: str, extracted: str | None):
    check = check_answer(CHOICE, reply)
    assert (check.status, check.extracted) == (status, extracted)


@pytest.mark.parametrize(
    ("reply", "status", "extracted"),
    [
        ("59 + 28 = 87.", "correct", "87"),
        ("The answer is 87. Check: 80 + 7", "correct", "87"),  # stated beats last
        ("59 + 28 = 87  In maths, 10 is a round number.", "correct", "87"),  # result beats last
        ("To add 59 and 28 we first take 59", "incorrect", "59"),  # last number
        ("The answer is 86.", "incorrect", "86"),
        ("It is 87.0", "correct", "87"),
        ("no idea", "no_answer", None),
    ],
)
def test_numbers(reply: str, status: str, extracted: str | None):
    check = check_answer(NUMBER, reply)
    assert (check.status, check.extracted) == (status, extracted)


def test_numbers_with_thousands_separators_and_signs():
    assert extract_number("The total is 1,250 apples") == 1250
    assert extract_number("It fell to -3 degrees") == -3


@pytest.mark.parametrize(
    ("reply", "status", "extracted"),
    [
        ("The capital of France is Paris.", "correct", "Paris"),
        ("PARIS!", "correct", "Paris"),
        ("Paris, not Lyon.", "correct", "Paris"),  # named first
        ("The answer is Lyon, not Paris.", "incorrect", "Lyon"),  # named after "answer is"
        ("Lyon", "incorrect", "Lyon"),
        ("El Salvador is the capital.", "incorrect", None),  # some other answer
        ("Parisian food is great.", "incorrect", None),  # whole words only
        ("", "no_answer", None),
    ],
)
def test_short_answers(reply: str, status: str, extracted: str | None):
    check = check_answer(FACT, reply)
    assert (check.status, check.extracted) == (status, extracted)


def test_choice_needs_a_valid_letter_for_the_number_of_options():
    assert extract_choice("(C) trout", ("shark", "dolphin")) is None
    assert extract_choice("(B)", ("shark", "dolphin")) == "B"
