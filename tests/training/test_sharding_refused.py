"""Launches configured to shard the model (FSDP, DeepSpeed, Megatron-LM) are refused up front."""

from pathlib import Path

import pytest

from sycolens import tune
from sycolens.training.data_parallel import DataParallel


@pytest.mark.parametrize(
    ("variable", "name"),
    [
        ("ACCELERATE_USE_FSDP", "FSDP"),
        ("ACCELERATE_USE_DEEPSPEED", "DeepSpeed"),
        ("ACCELERATE_USE_MEGATRON_LM", "Megatron-LM"),
    ],
)
def test_a_sharding_launch_names_the_fix(monkeypatch: pytest.MonkeyPatch, variable: str, name: str):
    monkeypatch.setenv(variable, "true")
    message = (
        rf"asks accelerate for {name} \({variable}\).*"
        rf"\(and {name} needs GPUs: there are none\).*Fix: launch without sharding"
    )
    with pytest.raises(ValueError, match=message):
        DataParallel.from_environment()


def test_tune_refuses_fsdp_before_it_loads_the_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    flags = ["--model", "organism", "--random-heads", "--top-k", "1", "--out", str(tmp_path)]
    args = tune.parse_args(flags)
    loads: list[object] = []
    monkeypatch.setattr("sycolens.tuning.run.load_model_spec", loads.append)
    with pytest.raises(ValueError, match=r"sycolens does not shard models"):
        tune.run(args)
    assert not loads


def test_a_plain_launch_is_one_process(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "false")
    assert DataParallel.from_environment() == DataParallel()
