"""The paper-reproduction experiments: their configs hold Tables 13/14, and the script runs both
end to end (`--smoke`) on tiny random checkpoints of the same architectures, through the same
pipeline code a GPU run takes."""

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from sycolens import tune
from sycolens.models.tiny import save_tiny_checkpoint
from sycolens.pipeline import __main__ as pipeline_cli
from sycolens.pipeline.commands import PartPaths, check_part_flags, step_commands
from sycolens.pipeline.config import SMOKE_SIZES
from sycolens.pipeline.config_file import read_parts
from sycolens.pipeline.report import PART_SECTIONS

EXPERIMENTS = Path(__file__).parents[2] / "experiments"
# config file -> (tiny family of the same architecture, Table 14 SPT lr, SPT roles trained)
PAPER_RUNS = {
    "llama2-7b-chat": ("llama", 1e-5, ("query", "key", "value", "output")),
    "mistral-7b-instruct-v0.2": ("mistral", 5e-6, ("query", "output")),
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tiny")
    return {
        name: save_tiny_checkpoint(family, folder / family)
        for name, (family, _, _) in PAPER_RUNS.items()
    }


@pytest.fixture(scope="module")
def smoke_runs(checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """experiments/reproduce_paper.sh --smoke --device cpu on both tiny checkpoints."""
    out = tmp_path_factory.mktemp("paper")
    environment = {**os.environ, "PY": sys.executable, "HF_HUB_OFFLINE": "1"}
    subprocess.run(
        [
            "bash",
            str(EXPERIMENTS / "reproduce_paper.sh"),
            str(checkpoints["llama2-7b-chat"]),
            str(checkpoints["mistral-7b-instruct-v0.2"]),
            str(out),
            "--smoke",
            "--device",
            "cpu",
        ],
        check=True,
        env=environment,
        capture_output=True,
    )
    return out


@pytest.mark.slow  # a subprocess running the shell script: end-to-end tier
def test_script_runs_both_experiments_on_tiny_checkpoints(
    smoke_runs: Path, checkpoints: dict[str, Path]
):
    """Every step of both parts ran, through the configs' flags, and each report is whole."""
    for name, (_, spt_lr, roles) in PAPER_RUNS.items():
        out = smoke_runs / name
        page = (out / "report.html").read_text()
        for section in PART_SECTIONS:
            assert f"<section id='{name}-{section}'>" in page
        summary = json.loads((out / "pipeline.json").read_text())
        (part,) = summary["parts"]
        assert part["model"] == str(checkpoints[name])
        assert len(part["top_heads"]) == SMOKE_SIZES.top_k
        assert len(part["evaluation"]) == 4  # base, SPT top, SPT random, SFT
        assert "--device cpu" in part["commands"]["diagnose"]
        assert "--device cuda" not in part["commands"]["diagnose"]
        run = json.loads((out / name / "spt-top" / "tune.json").read_text())
        assert run["config"]["training"]["learning_rate"] == spt_lr  # the preset's
        assert run["config"]["training"]["steps"] == SMOKE_SIZES.tune_steps  # --smoke's
        assert tuple(run["roles"]) == roles


@pytest.mark.parametrize("name", PAPER_RUNS)
def test_configs_tune_with_tables_13_and_14(
    name: str, checkpoints: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Each config tunes with its family's Table 13/14 rows: SFT parses to 120 steps at 5e-6
    with batch 32, SPT asks the preset with K=32 (its lr reaches tune.json in the smoke run).
    The configs run on a GPU (`--device cuda`), which this machine is made to show."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    (part,) = read_parts(EXPERIMENTS / f"{name}.json")
    assert part.name == name and part.sizes.top_k == 32
    config = pipeline_cli.parse_args(
        ["--config", str(EXPERIMENTS / f"{name}.json"), "--model", str(checkpoints[name])]
    )
    commands = step_commands(config.pipeline.parts[0], PartPaths(tmp_path))
    preset = name.split("-")[0].removesuffix("2") + "-7b"  # llama-7b, mistral-7b
    for step in ("spt-top", "spt-random"):
        assert shlex.join(["--paper-preset", preset, "--autocast", "bf16"]) in shlex.join(
            commands[step]
        )
        assert "--top-k 32" in shlex.join(commands[step]) and "--steps" not in commands[step]
    sft = tune.parse_args(commands["sft"]).job.tune
    assert (sft.training.steps, sft.training.learning_rate, sft.batch_size) == (120, 5e-6, 32)
    assert sft.training.min_learning_rate == 0 and sft.training.autocast == "bfloat16"
    assert "--device cuda" in shlex.join(commands["diagnose"])


def _part_with(**changes: Any) -> dict[str, Any]:
    part = json.loads((EXPERIMENTS / "llama2-7b-chat.json").read_text())["parts"][0]
    return {**part, **changes}


def _sizes_with(**changes: Any) -> dict[str, Any]:
    return _part_with(sizes={**_part_with()["sizes"], **changes})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"parts": [_part_with()], "gpus": 8}, "unknown keys ['gpus']"),
        ({"parts": {}}, "has no 'parts' list"),
        ({"parts": ["llama"]}, "part 0 is not an object"),
        ({"parts": [{k: v for k, v in _part_with().items() if k != "sizes"}]}, "missing keys"),
        ({"parts": [_part_with(step_flags={"tune": []})]}, "unknown steps ['tune']"),
        ({"parts": [_part_with(step_flags=["--k"])]}, "'step_flags' is ['--k'], not dict"),
        ({"parts": [_part_with(name="Llama 2")]}, "is not a folder name"),
        ({"parts": [_part_with(model=None)]}, "'model' is None, not str"),
        ({"parts": [_part_with(random_control="false")]}, "'random_control' is 'false'"),
        ({"parts": [_part_with(flags=["--device", 0])]}, "are not a list of strings"),
        ({"parts": [_sizes_with(pairs=0)]}, "pairs must be >= 1"),
        ({"parts": [_sizes_with(pairs=True)]}, "'pairs' is True, not int"),
        ({"parts": [_sizes_with(pairs=12.5)]}, "'pairs' is 12.5, not int"),
        ({"parts": [_sizes_with(knockout_ks=8)]}, "'knockout_ks' is 8, not list"),
        ({"parts": [_part_with(sizes=[])]}, "'sizes' is [], not dict"),
    ],
)
def test_config_files_name_what_is_wrong(tmp_path: Path, document: Any, message: str):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=re.escape(message)):
        read_parts(config)


