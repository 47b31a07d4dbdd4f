"""General-text corpora for KL divergence: the bundled sample, or the user's files.

Formats: a `.txt` file is one text; a `.jsonl` file holds one text per line in its `text`
field (OpenWebText dumps look like this); a folder holds any number of both, read in sorted
order, recursively. Blank texts are counted in `n_empty` and not used; a corpus with no usable
text at all is an error naming the path, and so is a file that is not UTF-8 text (a binary file
among the texts would otherwise stop the run with a bare decode error).
"""

import io
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sycolens.data.questions import DatasetFormatError, read_utf8

_SUFFIXES = (".txt", ".jsonl")


@dataclass(frozen=True)
class TextCorpus:
    """Texts for general-text evaluation, where they came from, and how many were blank."""

    source: str
    texts: tuple[str, ...]
    n_empty: int = 0

    def head(self, n: int) -> "TextCorpus":
        """Returns the first `n` texts (all of them when there are fewer)."""
        if n < 1:
            raise ValueError(f"Asked for {n} texts of {self.source}. Fix: ask for at least 1.")
        return TextCorpus(self.source, self.texts[:n], self.n_empty)


def bundled_text_corpus() -> TextCorpus:
    """Returns the 41 passages of everyday prose that ship with sycolens (Apache-2.0)."""
    path = resources.files("sycolens.data") / "bundled" / "general_text.jsonl"
    with resources.as_file(path) as real_path:
        texts, n_empty = _read_jsonl(real_path)
    return TextCorpus("sycolens:bundled", tuple(texts), n_empty)


def load_text_corpus(path: Path) -> TextCorpus:
    """Reads a `.txt` file, a `.jsonl` file or a folder of them (see the module doc)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _SUFFIXES)
    elif path.is_file() and path.suffix in _SUFFIXES:
        files = [path]
    elif path.exists():
        raise ValueError(
            f"Text corpus {path} is neither a .txt, a .jsonl file nor a folder. Fix: rename it "
            'to .txt (one text) or .jsonl (one {"text": ...} per line), or pass its folder.'
        )
    else:
        raise FileNotFoundError(f"Text corpus {path} does not exist. Fix: check the path.")
    texts: list[str] = []
    n_empty = 0
    for file in files:
        found, empty = _read_jsonl(file) if file.suffix == ".jsonl" else _read_txt(file)
        texts += found
        n_empty += empty
    if not texts:
        raise ValueError(
            f"Text corpus {path} holds no usable text ({len(files)} .txt/.jsonl files, "
            f"{n_empty} blank texts). Fix: point at files with text in them."
        )
    return TextCorpus(str(path), tuple(texts), n_empty)


def _read_txt(path: Path) -> tuple[list[str], int]:
    text = read_utf8(path).strip()
    return ([text], 0) if text else ([], 1)


def _read_jsonl(path: Path) -> tuple[list[str], int]:
    texts: list[str] = []
    n_empty = 0
    for n, line in enumerate(io.StringIO(read_utf8(path), newline=None), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            text = record["text"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise DatasetFormatError(
                f"{path}:{n}: expected a JSON object with a 'text' field ({error})."
            ) from error
        if not isinstance(text, str):
            raise DatasetFormatError(
                f'{path}:{n}: \'text\' is not a string. Fix: make each line {{"text": "..."}}.'
            )
        if text.strip():
            texts.append(text.strip())
        else:
            n_empty += 1
    return texts, n_empty
