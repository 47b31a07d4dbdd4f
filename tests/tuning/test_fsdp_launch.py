"""FSDP across 2 launched processes (gloo: `accelerate launch --multi_gpu` on this CPU): SPT and
SFT on tiny Llamas (MHA; GQA offloaded, layers recomputed) and on the organism write what one
unsharded process writes, an FSDP run interrupted and resumed ends exactly where one that never
stopped ends, and its sharded checkpoint resumes in one unsharded process (DCP reshards 2 -> 1).

Every sharded run of the module is one job of a single launch (`launched_runs.py`), so the two
processes start once; the unsharded references run in this process.
"""

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sycolens import tune
from sycolens.models.tiny import TinyFamily
from tests.launched_runs import launch_jobs

pytestmark = pytest.mark.slow
# Measured after 3-4 steps: SPT deltas within 2e-7 of about 2e-2 (tiny Llama) and 8e-9 of 2e-3
# (organism); SFT weights within 2e-7 (organism) and 2e-8 (tiny Llama-GQA, offloaded, layers
# recomputed); the 2 -> 1 resume within 2e-8.
TOLERANCE = 1e-6
SHARDED = ("--fsdp", "--fsdp-offload")


def _runs(tiny: dict[TinyFamily, Path], ranking: Path) -> dict[str, list[str]]:
    """The flags (without --out) of each sharded run that the tests compare, by name."""
    tiny_data = ["--questions", "bundled", "--n-questions", "2", "--batch-size", "4"]
    organism = ["--model", "organism-mha", "--questions", "organism", "--n-questions", "8",
                "--batch-size", "4"]  # fmt: skip
    return {
        "spt-llama": ["--model", str(tiny["llama"]), *tiny_data, "--heads", "0.1,1.2",
                      "--steps", "3", "--lr", "1e-2", "--fsdp"],
        "sft-llama-gqa": ["--model", str(tiny["llama-gqa"]), *tiny_data, "--mode", "sft",
                          "--steps", "3", "--gradient-checkpointing", *SHARDED],
        "spt-organism": [*organism, "--heads", str(ranking), "--steps", "3", "--fsdp"],
        "sft-organism": [*organism, "--mode", "sft", "--steps", "4", "--checkpoint-every", "2",
                         "--fsdp"],
    }  # fmt: skip


def _job(flags: list[str], out: Path, interrupt_at: int | None = None) -> dict[str, Any]:
    return {"argv": [*flags, "--out", str(out)], "interrupt_at": interrupt_at}


@pytest.fixture(scope="module")
def launched(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_checkpoints: dict[TinyFamily, Path],
    organism_ranking: Path,
) -> tuple[Path, dict[str, list[str]]]:
    """Runs every sharded job in one 2-process launch, once for the test run; returns their
    root and flags. Besides the compared runs, `cut` is sft-organism interrupted at step 4
    (after the checkpoint at step 2) and then resumed, and `left` is interrupted the same way
    and left so."""
    root = tmp_path_factory.mktemp("fsdp-launch")
    runs = _runs(tiny_checkpoints, organism_ranking)
    sft = runs["sft-organism"]
    spec = [_job(flags, root / name) for name, flags in runs.items()]
    spec += [_job(sft, root / "cut", 4), _job(sft, root / "cut"), _job(sft, root / "left", 4)]
    launch_jobs(spec, root, port=29531)
    return root, runs


def _unsharded(flags: list[str]) -> list[str]:
    """The same run's flags without sharding."""
    return [flag for flag in flags if flag not in SHARDED]


@pytest.mark.parametrize("name", ["spt-llama", "sft-llama-gqa", "spt-organism", "sft-organism"])
def test_two_sharded_processes_write_what_one_unsharded_process_writes(
    name: str,
    launched: tuple[Path, dict[str, list[str]]],
    tmp_path: Path,
    assert_same_outputs: Callable[..., None],
):
    root, runs = launched
    tune.main([*_unsharded(runs[name]), "--out", str(tmp_path)])
    assert_same_outputs(tmp_path, root / name, TOLERANCE)
    one, two = (json.loads((run / "tune.json").read_text()) for run in (tmp_path, root / name))
    losses = [row["loss"] for row in one["history"]]
    assert [row["loss"] for row in two["history"]] == pytest.approx(losses, abs=1e-5)
    assert two["config"]["fsdp"] and two["n_trainable"] == one["n_trainable"]
    if name.startswith("spt"):  # the base's record; SFT's fingerprints its (close) tuned weights
        assert two["model"] == one["model"]


def test_an_interrupted_sharded_run_resumes_where_it_would_have_been(
    launched: tuple[Path, dict[str, list[str]]], assert_same_outputs: Callable[..., None]
):
    root, _ = launched
    assert not (root / "cut" / "checkpoint").exists()
    assert_same_outputs(root / "sft-organism", root / "cut", 0.0)


def test_a_sharded_checkpoint_resumes_in_one_unsharded_process(
    launched: tuple[Path, dict[str, list[str]]],
    tmp_path: Path,
    assert_same_outputs: Callable[..., None],
):
    root, runs = launched
    assert (root / "left" / "checkpoint" / "sharded" / ".metadata").is_file()
    shutil.copytree(root / "left", tmp_path / "left")
    tune.main([*_unsharded(runs["sft-organism"]), "--out", str(tmp_path / "left")])
    assert_same_outputs(root / "sft-organism", tmp_path / "left", TOLERANCE)
