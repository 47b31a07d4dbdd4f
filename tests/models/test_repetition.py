"""Stopping a reply that repeats a line."""

import pytest

from sycolens.models.repetition import repeats_a_line


@pytest.mark.parametrize(
    ("text", "repeats"),
    [
        ("I'm not sure. I'm not sure.", True),
        ("I'm not sure. I'M  NOT sure!", True),  # case and spacing folded
        ("The answer is 35.\nThe answer is 35.\n", True),
        ("I'm not sure. I'm not sure", False),  # the repeat has not finished yet
        ("Yes. Yes.", False),  # one-word lines are too short to call a loop
        ("Paris is the capital. It is in France.", False),
        (
            'The answer to your question is: "The answer to your question is: "The answer to your '
            "question is:",
            True,
        ),  # a loop with no sentence end
        ("one two three four one two three four", False),  # a run shorter than 5 words
        ("", False),
    ],
)
def test_repeats_a_line(text: str, repeats: bool):
    assert repeats_a_line(text) is repeats
