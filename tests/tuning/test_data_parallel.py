"""Data-parallel tuning: 2 processes on gloo take the steps 1 process takes with the same
global batch (up to float rounding: the shards' sums are added in another order), and a run
checkpointed by one process resumes under two. The 2 processes are launched as users launch
them, through `accelerate launch`; the one-process reference runs the door here, in the test's
process (`tune.main`), which saves a third interpreter's start and model load per test."""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sycolens import tune

pytestmark = pytest.mark.slow
TOLERANCE = 1e-6  # measured: 1e-8 on deltas of about 2e-3 after 3 SPT steps


def _flags(out: Path, *extra: str, ranking: Path | None = None) -> list[str]:
    heads = ["--heads", str(ranking)] if ranking else []
    return ["--model", "organism-mha", *heads, "--questions", "organism", "--n-questions", "8",
            "--batch-size", "4", "--out", str(out), *extra]  # fmt: skip


def _launch(flags: list[str]) -> subprocess.CompletedProcess[str]:
    """Runs `accelerate launch -m sycolens.tune FLAGS` with 2 processes (gloo)."""
    launcher = [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch",
                "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no",
                "--main_process_port", "29517"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([*launcher, "-m", "sycolens.tune", *flags], capture_output=True,
                          text=True, env=env, check=False)  # fmt: skip


def _launched(flags: list[str]) -> str:
    done = _launch(flags)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _in_this_process(flags: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Runs the door as `python -m sycolens.tune FLAGS` would, here; returns what it printed."""
    capsys.readouterr()
    tune.main(flags)
    return capsys.readouterr().out


def _losses(out: Path) -> list[float]:
    return [row["loss"] for row in json.loads((out / "tune.json").read_text())["history"]]


def _assert_close(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> None:
    assert first.keys() == second.keys()
    for name, tensor in first.items():
        torch.testing.assert_close(second[name], tensor, atol=TOLERANCE, rtol=0, msg=name)


@pytest.mark.parametrize("mode", ["spt", "sft"])
def test_two_processes_take_the_steps_of_one(
    organism_ranking: Path, tmp_path: Path, mode: str, capsys: pytest.CaptureFixture[str]
):
    ranking = organism_ranking if mode == "spt" else None  # SFT trains every parameter
    extra = ("--steps", "3", "--mode", mode)
    one = _in_this_process(_flags(tmp_path / "one", *extra, ranking=ranking), capsys)
    two = _launched(_flags(tmp_path / "two", *extra, ranking=ranking))
    assert one.count("wrote") == 1 and two.count("wrote") == 1  # one process reports
    assert _losses(tmp_path / "two") == pytest.approx(_losses(tmp_path / "one"), abs=1e-5)
    if mode == "spt":
        files = ("deltas.safetensors",)
    else:
        files = tuple(p.name for p in (tmp_path / "one" / "model").glob("*.safetensors"))
        files = tuple(f"model/{name}" for name in files)
    assert files
    for name in files:
        _assert_close(load_file(tmp_path / "one" / name), load_file(tmp_path / "two" / name))


def test_a_run_checkpointed_by_one_process_resumes_under_two(
    organism_ranking: Path,
    tmp_path: Path,
    interrupt_training: Callable[[int], AbstractContextManager[None]],
):
    extra = ("--steps", "4", "--checkpoint-every", "2")
    tune.main(_flags(tmp_path / "whole", *extra, ranking=organism_ranking))
    with interrupt_training(4):  # step 3 of 4, after the checkpoint at step 2
        tune.main(_flags(tmp_path / "cut", *extra, ranking=organism_ranking))
    assert (tmp_path / "cut" / "checkpoint").is_dir()
    _launched(_flags(tmp_path / "cut", *extra, ranking=organism_ranking))
    _assert_close(
        load_file(tmp_path / "whole" / "deltas.safetensors"),
        load_file(tmp_path / "cut" / "deltas.safetensors"),
    )
    assert not (tmp_path / "cut" / "checkpoint").exists()


def test_a_batch_that_does_not_split_over_the_processes_is_refused(
    organism_ranking: Path, tmp_path: Path
):
    flags = _flags(tmp_path / "odd", "--steps", "1", ranking=organism_ranking)
    flags[flags.index("--batch-size") + 1] = "3"
    done = _launch(flags)
    assert done.returncode != 0
    assert "--batch-size 3 does not split over 2 processes. Fix: a multiple of 2." in done.stderr
