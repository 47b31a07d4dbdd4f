"""Text corpora: the bundled sample, and .txt/.jsonl files and folders from disk."""

import json
from pathlib import Path

import pytest

from sycolens.data.questions import DatasetFormatError
from sycolens.data.texts import bundled_text_corpus, load_text_corpus


def test_bundled_sample_is_long_enough_for_128_tokens():
    corpus = bundled_text_corpus()
    assert len(corpus.texts) == 41 and corpus.n_empty == 0
    assert min(len(text.split()) for text in corpus.texts) >= 95


def test_folder_of_txt_and_jsonl_counts_blank_texts(tmp_path: Path):
    (tmp_path / "a.txt").write_text("First text.\n")
    (tmp_path / "empty.txt").write_text("  \n")
    nested = tmp_path / "more"
    nested.mkdir()
    lines = [{"text": "Second."}, {"text": ""}, {"text": "Third."}]
    (nested / "b.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    (tmp_path / "notes.md").write_text("ignored: not .txt or .jsonl")
    corpus = load_text_corpus(tmp_path)
    assert corpus.texts == ("First text.", "Second.", "Third.")
    assert corpus.n_empty == 2
    assert corpus.head(2).texts == ("First text.", "Second.")


def test_corpus_without_usable_text_is_an_error(tmp_path: Path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match=r"holds no usable text \(1 .txt/.jsonl files, 1 blank"):
        load_text_corpus(tmp_path)


def test_bad_paths_and_lines_are_named(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"does not exist"):
        load_text_corpus(tmp_path / "missing")
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(ValueError, match=r"neither a .txt, a .jsonl file nor a folder"):
        load_text_corpus(tmp_path / "x.csv")
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"body": "no text field"}\n')
    with pytest.raises(DatasetFormatError, match=r"bad.jsonl:2: expected a JSON object"):
        load_text_corpus(tmp_path / "bad.jsonl")
    (tmp_path / "num.jsonl").write_text('{"text": 3}\n')
    with pytest.raises(DatasetFormatError, match=r"num.jsonl:1: 'text' is not a string"):
        load_text_corpus(tmp_path / "num.jsonl")


def test_asking_for_no_texts_is_an_error():
    with pytest.raises(ValueError, match=r"Asked for 0 texts"):
        bundled_text_corpus().head(0)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("image.txt", b"\x89PNG\r\n\x1a\n", r"image\.txt:1: not UTF-8 text \(byte 0x89\)"),
        ("zeros.txt", b"\0" * 16, r"zeros\.txt:1: holds a NUL byte, so it is a binary file"),
        ("dump.jsonl", b'{"text": "ok"}\n\xff\n', r"dump\.jsonl:2: not UTF-8 text"),
    ],
)
def test_a_binary_text_file_is_named(tmp_path: Path, name: str, content: bytes, message: str):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DatasetFormatError, match=message):
        load_text_corpus(tmp_path)
