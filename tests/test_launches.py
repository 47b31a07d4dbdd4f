"""Every multi-process run of the end-to-end tier, from one launch: 2 gloo processes started as
users start them (`accelerate launch --multi_gpu` on this CPU), each running every job below in
order (`tests/launched_runs.py`), so the processes start once for all of them. The one-process
references run the doors in the test's own process.

- FSDP: SPT and SFT on tiny Llamas (MHA; GQA offloaded, layers recomputed) and on the organism
  write what one unsharded process writes; an FSDP run interrupted and resumed ends exactly where
  one that never stopped ends; its sharded checkpoint resumes in one unsharded process (DCP
  reshards 2 -> 1).
- Data parallel: 2 processes take the steps 1 process takes with the same global batch (up to
  float rounding: the shards' sums are added in another order); a run checkpointed by one
  process resumes under two; a batch that does not split over the processes is refused.
- Diagnosis: 2 processes, each patching a block of the pairs, gather the ranking 1 process
  computes (up to float rounding: a block's padding is trimmed to its own prompts).
- Evaluation: 2 processes write the report 1 process writes.

Only the main process reports: each job's printed lines are kept per process (`job_output`).
"""

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from sycolens import evaluate, patch, tune
from sycolens.models.tiny import TinyFamily
from tests.launched_runs import job_output, launch_jobs, run_jobs

pytestmark = pytest.mark.slow
# FSDP, measured after 3-4 steps: SPT deltas within 2e-7 of about 2e-2 (tiny Llama) and 8e-9 of
# 2e-3 (organism); SFT weights within 2e-7 (organism) and 2e-8 (tiny Llama-GQA, offloaded,
# layers recomputed); the 2 -> 1 resume within 2e-8. Data parallel: 1e-8 on deltas of about
# 2e-3 after 3 SPT steps.
TOLERANCE = 1e-6
SHARDED = ("--fsdp", "--fsdp-offload")
ORGANISM = ["--model", "organism-mha", "--questions", "organism"]
RESUMED = ("--steps", "4", "--checkpoint-every", "2")
MODES = ("direct", "total")


def _fsdp_runs(tiny: dict[TinyFamily, Path], ranking: Path) -> dict[str, list[str]]:
    """The flags (without --out) of each sharded run that the FSDP tests compare, by name."""
    tiny_data = ["--questions", "bundled", "--n-questions", "2", "--batch-size", "4"]
    organism = [*ORGANISM, "--n-questions", "8", "--batch-size", "4"]
    return {
        "spt-llama": ["--model", str(tiny["llama"]), *tiny_data, "--heads", "0.1,1.2",
                      "--steps", "3", "--lr", "1e-2", "--fsdp"],
        "sft-llama-gqa": ["--model", str(tiny["llama-gqa"]), *tiny_data, "--mode", "sft",
                          "--steps", "3", "--gradient-checkpointing", *SHARDED],
        "spt-organism": [*organism, "--heads", str(ranking), "--steps", "3", "--fsdp"],
        "sft-organism": [*organism, "--mode", "sft", "--steps", "4", "--checkpoint-every", "2",
                         "--fsdp"],
    }  # fmt: skip


def _unsharded(flags: list[str]) -> list[str]:
    """The same run's flags without sharding."""
    return [flag for flag in flags if flag not in SHARDED]


def _data_parallel_flags(out: Path, *extra: str, ranking: Path | None = None) -> list[str]:
    heads = ["--heads", str(ranking)] if ranking else []
    return [*ORGANISM, *heads, "--n-questions", "8", "--batch-size", "4", "--out", str(out),
            *extra]  # fmt: skip


def _data_parallel_run(out: Path, mode: str, ranking: Path) -> list[str]:
    """The flags of the `mode` run that one process and two take."""
    heads = ranking if mode == "spt" else None  # SFT trains every parameter
    return _data_parallel_flags(out, "--steps", "3", "--mode", mode, ranking=heads)


def _diagnosis_flags(out: Path, mode: str) -> list[str]:
    return [*ORGANISM, "--n-questions", "11", "--mode", mode, "--top-k", "3", "--out", str(out)]


def _evaluation_flags(out: Path) -> list[str]:
    return [*ORGANISM, "--tuned", "organism-control", "--n-questions", "9", "--n-general", "5",
            "--n-texts", "3", "--out", str(out)]  # fmt: skip


def _printed_prefix(root: Path, name: str) -> Path:
    """Where the job `name` writes what its processes print (`PREFIX.RANK.out` and `.err`)."""
    return root / "printed" / name.replace("/", "-")


def _job(
    root: Path, name: str, argv: list[str], door: str = "tune", **options: Any
) -> dict[str, Any]:
    """A job of the launch, its printed output kept at `_printed_prefix(root, name)`."""
    prefix = str(_printed_prefix(root, name))
    return {"door": door, "argv": argv, "interrupt_at": None, "output": prefix, **options}


