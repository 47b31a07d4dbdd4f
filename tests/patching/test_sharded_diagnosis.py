"""Diagnosis across processes: 2 gloo processes, each patching a block of the pairs, gather the
ranking 1 process computes (up to float rounding: a block's padding is trimmed to its own
prompts), launched as users launch it, through `accelerate launch`. Both modes are jobs of one
launch (`tests/launched_runs.py`), made once for the test run; the one-process references run
the door in the test's own process."""

import json
from pathlib import Path
from typing import Any

import pytest

from sycolens import patch
from sycolens.training.data_parallel import DataParallel
from tests.launched_runs import launch_jobs

TOLERANCE = 1e-6
MODES = ("direct", "total")


def _flags(out: Path, mode: str) -> list[str]:
    return ["--model", "organism-mha", "--questions", "organism", "--pairs", "11",
            "--mode", mode, "--top-k", "3", "--out", str(out)]  # fmt: skip


def _scores(path: Path) -> dict[tuple[int, int], tuple[float, float]]:
    document: dict[str, Any] = json.loads(path.read_text())
    return {
        (row["layer"], row["head"]): (row["score"], row["stderr"]) for row in document["scores"]
    }


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ranks the heads in both modes in one 2-process launch (`direct.json`, `total.json`),
    once for the test run; the launch's stdout is `stdout.txt`."""
    root = tmp_path_factory.mktemp("sharded-diagnosis-launch")
    jobs = [{"door": "patch", "argv": _flags(root / f"{mode}.json", mode),
             "interrupt_at": None} for mode in MODES]  # fmt: skip
    launch_jobs(jobs, root, port=29519)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_two_processes_rank_the_heads_one_process_ranks(launched: Path, tmp_path: Path, mode: str):
    patch.run(patch.parse_args(_flags(tmp_path / "one.json", mode)))
    two_path = launched / f"{mode}.json"
    printed = (launched / "stdout.txt").read_text()
    assert printed.count("wrote") == len(MODES) and f"wrote {two_path}" in printed  # main alone
    one, two = _scores(tmp_path / "one.json"), _scores(two_path)
    assert one.keys() == two.keys()
    for head, (score, stderr) in one.items():
        assert two[head] == pytest.approx((score, stderr), abs=TOLERANCE), head
    first, second = (json.loads(path.read_text()) for path in (tmp_path / "one.json", two_path))
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
