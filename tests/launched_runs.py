"""Runs several sycolens door jobs in one launched process, for the multi-process tests.

`accelerate launch ... tests/launched_runs.py SPEC.json` runs each job of SPEC (a JSON list of
`{"door": "tune" or "patch" or ..., "argv": [...], "interrupt_at": n or null}`) in order in
every process, so one launch pays the processes' start-up once for several runs. A tune job
with `interrupt_at` stops at its n-th loss with KeyboardInterrupt, as Ctrl-C would (every
process at the same step, before that step's first collective), leaving its last checkpoint for
a later job to resume. A job with `"refused": true` must exit non-zero (the door refusing its
input, on stderr); put it last, since the processes refuse it on their own. A job with an
`"output"` path prefix writes what each process prints during it to `PREFIX.RANK.out` and
`PREFIX.RANK.err` (`job_output` reads them), so tests can tell the jobs and processes apart.
"""

import contextlib
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from sycolens.tuning import run as tuning_run

REAL_LOSS = tuning_run.reply_loss


def loss_interrupted_at(
    at: int, real_loss: Callable[..., torch.Tensor] = REAL_LOSS
) -> Callable[..., torch.Tensor]:
    """Returns `real_loss` that raises KeyboardInterrupt, as Ctrl-C would, on its `at`-th call."""
    calls = {"n": 0}

    def loss(*args: object, **kwargs: object) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == at:
            raise KeyboardInterrupt
        return real_loss(*args, **kwargs)

    return loss


@contextlib.contextmanager
def _printed_to(prefix: str | None) -> Iterator[None]:
    """Sends this process's stdout and stderr to `prefix.RANK.out` and `.err` (none: as is)."""
    if prefix is None:
        yield
        return
    rank = os.environ.get("RANK", "0")
    with (
        open(f"{prefix}.{rank}.out", "w") as out,
        open(f"{prefix}.{rank}.err", "w") as err,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        yield


def job_output(prefix: Path, rank: int) -> tuple[str, str]:
    """Returns what process `rank` printed to stdout and stderr during the job of `prefix`."""
    return (
        Path(f"{prefix}.{rank}.out").read_text(),
        Path(f"{prefix}.{rank}.err").read_text(),
    )


def run_jobs(jobs: list[dict[str, Any]]) -> None:
    """Runs each job in order in this process (launched or not), interrupting as asked."""
    for job in jobs:
        at: int | None = job["interrupt_at"]
        refused: bool = job.get("refused", False)
        tuning_run.reply_loss = REAL_LOSS if at is None else loss_interrupted_at(at)
        door = importlib.import_module(f"sycolens.{job.get('door', 'tune')}")
        try:
            with _printed_to(job.get("output")):
                door.main(job["argv"])
        except SystemExit as stop:
            interrupted = at is not None and stop.code == 130  # the door's answer to Ctrl-C
            if not interrupted and not (refused and stop.code not in (0, None)):
                raise
        else:
            if refused:
                raise AssertionError(f"The door took {job['argv']}, which it should refuse.")
        finally:
            tuning_run.reply_loss = REAL_LOSS


def launch_jobs(jobs: list[dict[str, Any]], folder: Path, port: int) -> None:
    """Runs `jobs` in one `accelerate launch` of 2 gloo processes (this file), as users launch;
    fails on a non-zero exit, and keeps the launch's output as `folder/stdout.txt` and
    `folder/stderr.txt`."""
    spec = folder / "spec.json"
    spec.write_text(json.dumps(jobs))
    launcher = [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch",
                "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no",
                "--main_process_port", str(port)]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*launcher, __file__, str(spec)], capture_output=True, text=True,
                          env=env, check=False)  # fmt: skip
    (folder / "stdout.txt").write_text(done.stdout)
    (folder / "stderr.txt").write_text(done.stderr)
    # a door's one-line refusal went to its job's .err file, not to the launch's stderr
    printed = "".join(f"{p.name}: {p.read_text()}" for p in sorted(folder.rglob("*.err")))
    assert done.returncode == 0, done.stderr[-3000:] + printed[-3000:]


def main(spec: Path) -> None:
    run_jobs(json.loads(spec.read_text()))
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
