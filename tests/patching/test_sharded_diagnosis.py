"""Diagnosis across processes: 2 gloo processes, each patching a block of the pairs, gather the
ranking 1 process computes (up to float rounding: a block's padding is trimmed to its own
prompts), launched as users launch it, through `accelerate launch`."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sycolens import patch
from sycolens.training.data_parallel import DataParallel

TOLERANCE = 1e-6


def _flags(out: Path, mode: str) -> list[str]:
    return ["--model", "organism-mha", "--questions", "organism", "--pairs", "11",
            "--mode", mode, "--top-k", "3", "--out", str(out)]  # fmt: skip


def _scores(path: Path) -> dict[tuple[int, int], tuple[float, float]]:
    document: dict[str, Any] = json.loads(path.read_text())
    return {
        (row["layer"], row["head"]): (row["score"], row["stderr"]) for row in document["scores"]
    }


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["direct", "total"])
def test_two_processes_rank_the_heads_one_process_ranks(tmp_path: Path, mode: str):
    patch.run(patch.parse_args(_flags(tmp_path / "one.json", mode)))
    launcher = [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch",
                "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no",
                "--main_process_port", "29519"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*launcher, "-m", "sycolens.patch", *_flags(tmp_path / "two.json", mode)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote") == 1  # the main process alone writes and reports
    one, two = _scores(tmp_path / "one.json"), _scores(tmp_path / "two.json")
    assert one.keys() == two.keys()
    for head, (score, stderr) in one.items():
        assert two[head] == pytest.approx((score, stderr), abs=TOLERANCE), head
    first, second = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "two"))
    assert first["top_k"] == second["top_k"] == [[3, 3], [2, 0], [1, 2]]
    assert first["questions"] == second["questions"]  # the same 11 pairs, in order
    assert second["labels"]["mean_f_reference"] == pytest.approx(
        first["labels"]["mean_f_reference"], abs=TOLERANCE
    )


def test_blocks_cover_every_row_once_in_order():
    for n_rows in (3, 10, 11):
        blocks = [DataParallel(rank, 3).block(n_rows, "pairs") for rank in range(3)]
        rows = [row for block in blocks for row in range(n_rows)[block]]
        assert rows == list(range(n_rows))


def test_fewer_rows_than_processes_is_refused():
    with pytest.raises(ValueError, match=r"2 pairs cannot split over 3 processes.*Fix"):
        DataParallel(0, 3).block(2, "pairs")
