"""The default tier's guards: a model load outside the shared fixtures, or any SmolLM2 load,
fails the test that made it, naming the fix (tests/conftest.py); and a fixture built once for
all xdist workers is built once."""

from pathlib import Path

import pytest

from sycolens.models import load_model
from sycolens.models.sources import read_model_shape
from tests.conftest import BuiltOnce


def test_a_load_in_a_tests_own_code_fails_naming_the_fixtures():
    with pytest.raises(AssertionError, match=r"calls load_model in test_tiers.py\. Fix: take "
                       r"the session `organisms`/`organism`/`tiny_models` fixtures"):  # fmt: skip
        load_model("organism-mha")


def test_smollm2_in_the_default_tier_fails_naming_the_end_to_end_tier():
    with pytest.raises(AssertionError, match=r"loads smollm2-135m-instruct in the default tier "
                       r"of `make test`.*`smollm2` fixture"):  # fmt: skip
        read_model_shape("smollm2-135m-instruct")


def test_a_fixture_shared_by_xdist_workers_is_built_once(
    once_per_session: BuiltOnce,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    """Two workers asking for it (here: two calls as worker gw1, whose run's shared folder is
    this test's own) get one build's folder."""
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    monkeypatch.setattr(tmp_path_factory, "getbasetemp", lambda: tmp_path / "popen-gw1")
    builds: list[Path] = []

    def build(folder: Path) -> None:
        builds.append(folder)
        (folder / "made").write_text(str(len(builds)))

    first, second = (once_per_session("built-once-test", build) for _ in range(2))
    assert first == second == builds[0] == tmp_path / "built-once-test" and len(builds) == 1
    assert (first / "made").read_text() == "1"
