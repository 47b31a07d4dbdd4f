"""The default tier's guards: a model load outside the shared fixtures, or any SmolLM2 load,
fails the test that made it, naming the fix (tests/conftest.py); and test files run longest
first (tests/durations.py)."""

import pytest

from sycolens.models import load_model
from sycolens.models.sources import read_model_shape
from tests.durations import longest_first, merged_durations


def test_a_load_in_a_tests_own_code_fails_naming_the_fixtures():
    with pytest.raises(AssertionError, match=r"calls load_model in test_tiers.py\. Fix: take "
                       r"the session `organisms`/`organism`/`tiny_models` fixtures"):  # fmt: skip
        load_model("organism-mha")


def test_smollm2_in_the_default_tier_fails_naming_the_end_to_end_tier():
    with pytest.raises(AssertionError, match=r"loads smollm2-135m-instruct in the default tier "
                       r"of `make test`.*`smollm2` fixture"):  # fmt: skip
        read_model_shape("smollm2-135m-instruct")


def test_files_run_longest_first_and_so_do_each_files_tests():
    ids = ["a.py::x", "a.py::y", "b.py::z", "c.py::w", "c.py::v"]
    seconds = {"a.py::x": 1.0, "a.py::y": 3.0, "b.py::z": 10.0}
    # c.py's two unrecorded tests count a tenth each; ties keep the collection order
    assert longest_first(ids, seconds) == ["b.py::z", "a.py::y", "a.py::x", "c.py::w", "c.py::v"]


def test_recorded_durations_take_this_runs_rounded_and_drop_the_short_ones():
    recorded = {"a.py::x": 5.0, "a.py::y": 2.0, "gone.py::z": 1.0}
    measured = {"a.py::x": 7.04, "a.py::y": 0.04, "b.py::w": 0.25}
    assert merged_durations(recorded, measured) == {"a.py::x": 7.0, "b.py::w": 0.2,
                                                    "gone.py::z": 1.0}  # fmt: skip
