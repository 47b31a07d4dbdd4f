"""The model spec and the lazily imported public names of `sycolens.models`."""

import pytest

import sycolens.models
from sycolens.models.spec import ModelSpec


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