def _printed(root: Path, name: str) -> list[tuple[str, str]]:
    """What each of the 2 processes printed (stdout, stderr) during the job `name`."""
    return [job_output(_printed_prefix(root, name), rank) for rank in (0, 1)]


@pytest.fixture(scope="module")
def launched(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_checkpoints: dict[TinyFamily, Path],
    organism_ranking: Path,
) -> tuple[Path, dict[str, list[str]]]:
    """Runs every 2-process job in one launch, once for the test run; returns their root and
    the FSDP runs' flags.

    FSDP (`fsdp/`): the compared runs, `cut` (sft-organism interrupted at step 4, after its
    checkpoint at step 2, then resumed) and `left` (interrupted the same way and left so).
    Data parallel (`data-parallel/`): SPT and SFT, the resume of `cut` (first run by one process
    here, interrupted at step 3 of 4, after its checkpoint at step 2) and a refused batch size
    (`odd`, last: it exits). Diagnosis (`diagnosis/direct.json`, `total.json`) and evaluation
    (`evaluation/two.json`)."""
    root = tmp_path_factory.mktemp("launch")
    (root / "printed").mkdir()
    fsdp, data_parallel = root / "fsdp", root / "data-parallel"
    runs = _fsdp_runs(tiny_checkpoints, organism_ranking)
    sft = runs["sft-organism"]
    spec = [_job(root, f"fsdp/{name}", [*flags, "--out", str(fsdp / name)])
            for name, flags in runs.items()]  # fmt: skip
    spec += [
        _job(root, "fsdp/cut", [*sft, "--out", str(fsdp / "cut")], interrupt_at=4),
        _job(root, "fsdp/cut-resumed", [*sft, "--out", str(fsdp / "cut")]),
        _job(root, "fsdp/left", [*sft, "--out", str(fsdp / "left")], interrupt_at=4),
    ]
    cut = _data_parallel_flags(data_parallel / "cut", *RESUMED, ranking=organism_ranking)
    run_jobs([{"argv": cut, "interrupt_at": 4}])
    assert (data_parallel / "cut" / "checkpoint").is_dir()
    spec += [
        _job(root, f"data-parallel/{mode}",
             _data_parallel_run(data_parallel / mode, mode, organism_ranking))
        for mode in ("spt", "sft")
    ]  # fmt: skip
    spec.append(_job(root, "data-parallel/cut", cut))
    spec += [
        _job(root, f"diagnosis/{mode}", _diagnosis_flags(root / "diagnosis" / f"{mode}.json", mode),
             door="patch")
        for mode in MODES
    ]  # fmt: skip
    spec.append(_job(root, "evaluation", _evaluation_flags(root / "evaluation" / "two.json"),
                     door="evaluate"))  # fmt: skip
    odd = _data_parallel_flags(data_parallel / "odd", "--steps", "1", ranking=organism_ranking)
    odd[odd.index("--batch-size") + 1] = "3"
    spec.append(_job(root, "data-parallel/odd", odd, refused=True))  # last: it exits
    launch_jobs(spec, root, port=29517)
    return root, runs


def _assert_main_process_wrote(root: Path, name: str, written: Path) -> None:
    """During the job `name` the main process printed `wrote WRITTEN`, once and nothing else
    written; the other process printed no `wrote`."""
    (main_out, _), (other_out, _) = _printed(root, name)
    assert main_out.count("wrote") == 1 and f"wrote {written}\n" in main_out
    assert "wrote" not in other_out


# FSDP


@pytest.mark.parametrize("name", ["spt-llama", "sft-llama-gqa", "spt-organism", "sft-organism"])
def test_two_sharded_processes_write_what_one_unsharded_process_writes(
    name: str,
    launched: tuple[Path, dict[str, list[str]]],
    tmp_path: Path,
    assert_same_outputs: Callable[..., None],
):
    root, runs = launched
    tune.main([*_unsharded(runs[name]), "--out", str(tmp_path)])
    two_out = root / "fsdp" / name
    assert_same_outputs(tmp_path, two_out, TOLERANCE)
    one, two = (json.loads((run / "tune.json").read_text()) for run in (tmp_path, two_out))
    losses = [row["loss"] for row in one["history"]]
    assert [row["loss"] for row in two["history"]] == pytest.approx(losses, abs=1e-5)
    assert two["config"]["fsdp"] and two["n_trainable"] == one["n_trainable"]
    if name.startswith("spt"):  # the base's record; SFT's fingerprints its (close) tuned weights
        assert two["model"] == one["model"]
    _assert_main_process_wrote(root, f"fsdp/{name}", two_out)


