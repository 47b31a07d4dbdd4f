"""Outputs are checked before any work: a folder where a file goes, a file where a folder goes,
a place that cannot be written, two outputs on one path; each a usage error naming the flag."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from safetensors.torch import save_file

from sycolens import ablate, evaluate, patch
from sycolens.attention import __main__ as attention_cli
from sycolens.organism import __main__ as organism_cli
from sycolens.pipeline import __main__ as pipeline_cli


def test_a_folder_where_a_file_goes(
    tmp_path: Path, organism_ranking: Path, usage_error: Callable[..., str]
):
    folder = tmp_path / "already-a-folder"
    folder.mkdir()
    model = ["--model", "organism-mha"]
    for parse, argv, flag in (
        (patch.parse_args, [*model, "--out", str(folder)], "--out"),
        (ablate.parse_args, [*model, "--heads", str(organism_ranking), "--html", str(folder)],
         "--html"),
        (attention_cli.parse_args, [*model, "--heads", "1.2", "--out", str(folder)], "--out"),
        (evaluate.parse_args, [*model, "--html", str(folder)], "--html"),
    ):  # fmt: skip
        message = usage_error(parse, argv)
        assert f"{flag} {folder} is a folder. Fix: name a file" in message


def test_a_file_where_a_folder_goes(tmp_path: Path, usage_error: Callable[..., str]):
    existing = tmp_path / "existing.json"
    existing.write_text("{}")
    message = usage_error(organism_cli.parse_args, ["train", "--out", str(existing)])
    assert f"--out {existing} is a file, not a folder" in message  # not "Unknown model" later
    message = usage_error(pipeline_cli.parse_args, ["--parts", "organism", "--out", str(existing)])
    assert f"--out {existing} is a file, not a folder" in message


def test_a_place_that_cannot_be_written(
    tmp_path: Path, usage_error: Callable[..., str], monkeypatch: pytest.MonkeyPatch
):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("")
    under_a_file = a_file / "eval.json"
    message = usage_error(
        evaluate.parse_args, ["--model", "organism-mha", "--out", str(under_a_file)]
    )
    assert f"--out {under_a_file} cannot be created: {a_file} is not a writable folder" in message
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: real_access(path, mode) and Path(path) != read_only
    )
    target = read_only / "deeper" / "heads.json"
    message = usage_error(patch.parse_args, ["--model", "organism-mha", "--out", str(target)])
    assert f"--out {target} cannot be created: {read_only} is not a writable folder" in message


def test_two_outputs_on_one_path(tmp_path: Path, usage_error: Callable[..., str]):
    same = str(tmp_path / "x.html")
    message = usage_error(
        patch.parse_args, ["--model", "organism-mha", "--out", same, "--html", same]
    )
    assert f"--html {same} is the file --out names" in message
    message = usage_error(
        evaluate.parse_args, ["--model", "organism-mha", "--out", same, "--html", same]
    )
    assert f"--html {same} is the file --out names" in message


def test_an_output_over_a_deltas_file(tmp_path: Path, usage_error: Callable[..., str]):
    deltas = tmp_path / "d.safetensors"
    save_file({}, str(deltas), metadata={"base_fingerprint": "0" * 64})
    argv = ["--model", "organism-mha", "--deltas", str(deltas), "--out", str(deltas)]
    assert f"--out {deltas} is the file --deltas {deltas} names" in usage_error(
        evaluate.parse_args, argv
    )
