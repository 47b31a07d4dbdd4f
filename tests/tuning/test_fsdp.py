"""FSDP in one process (`--fsdp --fsdp-offload`: a process group of its own, the parameters
DTensors): SFT takes the steps an unsharded run takes and writes the same files, and no process
group is left behind; a sharded checkpoint resumes unsharded and an unsharded one sharded
(slow). Two launched processes: tests/test_launches.py (slow)."""

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import torch

from sycolens.data.selection import QuestionSource
from sycolens.models import LoadedModel
from sycolens.models.spec import ModelSpec
from sycolens.training.config import TrainingConfig
from sycolens.tuning.config import TuneConfig, TuneJob
from sycolens.tuning.run import tune_model

# Measured on the organism after 3 SFT steps: weights within 3e-8 of the unsharded run's.
TOLERANCE = 1e-6


def _job(out: Path, *, sharded: bool = False) -> TuneJob:
    """SFT on the organism, 3 steps, a checkpoint after step 2; `sharded`: --fsdp and
    --fsdp-offload."""
    training = TrainingConfig(steps=3, learning_rate=1e-3, checkpoint_every=2)
    settings = TuneConfig(mode="sft", k=0, training=training, batch_size=4, fsdp=sharded,
                          fsdp_offload=sharded)  # fmt: skip
    return TuneJob(model=ModelSpec(name="organism-mha"),
                   questions=QuestionSource(source="organism", n=8),
                   tune=settings, out=out)  # fmt: skip


@pytest.fixture(scope="module")
def unsharded(
    tmp_path_factory: pytest.TempPathFactory, fresh_model: Callable[..., LoadedModel]
) -> Path:
    """The unsharded SFT run on the organism."""
    out = tmp_path_factory.mktemp("unsharded") / "sft"
    tune_model(fresh_model("organism-mha"), _job(out), show_progress=False)
    return out


def test_one_offloaded_process_takes_the_steps_of_an_unsharded_run(
    unsharded: Path,
    tmp_path: Path,
    fresh_model: Callable[..., LoadedModel],
    assert_same_outputs: Callable[..., None],
):
    """SFT, every weight a DTensor (SPT, whose deltas stay whole: tests/test_launches.py)."""
    sharded = tune_model(fresh_model("organism-mha"), _job(tmp_path, sharded=True),
                         show_progress=False)  # fmt: skip
    assert not torch.distributed.is_initialized()  # its own process group is gone
    assert sharded.wrote_outputs
    plain = json.loads((unsharded / "tune.json").read_text())
    assert sharded.n_trainable == plain["n_trainable"]
    losses = [row["loss"] for row in plain["history"]]
    assert [row["loss"] for row in sharded.training.history] == pytest.approx(losses, abs=1e-5)
    assert sharded.document["config"]["fsdp"] and sharded.document["config"]["fsdp_offload"]
    assert_same_outputs(unsharded, tmp_path, TOLERANCE)


@pytest.mark.slow  # four runs: 16 s of `make test` on a loaded 2-core machine
def test_checkpoints_resume_across_sharded_and_unsharded_runs(
    unsharded: Path,
    tmp_path: Path,
    interrupt_training: Callable[[int], AbstractContextManager[None]],
    fresh_model: Callable[..., LoadedModel],
    assert_same_outputs: Callable[..., None],
):
    """A sharded checkpoint (DCP) resumes in an unsharded run, an unsharded one (whole tensors)
    in a sharded run: both end where a run that never stopped ends."""
    for name, first, then in (("to-plain", True, False), ("to-fsdp", False, True)):
        with interrupt_training(3):  # step 3 of 3, after the checkpoint at step 2
            tune_model(fresh_model("organism-mha"), _job(tmp_path / name, sharded=first),
                       show_progress=False)  # fmt: skip
        is_sharded = (tmp_path / name / "checkpoint" / "sharded" / ".metadata").is_file()
        assert is_sharded == first
        tune_model(fresh_model("organism-mha"), _job(tmp_path / name, sharded=then),
                   show_progress=False)  # fmt: skip
        assert not (tmp_path / name / "checkpoint").exists()
        assert_same_outputs(unsharded, tmp_path / name, TOLERANCE)
    assert not torch.distributed.is_initialized()
