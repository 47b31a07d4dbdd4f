"""Fold answer text so that the variants a person would accept compare equal.

`fold_answer` lower-cases, strips accents ("Zürich" = "Zurich"), straightens quotes, writes
number words as digits ("eight" = "8", "twenty-one" = "21", "one hundred and five" = "105"),
applies scale words to the number before them ("9.4 billion" = "9400000000", never 9), drops
thousands separators ("1,000" = "1000"), drops punctuation (a decimal point between digits
stays: "9.4" is not "9 4") and the articles a/an/the. `spell_numbers` does only the number
part, keeping punctuation, for the number extractor.
"""

import re
import unicodedata
from decimal import Decimal

_UNIT_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
)
_TEN_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety"
_UNITS = {word: value for value, word in enumerate(_UNIT_WORDS.split(" "))}
_TENS = {word: 10 * value for value, word in enumerate(_TEN_WORDS.split(" "), start=2)}
_SCALES = {
    "hundred": 100,
    "thousand": 1_000,
    "million": 1_000_000,
    "billion": 1_000_000_000,
    "trillion": 1_000_000_000_000,
}
_NUMBER_WORD = "|".join(sorted([*_UNITS, *_TENS, *_SCALES], key=len, reverse=True))
_AFTER_SCALE = "|".join(f"(?<={scale})" for scale in _SCALES)
_JOINER = rf"(?:[\s-]+|(?:{_AFTER_SCALE})\s+and\s+)"  # "and" only after a scale word
_WORD_RUN = re.compile(rf"\b(?:{_NUMBER_WORD})(?:{_JOINER}(?:{_NUMBER_WORD}))*\b")
_SCALED_DIGITS = re.compile(rf"\b(\d+(?:\.\d+)?)\s+({'|'.join(_SCALES)})\b")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_PUNCTUATION = re.compile(r"(?<!\d)\.|\.(?!\d)|[^\w\s.]|_")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def strip_accents(text: str) -> str:
    """Returns text without combining accents: "Zürich" -> "Zurich", "Ñ" -> "N"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def spell_numbers(text: str, *, words: bool = True) -> str:
    """Returns lower-case text with number words as digits and scale words applied.

    "twenty-one" -> "21", "one hundred and five" -> "105", "9.4 billion" -> "9400000000",
    "1,000" -> "1000". Punctuation other than thousands separators is kept. `words=False`
    leaves number words alone ("two numbers" stays prose) but still applies scales to digits.
    """
    text = _THOUSANDS.sub("", strip_accents(text.lower()).replace("\u2019", "'"))
    text = _SCALED_DIGITS.sub(lambda m: _format(Decimal(m.group(1)) * _SCALES[m.group(2)]), text)
    if not words:
        return text
    return _WORD_RUN.sub(lambda run: _format(_words_value(run.group(0))), text)


def fold_answer(text: str) -> str:
    """Returns text folded for comparison (the rules in the module doc)."""
    text = _PUNCTUATION.sub(" ", spell_numbers(text))
    return " ".join(_ARTICLES.sub(" ", text).split())


def _words_value(run: str) -> Decimal:
    """Returns the value of number words: "twenty one" -> 21, "two hundred and five" -> 205."""
    total = current = 0
    for word in re.split(r"[\s-]+", run):
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "hundred":
            current = (current or 1) * 100
        elif word in _SCALES:
            total += (current or 1) * _SCALES[word]
            current = 0
    return Decimal(total + current)


def _format(value: Decimal) -> str:
    """Returns a number as plain digits: "105", "9400000000", "0.5"."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")
