"""Launches that ask accelerate to shard the model (FSDP, DeepSpeed, Megatron-LM) are refused up
front, naming `--fsdp` (sycolens's own sharding); so is `--fsdp` in a lone process, before the
model loads, from the library too."""

from pathlib import Path

import pytest

from sycolens import tune
from sycolens.models.spec import ModelSpec
from sycolens.training.data_parallel import DataParallel
from sycolens.tuning.config import TuneConfig, TuneJob
from sycolens.tuning.run import run_tuning


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
        rf"asks accelerate for {name} \({variable}\), which sycolens does not use "
        rf"\(and {name} needs GPUs: there are none\).*Fix: launch without accelerate's "
        r"sharding.*pass --fsdp to `sycolens tune`, which shards it itself \(FSDP2\)"
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
    with pytest.raises(ValueError, match=r"which sycolens does not use.*pass --fsdp"):
        tune.run(args)
    assert not loads


def test_the_library_refuses_fsdp_in_a_lone_process_before_it_loads_the_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    job = TuneJob(model=ModelSpec(name="organism-mha"), out=tmp_path,
                  tune=TuneConfig(mode="sft", k=0, fsdp=True))  # fmt: skip
    loads: list[object] = []
    monkeypatch.setattr("sycolens.tuning.run.load_model_spec", loads.append)
    with pytest.raises(ValueError, match=r"--fsdp shards the model .* runs alone.*Fix: launch"):
        run_tuning(job)
    assert not loads


def test_a_plain_launch_is_one_process(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "false")
    assert DataParallel.from_environment() == DataParallel()
