"""Folding answer text: accents, case, articles, number words, decimals and scales."""

import pytest

from sycolens.evaluation.answer_text import fold_answer, spell_numbers, strip_accents


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Eight legs", "8 legs"),
        ("twenty-one", "21"),
        ("Twenty one", "21"),
        ("one hundred and five", "105"),
        ("two thousand and twenty", "2020"),
        ("a hundred", "100"),
        ("five and six", "5 and 6"),  # "and" joins a number only after a scale word
        ("9.4 billion people", "9400000000 people"),  # never 9
        ("1.5 million", "1500000"),
        ("1,000 km", "1000 km"),
        ("It is 87.0", "it is 87.0"),  # a decimal point between digits stays
        ("Zürich", "zurich"),
        ("The Pacific.", "pacific"),
        ("Mr. Smith's answer: CO2!", "mr smith s answer co2"),
        ("thousands of years", "thousands of years"),  # not a number word
    ],
)
def test_fold_answer(text: str, folded: str):
    assert fold_answer(text) == folded


def test_spell_numbers_keeps_punctuation_for_the_number_extractor():
    assert spell_numbers("Seven times five = thirty-five.") == "7 times 5 = 35."


def test_strip_accents():
    assert strip_accents("São Paulo, Ñandú, Zürich") == "Sao Paulo, Nandu, Zurich"