def test_an_interrupted_sharded_run_resumes_where_it_would_have_been(
    launched: tuple[Path, dict[str, list[str]]], assert_same_outputs: Callable[..., None]
):
    fsdp = launched[0] / "fsdp"
    assert not (fsdp / "cut" / "checkpoint").exists()
    assert_same_outputs(fsdp / "sft-organism", fsdp / "cut", 0.0)


def test_a_sharded_checkpoint_resumes_in_one_unsharded_process(
    launched: tuple[Path, dict[str, list[str]]],
    tmp_path: Path,
    assert_same_outputs: Callable[..., None],
):
    root, runs = launched
    left = root / "fsdp" / "left"
    assert (left / "checkpoint" / "sharded" / ".metadata").is_file()
    shutil.copytree(left, tmp_path / "left")
    tune.main([*_unsharded(runs["sft-organism"]), "--out", str(tmp_path / "left")])
    assert_same_outputs(root / "fsdp" / "sft-organism", tmp_path / "left", TOLERANCE)


# Data parallel


def _losses(out: Path) -> list[float]:
    return [row["loss"] for row in json.loads((out / "tune.json").read_text())["history"]]


def _assert_close(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> None:
    assert first.keys() == second.keys()
    for name, tensor in first.items():
        torch.testing.assert_close(second[name], tensor, atol=TOLERANCE, rtol=0, msg=name)


@pytest.mark.parametrize("mode", ["spt", "sft"])
def test_two_processes_take_the_steps_of_one(
    launched: tuple[Path, dict[str, list[str]]],
    organism_ranking: Path,
    tmp_path: Path,
    mode: str,
    capsys: pytest.CaptureFixture[str],
):
    root = launched[0]
    one_out, two_out = tmp_path / "one", root / "data-parallel" / mode
    capsys.readouterr()
    tune.main(_data_parallel_run(one_out, mode, organism_ranking))
    assert capsys.readouterr().out.count("wrote") == 1
    _assert_main_process_wrote(root, f"data-parallel/{mode}", two_out)
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
    launched: tuple[Path, dict[str, list[str]]], organism_ranking: Path, tmp_path: Path
):
    root = launched[0]
    cut = root / "data-parallel" / "cut"
    tune.main(_data_parallel_flags(tmp_path / "whole", *RESUMED, ranking=organism_ranking))
    _assert_main_process_wrote(root, "data-parallel/cut", cut)
    _assert_close(
        load_file(tmp_path / "whole" / "deltas.safetensors"), load_file(cut / "deltas.safetensors")
    )
    assert not (cut / "checkpoint").exists()


def test_a_batch_that_does_not_split_over_the_processes_is_refused(
    launched: tuple[Path, dict[str, list[str]]],
):
    root = launched[0]
    refusal = "--batch-size 3 does not split over 2 processes. Fix: a multiple of 2."
    assert all(refusal in err for _, err in _printed(root, "data-parallel/odd"))
    assert not (root / "data-parallel" / "odd").exists()


# Diagnosis


def _scores(path: Path) -> dict[tuple[int, int], tuple[float, float]]:
    document: dict[str, Any] = json.loads(path.read_text())
    return {
        (row["layer"], row["head"]): (row["score"], row["stderr"]) for row in document["scores"]
    }


@pytest.mark.parametrize("mode", MODES)
def test_two_processes_rank_the_heads_one_process_ranks(
    launched: tuple[Path, dict[str, list[str]]], tmp_path: Path, mode: str
):
    root = launched[0]
    patch.run(patch.parse_args(_diagnosis_flags(tmp_path / "one.json", mode)))
    two_path = root / "diagnosis" / f"{mode}.json"
    _assert_main_process_wrote(root, f"diagnosis/{mode}", two_path)
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


# Evaluation


def test_two_processes_write_the_report_one_process_writes(
    launched: tuple[Path, dict[str, list[str]]], tmp_path: Path
):
    root = launched[0]
    evaluate.run(evaluate.parse_args(_evaluation_flags(tmp_path / "one.json")))
    two_path = root / "evaluation" / "two.json"
    _assert_main_process_wrote(root, "evaluation", two_path)
    one, two = (json.loads(path.read_text()) for path in (tmp_path / "one.json", two_path))
    assert two["data"] == one["data"]  # the same questions, tasks and texts
    for first, second in zip(one["models"], two["models"], strict=True):
        assert second["sycophancy"] == first["sycophancy"]
        assert second["tasks"] == first["tasks"]
        assert [t["replies"] for t in second["transcripts"]] == [
            t["replies"] for t in first["transcripts"]
        ]
        if first["kl"] is not None:
            assert second["kl"]["mean_kl"] == pytest.approx(first["kl"]["mean_kl"], abs=TOLERANCE)