def test_a_config_that_is_not_json_is_named(tmp_path: Path):
    config = tmp_path / "bad.json"
    config.write_text("{parts:")
    with pytest.raises(ValueError, match=r"Cannot read pipeline config .*bad.json.*Fix"):
        read_parts(config)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"step_flags": {"diagnose": ("--bogus", "1")}}, "['--bogus', '1'] are not options"),
        ({"step_flags": {"diagnose": ("--pairs", "64")}}, "['--pairs'] given twice"),
        ({"flags": ("--out=x.json",)}, "['--out'] given twice"),
        (
            {"random_control": False, "step_flags": {"spt-random": ("--lr", "1e-3")}},
            "flags for ['spt-random'], which it does not run",
        ),
    ],
)
def test_part_flags_are_checked_against_each_steps_parser(change: dict[str, Any], message: str):
    (part,) = read_parts(EXPERIMENTS / "llama2-7b-chat.json")
    check_part_flags(part)  # the shipped config passes
    with pytest.raises(ValueError, match=re.escape(message)):
        check_part_flags(replace(part, **change))


def test_device_replaces_every_device_flag_of_a_part():
    (part,) = read_parts(EXPERIMENTS / "llama2-7b-chat.json")
    part = replace(
        part, flags=("--device=cuda",), step_flags={"sft": ("--device", "cuda:1", "--lr", "1")}
    )
    moved = part.with_flag("--device", "cpu")
    assert moved.flags == ("--device", "cpu")
    assert moved.step_flags == {"sft": ("--lr", "1")}


def test_cli_model_needs_one_part_and_smoke_shrinks_every_step(
    usage_error: Callable[..., str],
):
    message = usage_error(pipeline_cli.parse_args, ["--model", "some/checkpoint"])
    assert "config with one part" in message
    config = pipeline_cli.parse_args(
        ["--config", str(EXPERIMENTS / "mistral-7b-instruct-v0.2.json"), "--smoke",
         "--model", "organism-mha", "--device", "cpu"]  # what this machine can run
    )  # fmt: skip
    assert config.pipeline.parts[0].sizes == SMOKE_SIZES
    assert usage_error(pipeline_cli.parse_args, ["--parts", "organism", "--config", "x.json"])
