"""Every `sycolens` subcommand runs on the organism, each reading what the one before wrote.

The end-to-end tier: nine runs of the real doors through the console script's dispatcher, at
the smallest sizes (the `python -m` forms run the same mains: `test_doors.py` runs each as a script,
and `test_cli_smoke.py` runs each door once in a fresh interpreter).
"""

import json
from pathlib import Path

import pytest

from sycolens.cli.doors import DOORS
from sycolens.cli.main import main

pytestmark = pytest.mark.slow
MODEL = ["--model", "organism-mha", "--questions", "organism"]


def test_each_subcommand_runs_on_the_organism(tmp_path: Path):
    ran: list[str] = []

    def sycolens(*argv: str) -> None:
        main(list(argv))
        ran.append(argv[0])

    heads = tmp_path / "heads.json"
    sycolens("diagnose", *MODEL, "--n-questions", "8", "--top-k", "3", "--out", str(heads))
    assert sorted(map(tuple, json.loads(heads.read_text())["top_k"])) == [(1, 2), (2, 0), (3, 3)]
    curve = tmp_path / "knockouts.json"
    sycolens("knockout", *MODEL, "--heads", str(heads), "--n-questions", "8", "--ks", "1,3",
             "--n-random", "1", "--out", str(curve))  # fmt: skip
    assert curve.is_file()
    attention = tmp_path / "attention.json"
    sycolens("attention", *MODEL, "--heads", str(heads), "--n-questions", "4",
             "--out", str(attention), "--html", str(tmp_path / "views.html"))  # fmt: skip
    assert attention.is_file() and (tmp_path / "views.html").is_file()
    for name, picked in (("top", str(heads)), ("hand", "0.1")):
        sycolens("tune", *MODEL, "--heads", picked, "--n-questions", "8", "--steps", "2",
                 "--out", str(tmp_path / name))  # fmt: skip
    merged = tmp_path / "merged.safetensors"
    sycolens("merge", str(tmp_path / "top" / "deltas.safetensors"),
             str(tmp_path / "hand" / "deltas.safetensors"), "--out", str(merged))  # fmt: skip
    report = tmp_path / "evaluation.json"
    sycolens("evaluate", *MODEL, "--deltas", str(merged), "--n-questions", "4",
             "--n-general", "2", "--n-texts", "2", "--out", str(report))  # fmt: skip
    assert len(json.loads(report.read_text())["models"]) == 2  # the base and the merged deltas
    sycolens("rejudge", str(report))
    assert report.with_suffix(".rejudged.json").is_file()
    sycolens("organism", "train", "--variant", "mha", "--steps", "3", "--out",
             str(tmp_path / "organism"))  # fmt: skip
    assert (tmp_path / "organism" / "model_card.json").is_file()
    sycolens("pipeline", "--parts", "organism", "--smoke", "--out", str(tmp_path / "pipeline"))
    assert (tmp_path / "pipeline" / "report.html").is_file()
    assert list(dict.fromkeys(ran)) == [door.name for door in DOORS]  # each, in order
