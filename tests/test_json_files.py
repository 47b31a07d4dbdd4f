"""Damaged JSON a user hands over is named, with where it breaks and the fix."""

from collections.abc import Callable
from pathlib import Path

import pytest

from sycolens import ablate, evaluate
from sycolens.json_files import read_json, write_json


def test_a_truncated_or_binary_file_is_named_with_the_fix(tmp_path: Path):
    whole = tmp_path / "whole.json"
    write_json(whole, {"a": [1, 2, 3]})
    truncated = tmp_path / "cut.json"
    truncated.write_text(whole.read_text()[:-5])
    with pytest.raises(ValueError, match=rf"{truncated} is not valid JSON \(.* at line \d+ "
                       r"column \d+\); it should be a thing\. Fix: make it again\."):  # fmt: skip
        read_json(truncated, what="a thing", fix="make it again.")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match=rf"{binary} is not UTF-8 text; it should be a thing"):
        read_json(binary, what="a thing", fix="make it again.")
    assert read_json(whole, what="a thing", fix="-") == {"a": [1, 2, 3]}


def test_doors_name_a_truncated_ranking_or_report(
    organism_ranking: Path, tmp_path: Path, usage_error: Callable[..., str]
):
    cut = tmp_path / "heads.json"
    cut.write_text(organism_ranking.read_text()[:200])
    message = usage_error(ablate.parse_args, ["--model", "organism-mha", "--heads", str(cut)])
    assert f"{cut} is not valid JSON" in message and "sycolens diagnose --out" in message
    report = tmp_path / "results.json"
    report.write_text('{"schema": "sycolens.evaluation", "models": [')
    message = usage_error(evaluate.parse_rejudge_args, [str(report)])
    assert f"{report} is not valid JSON" in message and "intact results JSON" in message
