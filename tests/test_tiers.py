"""The default tier's guards: a model load outside the shared fixtures, or any SmolLM2 load,
fails the test that made it, naming the fix (tests/conftest.py)."""

import pytest

from sycolens.models import load_model
from sycolens.models.sources import read_model_shape


def test_a_load_in_a_tests_own_code_fails_naming_the_fixtures():
    with pytest.raises(AssertionError, match=r"calls load_model in test_tiers.py\. Fix: take "
                       r"the session `organisms`/`organism`/`tiny_models` fixtures"):  # fmt: skip
        load_model("organism-mha")


def test_smollm2_in_the_default_tier_fails_naming_the_end_to_end_tier():
    with pytest.raises(AssertionError, match=r"loads smollm2-135m-instruct in the default tier "
                       r"of `make test`.*`smollm2` fixture"):  # fmt: skip
        read_model_shape("smollm2-135m-instruct")
