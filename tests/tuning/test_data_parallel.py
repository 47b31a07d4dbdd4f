"""Data-parallel tuning: 2 processes on gloo take the steps 1 process takes with the same
global batch (up to float rounding: the shards' sums are added in another order), and a run
checkpointed by one process resumes under two.

The 2 processes are launched as users launch them, through `accelerate launch`; every 2-process
run of the module is one job of a single launch (`launched_runs.py`), made once for the test
run, so the processes start once. The one-process references run the door in the test's own
process (`tune.main`).
"""

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from sycolens import tune
from tests.launched_runs import launch_jobs, run_jobs

pytestmark = pytest.mark.slow
TOLERANCE = 1e-6  # measured: 1e-8 on deltas of about 2e-3 after 3 SPT steps
RESUMED = ("--steps", "4", "--checkpoint-every", "2")


def _flags(out: Path, *extra: str, ranking: Path | None = None) -> list[str]:
    heads = ["--heads", str(ranking)] if ranking else []
    return ["--model", "organism-mha", *heads, "--questions", "organism", "--n-questions", "8",
            "--batch-size", "4", "--out", str(out), *extra]  # fmt: skip


def _compared(out: Path, mode: str, ranking: Path) -> list[str]:
    """The flags of the `mode` run that one process and two take."""
    heads = ranking if mode == "spt" else None  # SFT trains every parameter
    return _flags(out, "--steps", "3", "--mode", mode, ranking=heads)


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory, organism_ranking: Path) -> Path:
    """Runs SPT and SFT (`spt`, `sft`), the resume of `cut` and a refused batch size (`odd`)
    in one 2-process launch, once for the test run; `cut` is first run by one process here and
    interrupted at step 3 of 4, after its checkpoint at step 2. Returns their folder; the
    launch's stdout and stderr are `stdout.txt` and `stderr.txt`."""
    root = tmp_path_factory.mktemp("data-parallel-launch")
    cut = _flags(root / "cut", *RESUMED, ranking=organism_ranking)
    run_jobs([{"argv": cut, "interrupt_at": 4}])
    assert (root / "cut" / "checkpoint").is_dir()
    jobs = [_compared(root / m, m, organism_ranking) for m in ("spt", "sft")] + [cut]
    spec: list[dict[str, Any]] = [{"argv": a, "interrupt_at": None} for a in jobs]
    odd = _flags(root / "odd", "--steps", "1", ranking=organism_ranking)
    odd[odd.index("--batch-size") + 1] = "3"
    spec.append({"argv": odd, "interrupt_at": None, "refused": True})  # last: it exits
    launch_jobs(spec, root, port=29517)
    return root


def _losses(out: Path) -> list[float]:
    return [row["loss"] for row in json.loads((out / "tune.json").read_text())["history"]]


def _assert_close(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> None:
    assert first.keys() == second.keys()
    for name, tensor in first.items():
        torch.testing.assert_close(second[name], tensor, atol=TOLERANCE, rtol=0, msg=name)


@pytest.mark.parametrize("mode", ["spt", "sft"])
def test_two_processes_take_the_steps_of_one(
    launched: Path,
    organism_ranking: Path,
    tmp_path: Path,
    mode: str,
    capsys: pytest.CaptureFixture[str],
):
    one_out, two_out = tmp_path / "one", launched / mode
    capsys.readouterr()
    tune.main(_compared(one_out, mode, organism_ranking))
    assert capsys.readouterr().out.count("wrote") == 1
    printed = (launched / "stdout.txt").read_text()
    assert printed.count("wrote") == 3 and f"wrote {two_out}\n" in printed  # one process reports
    assert _losses(two_out) == pytest.approx(_losses(one_out), abs=1e-5)
    if mode == "spt":
        files = ("deltas.safetensors",)
    else:
        files = tuple(p.name for p in (one_out / "model").glob("*.safetensors"))
        files = tuple(f"model/{name}" for name in files)
    assert files
    for name in files:
        _assert_close(load_file(one_out / name), load_file(two_out / name))


def test_a_run_checkpointed_by_one_process_resumes_under_two(
    launched: Path, organism_ranking: Path, tmp_path: Path
):
    tune.main(_flags(tmp_path / "whole", *RESUMED, ranking=organism_ranking))
    _assert_close(
        load_file(tmp_path / "whole" / "deltas.safetensors"),
        load_file(launched / "cut" / "deltas.safetensors"),
    )
    assert not (launched / "cut" / "checkpoint").exists()


def test_a_batch_that_does_not_split_over_the_processes_is_refused(launched: Path):
    refusal = "--batch-size 3 does not split over 2 processes. Fix: a multiple of 2."
    assert refusal in (launched / "stderr.txt").read_text()
    assert not (launched / "odd").exists()
