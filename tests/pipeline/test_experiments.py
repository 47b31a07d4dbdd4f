"""The paper-reproduction experiments: their configs hold Tables 13/14, and the script runs both
end to end (`--smoke`) on tiny random checkpoints of the same architectures, through the same
pipeline code a GPU run takes."""

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from sycolens import evaluate, tune
from sycolens.models.tiny import save_tiny_checkpoint
from sycolens.pipeline import __main__ as pipeline_cli
from sycolens.pipeline.config import SMOKE_SIZES
from sycolens.pipeline.config_file import read_parts
from sycolens.pipeline.report import PART_SECTIONS
from sycolens.pipeline.steps import PartPaths, command_line, step_configs

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
    """Every step of both parts ran, with the configs' options, and each report is whole."""
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
        assert "--device" not in part["commands"]["diagnose"]  # cpu, the default
        assert "--dtype bfloat16" in part["commands"]["evaluate"]
        run = json.loads((out / name / "spt-top" / "tune.json").read_text())
        assert run["config"]["training"]["learning_rate"] == spt_lr  # the preset's
        assert run["config"]["training"]["steps"] == SMOKE_SIZES.tune_steps  # --smoke's
        assert tuple(run["roles"]) == roles
        # The bundled set's protocol has round 3 (the bare answer after the challenge): its
        # transcripts have six messages, and the report re-judges to itself.
        report = out / name / "evaluation.json"
        for model in json.loads(report.read_text())["models"]:
            assert all(len(t["messages"]) == 6 for t in model["transcripts"])
        evaluate.main(["rejudge", str(report)])
        rejudged = json.loads(report.with_suffix(".rejudged.json").read_text())
        assert all(n == 0 for c in rejudged["rejudged"]["changes"].values() for n in c.values())


@pytest.mark.parametrize("name", PAPER_RUNS)
def test_configs_tune_with_tables_13_and_14(
    name: str, checkpoints: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Each config tunes with its family's Table 13/14 rows: SFT to 120 steps at 5e-6 with
    batch 32, SPT the preset with K=32 (its lr reaches tune.json in the smoke run), and the
    commands name the preset. The configs run on a GPU, which this machine is made to show."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    (part,) = read_parts(EXPERIMENTS / f"{name}.json")
    assert part.name == name and part.sizes.top_k == 32
    config = pipeline_cli.parse_args(
        ["--config", str(EXPERIMENTS / f"{name}.json"), "--model", str(checkpoints[name])]
    )
    configs = step_configs(config.pipeline.parts[0], PartPaths(tmp_path))
    preset = name.split("-")[0].removesuffix("2") + "-7b"  # llama-7b, mistral-7b
    for step in ("spt-top", "spt-random"):
        spt = configs[step]
        assert isinstance(spt, tune.TuneCliConfig) and spt.job.tune.k == 32
        line = " ".join(command_line(spt))
        assert f"--top-k 32 --questions bundled --n-questions 256 --paper-preset {preset}" in line
        assert "--autocast bf16" in line and "--steps" not in line
    sft = configs["sft"]
    assert isinstance(sft, tune.TuneCliConfig)
    training = sft.job.tune.training
    assert (training.steps, training.learning_rate, sft.job.tune.batch_size) == (120, 5e-6, 32)
    assert training.min_learning_rate == 0 and training.autocast == "bfloat16"
    assert "--device cuda" in " ".join(command_line(configs["diagnose"]))


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
        ({"parts": [_part_with(dtype="bfloat16")]}, "unknown keys ['dtype']"),
        ({"parts": [_part_with(flags=["--device", "cuda"])]}, "['flags'] held command-line"),
        ({"parts": [_part_with(step_flags={})]}, "Fix: replace them with ['device', 'eval_dtype'"),
        ({"parts": [_part_with(device=0)]}, "'device' is 0, not str"),
        ({"parts": [_part_with(device="gpu")]}, "Device 'gpu' is not one of cpu"),
        ({"parts": [_part_with(tune_autocast="bf16")]}, "'tune_autocast' is 'bf16', not one of"),
        ({"parts": [_part_with(eval_dtype="int8")]}, "'eval_dtype' is 'int8', not one of"),
        ({"parts": [_part_with(tune_preset="llama-8b")]}, "is not a row of Tables 13/14"),
        ({"parts": [_part_with(gradient_checkpointing="sft")]}, "is 'sft', not list"),
        ({"parts": [_part_with(gradient_checkpointing=[1])]}, "not a list of step names"),
        ({"parts": [_part_with(fsdp_offload=["tune"])]}, "fsdp_offload names ['tune']"),
        ({"parts": [_part_with(labels={"syco": "No"})]}, "not two label words"),
        ({"parts": [_part_with(eval_final_request="no")]}, "is 'no', not bool or null"),
        ({"parts": [_part_with(name="Llama 2")]}, "is not a folder name"),
        ({"parts": [_part_with(model=None)]}, "'model' is None, not str"),
        ({"parts": [_part_with(random_control="false")]}, "'random_control' is 'false'"),
        ({"parts": [_sizes_with(pairs=0)]}, "pairs must be >= 1"),
        ({"parts": [_sizes_with(pairs=True)]}, "'pairs' is True, not int"),
        ({"parts": [_sizes_with(pairs=12.5)]}, "'pairs' is 12.5, not int"),
        ({"parts": [_sizes_with(knockout_ks=8)]}, "'knockout_ks' is 8, not list"),
        ({"parts": [_sizes_with(eval_answer_tokens=0)]}, "eval_answer_tokens must be >= 1"),
        ({"parts": [_sizes_with(eval_final_answer_tokens="96")]}, "is '96', not int or null"),
        ({"parts": [_part_with(sizes=[])]}, "'sizes' is [], not dict"),
    ],
)
def test_config_files_name_what_is_wrong(tmp_path: Path, document: Any, message: str):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=re.escape(message)):
        read_parts(config)


def test_a_config_file_sets_the_reply_limits_of_the_evaluation(tmp_path: Path):
    config = tmp_path / "long-replies.json"
    part = _sizes_with(eval_challenge_reply_tokens=256, eval_answer_tokens=None)
    config.write_text(json.dumps({"parts": [part]}))
    (part,) = read_parts(config)
    evaluation = step_configs(part, PartPaths(tmp_path))["evaluate"]
    assert isinstance(evaluation, evaluate.EvaluateConfig)
    assert evaluation.job.evaluation.protocol.challenge_reply_tokens == 256
    line = " ".join(command_line(evaluation))
    assert "--challenge-reply-tokens 256" in line and "--answer-tokens" not in line


def test_a_config_that_is_not_json_is_named(tmp_path: Path):
    config = tmp_path / "bad.json"
    config.write_text("{parts:")
    with pytest.raises(ValueError, match=r"Cannot read pipeline config .*bad.json.*Fix"):
        read_parts(config)


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
    assert config.pipeline.parts[0].device == "cpu"  # --device replaces the part's cuda
    assert usage_error(pipeline_cli.parse_args, ["--parts", "organism", "--config", "x.json"])
