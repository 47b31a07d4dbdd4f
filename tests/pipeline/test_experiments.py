"""The paper-reproduction experiments: their configs hold Tables 13/14, and the script runs both
end to end (`--smoke`) on tiny random checkpoints of the same architectures, through the same
pipeline code a GPU run takes."""

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sycolens import tune
from sycolens.models.tiny import save_tiny_checkpoint
from sycolens.pipeline import __main__ as pipeline_cli
from sycolens.pipeline.commands import PartPaths, step_commands
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
    name: str, checkpoints: dict[str, Path], tmp_path: Path
):
    """Each config tunes with its family's Table 13/14 rows: SFT parses to 120 steps at 5e-6
    with batch 32, SPT asks the preset with K=32 (its lr reaches tune.json in the smoke run)."""
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
        assert "--k 32" in shlex.join(commands[step]) and "--steps" not in commands[step]
    sft = tune.parse_args(commands["sft"]).job.tune
    assert (sft.training.steps, sft.training.learning_rate, sft.batch_size) == (120, 5e-6, 32)
    assert sft.training.min_learning_rate == 0 and sft.training.autocast == "bfloat16"
    assert "--device cuda" in shlex.join(commands["diagnose"])


def test_config_files_name_what_is_wrong(tmp_path: Path):
    config = tmp_path / "bad.json"
    good = json.loads((EXPERIMENTS / "llama2-7b-chat.json").read_text())
    cases = {
        "unknown keys ['gpus']": {**good, "gpus": 8},
        "missing keys ['sizes']": {
            "parts": [{key: v for key, v in good["parts"][0].items() if key != "sizes"}]
        },
        "unknown steps ['tune']": {"parts": [{**good["parts"][0], "step_flags": {"tune": []}}]},
        "is not a folder name": {"parts": [{**good["parts"][0], "name": "Llama 2"}]},
        "pairs must be >= 1": {
            "parts": [{**good["parts"][0], "sizes": {**good["parts"][0]["sizes"], "pairs": 0}}]
        },
    }
    for message, document in cases.items():
        config.write_text(json.dumps(document))
        with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
            read_parts(config)


def test_cli_model_needs_one_part_and_smoke_shrinks_every_step(
    usage_error: Callable[..., str],
):
    message = usage_error(pipeline_cli.parse_args, ["--model", "some/checkpoint"])
    assert "config with one part" in message
    config = pipeline_cli.parse_args(
        ["--config", str(EXPERIMENTS / "mistral-7b-instruct-v0.2.json"), "--smoke"]
    )
    assert config.pipeline.parts[0].sizes == SMOKE_SIZES
    assert usage_error(pipeline_cli.parse_args, ["--parts", "organism", "--config", "x.json"])
