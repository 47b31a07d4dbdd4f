"""The model spec and the lazily imported public names of `sycolens.models`."""

from collections.abc import Callable

import pytest
import torch

import sycolens.models
from sycolens import evaluate
from sycolens.models.spec import ModelSpec, check_device_present


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": " "}, r"The model name is empty. Fix: pass --model"),
        ({"device": "gpu"}, r"Device 'gpu' is not one of cpu, cuda, cuda:N, mps"),
    ],
)
def test_impossible_specs_are_refused(fields: dict[str, str], message: str):
    with pytest.raises(ValueError, match=message):
        ModelSpec(**fields)  # type: ignore[arg-type]


def test_an_unknown_dtype_is_refused():
    # Under the tests' runtime type checker the constructor refuses it first; users without
    # one rely on this check.
    spec = ModelSpec()
    object.__setattr__(spec, "dtype", "int4")
    with pytest.raises(ValueError, match=r"dtype 'int4' is not one of float32, bfloat16, float16"):
        spec.__post_init__()


def test_public_names_import_on_first_use_and_unknown_ones_are_named():
    assert sycolens.models.ModelSpec is ModelSpec
    with pytest.raises(AttributeError, match=r"module 'sycolens.models' has no attribute 'nope'"):
        getattr(sycolens.models, "nope")  # noqa: B009


def test_devices_are_checked_against_what_torch_sees(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    for device in ("cpu", "meta", "cuda", "cuda:1"):
        check_device_present(device)
    with pytest.raises(
        ValueError, match=r"Device 'cuda:2' is not on this machine: torch .* sees 2"
    ):
        check_device_present("cuda:2")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"Device 'mps' is not on this machine: torch sees no "):
        check_device_present("mps")


def test_a_device_that_is_no_torch_device_is_a_usage_error(usage_error: Callable[..., str]):
    argv = ["--model", "organism-mha", "--questions", "organism", "--device", "tpu:7"]
    printed = usage_error(evaluate.parse_args, argv).strip().splitlines()
    assert printed[-1].endswith(
        "Device 'tpu:7' is not one of cpu, cuda, cuda:N, mps. Fix --device."
    )
