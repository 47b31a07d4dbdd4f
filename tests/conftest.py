"""Shared fixtures: seeded RNGs, offline hub, tiny checkpoints of every family, SmolLM2.

Tiers: `make test` runs unit and integration tests (pure functions, tiny models, the organisms,
one process); `make test-slow` runs the end-to-end tier, the tests marked `slow` (subprocess
CLIs, multi-process launches), but for the organism retrain (also `retrain`: `make
test-retrain`). A test that touches SmolLM2 belongs to the end-to-end
tier: taking the `smollm2` fixture or the `smollm2` marker puts it there, and in the default tier
any load of SmolLM2 fails the test that made it.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import dataclasses
import json
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import torch
from safetensors import safe_open

import sycolens.models.load as load_module
import sycolens.models.sources as sources
from sycolens import patch
from sycolens.models import LoadedModel, load_model
from sycolens.models.registry import EmbeddedModel
from sycolens.models.tiny import TINY_FAMILIES, TinyFamily, save_tiny_checkpoint
from tests.durations import pytest_addoption, pytest_configure

__all__ = ["pytest_addoption", "pytest_configure"]  # hooks: test files run longest first

END_TO_END_FIXTURES = frozenset({"smollm2"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Puts in the end-to-end tier every test that uses SmolLM2 (its fixture or marker) and
    each per-family test of a family outside DEFAULT_TIER_FAMILIES (tests/durations.py then
    orders the tier's tests)."""
    for item in items:
        uses_smollm2 = END_TO_END_FIXTURES & set(getattr(item, "fixturenames", ()))
        if uses_smollm2 or item.get_closest_marker("smollm2") is not None:
            item.add_marker(pytest.mark.smollm2)
            item.add_marker(pytest.mark.slow)
        params: dict[str, Any] = getattr(getattr(item, "callspec", None), "params", {})
        family = params.get("family", params.get("name"))
        if family in TINY_FAMILIES and family not in DEFAULT_TIER_FAMILIES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _no_embedded_model_outside_end_to_end(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails a default-tier test that loads SmolLM2 (or reads its shape): seconds each, and
    half a minute for the first dequantisation on a clean machine."""
    if request.node.get_closest_marker("slow") is not None:
        return

    def refuse(model: EmbeddedModel, cache_root: Path | None = None) -> Path:
        del cache_root
        raise AssertionError(
            f"{request.node.nodeid} loads {model.name} in the default tier of `make test`. "
            "Fix: use a tiny checkpoint or an organism, or take the session `smollm2` fixture "
            "(which moves the test to `make test-slow`)."
        )

    monkeypatch.setattr(sources, "cached_checkpoint_dir", refuse)


@pytest.fixture(autouse=True)
def _fixed_seeds() -> Iterator[None]:
    random.seed(0)
    torch.manual_seed(0)
    yield


class _BuiltOnFirstUse(dict[TinyFamily, Any]):
    """A family's entry is made the first time a test asks for it, then kept for the session,
    so a run builds only the tiny checkpoints its tests use."""

    def __init__(self, make: Callable[[TinyFamily], Any]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, family: TinyFamily) -> Any:
        self[family] = made = self._make(family)
        return made


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[TinyFamily, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return _BuiltOnFirstUse(lambda family: save_tiny_checkpoint(family, root / family))


@pytest.fixture(scope="session")
def tiny_models(tiny_checkpoints: dict[TinyFamily, Path]) -> dict[TinyFamily, LoadedModel]:
    return _BuiltOnFirstUse(lambda family: load_model(str(tiny_checkpoints[family])))


# The default tier runs the per-family tests on one family of each structural variant; the
# end-to-end tier adds the rest (their layouts repeat one of these).
DEFAULT_TIER_FAMILIES: frozenset[str] = frozenset({
    "llama",  # MHA, separate q/k/v/o
    "llama-gqa",  # grouped-query attention
    "gemma2",  # norm on the attention output, soft-capped logits, eager attention
    "olmo2",  # norm on the attention output and no pre-norm, query/key norm over all heads
    "granite",  # residual and logit multipliers
    "cohere",  # parallel attention and MLP, logit scale, per-head query/key norms
    "phi",  # parallel, LayerNorm, biased q/k/v and output projection named `dense`
    "phi3",  # fused [Q | K | V] nn.Linear
    "gpt2",  # fused [Q | K | V] Conv1D, learned positions
})  # fmt: skip
assert set(TINY_FAMILIES) >= DEFAULT_TIER_FAMILIES  # a typo here would run nothing


@pytest.fixture(scope="session")
def smollm2() -> LoadedModel:
    return load_model("smollm2-135m-instruct")


ORGANISM_NAMES = ("organism-mha", "organism-gqa", "organism-control")


@pytest.fixture(scope="session")
def organisms() -> dict[str, LoadedModel]:
    """The shipped organisms, loaded once per session: read them, never change their weights
    or leave hooks in them (take `fresh_model` for that)."""
    return {name: load_model(name) for name in ORGANISM_NAMES}


@pytest.fixture(scope="session")
def organism(organisms: dict[str, LoadedModel]) -> LoadedModel:
    """organism-mha (planted heads (1,2), (2,0), (3,3)), shared read-only like `organisms`."""
    return organisms["organism-mha"]


# organism-mha's 4 layers split as a device map may split them: layers 2 and 3, the embedding and
# the unembedding on disk, the rest in CPU memory (accelerate dispatch runs on a CPU too).
HALF_ON_DISK = {
    "model.embed_tokens": "disk",
    "model.layers.0": "cpu",
    "model.layers.1": "cpu",
    "model.layers.2": "disk",
    "model.layers.3": "disk",
    "model.norm": "cpu",
    "lm_head": "disk",
}


@pytest.fixture(scope="session")
def half_on_disk_map(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`HALF_ON_DISK` as the JSON file `--device-map` takes."""
    path = tmp_path_factory.mktemp("device_map") / "half_on_disk.json"
    path.write_text(json.dumps(HALF_ON_DISK))
    return path


@pytest.fixture(scope="session")
def dispatched_organism(
    half_on_disk_map: Path, tmp_path_factory: pytest.TempPathFactory
) -> LoadedModel:
    """organism-mha dispatched by `HALF_ON_DISK`, loaded once: read it, never change it (take
    `fresh_model(..., device_map=...)` for that)."""
    offload = tmp_path_factory.mktemp("offload")
    return load_model("organism-mha", device_map=str(half_on_disk_map), offload_dir=offload)


def _load_private_copy(source: str, **options: Any) -> LoadedModel:
    return load_model(source, **options)


@pytest.fixture(scope="session")
def fresh_model() -> Callable[..., LoadedModel]:
    """Returns a loader of private copies (`load_model`'s arguments), for tests and fixtures
    that tune, edit or hook a model."""
    return _load_private_copy


@pytest.fixture(autouse=True)
def _models_load_through_fixtures(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails a default-tier test whose own code calls `load_model`, so that loads stay in the
    shared fixtures above (library code a test runs, a CLI's `run`, may load as it must)."""
    if request.node.get_closest_marker("slow") is not None:
        return
    wrap = load_module.wrap_hf_model

    def checked_wrap(*args: Any, **kwargs: Any) -> LoadedModel:
        caller = _caller_of_load_model()
        in_tests = caller is not None and TESTS_ROOT in caller.parents
        if in_tests and caller is not None and caller.name not in LOADING_ALLOWED_IN:
            raise AssertionError(
                f"{request.node.nodeid} calls load_model in {caller.name}. Fix: take the "
                "session `organisms`/`organism`/`tiny_models` fixtures to read a model, or "
                "`fresh_model(name)` for a copy the test may change."
            )
        return wrap(*args, **kwargs)

    monkeypatch.setattr(load_module, "wrap_hf_model", checked_wrap)


TESTS_ROOT = Path(__file__).parent
# Fixtures load models; so do the tests of loading and saving themselves.
LOADING_ALLOWED_IN = frozenset({"conftest.py", "test_load.py", "test_save.py"})
PROJECT_ROOT = TESTS_ROOT.parent


def _caller_of_load_model() -> Path | None:
    """Returns the file whose code called `sycolens.models.load.load_model`, if it was called."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "load_model" and code.co_filename == load_module.__file__:
            return _first_project_file(frame.f_back)
        frame = frame.f_back
    return None


def _first_project_file(frame: FrameType | None) -> Path | None:
    """Returns the file of the first frame from `frame` back that is this project's code,
    skipping the type checkers' wrappers (jaxtyping, beartype) between a call and its body."""
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if PROJECT_ROOT in path.parents and ".venv" not in path.parts:
            return path
        frame = frame.f_back
    return None


def _leaf_fields(config: Any, prefix: str = "") -> set[str]:
    """Returns the dotted paths of every non-dataclass field under a (nested) config."""
    leaves: set[str] = set()
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        path = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(value):
            leaves |= _leaf_fields(value, f"{path}.")
        else:
            leaves.add(path)
    return leaves


def _value_at(config: Any, path: str) -> Any:
    for name in path.split("."):
        config = getattr(config, name)
    return config


@pytest.fixture
def flags_reach_config() -> Callable[..., None]:
    """Checks that every flag lands in its config field and every field has a flag (STYLE §2).

    `values` maps each flag to (raw text, dotted field path, expected value); `unset` names the
    fields no flag sets (library-only settings), so a field nobody reads or sets is caught.
    """

    def check(
        parse: Callable[[Sequence[str]], Any],
        values: dict[str, tuple[str, str, Any]],
        *,
        unset: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> None:
        argv = [token for flag, (raw, _, _) in values.items() for token in (flag, raw)]
        config = parse(argv)
        for flag, (_, path, expected) in values.items():
            assert _value_at(config, path) == expected, (flag, path)
        covered = {path for _, path, _ in values.values()} | set(unset)
        assert covered == _leaf_fields(config)

    return check


@pytest.fixture
def usage_error(capsys: pytest.CaptureFixture[str]) -> Callable[..., str]:
    """Returns what a CLI's parser printed when it refused `argv` with a usage error (exit 2)."""

    def refuse(parse: Callable[[Sequence[str]], Any], argv: Sequence[str]) -> str:
        with pytest.raises(SystemExit) as exit_info:
            parse(argv)
        assert exit_info.value.code == 2
        return capsys.readouterr().err

    return refuse


@pytest.fixture(scope="session")
def organism_ranking(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """organism-mha's head ranking on 16 pairs (top 3: the planted heads), as `patch` writes it."""
    out = tmp_path_factory.mktemp("ranking") / "heads.json"
    patch.main(["--model", "organism-mha", "--questions", "organism", "--pairs", "16",
                "--top-k", "3", "--out", str(out)])  # fmt: skip
    return out


def _written_tensors(run: Path) -> dict[str, torch.Tensor]:
    """Returns every tensor a run wrote, named `file:tensor`."""
    tensors: dict[str, torch.Tensor] = {}
    for path in sorted(run.rglob("*.safetensors")):
        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():  # noqa: SIM118
                tensors[f"{path.relative_to(run)}:{name}"] = handle.get_tensor(name)
    return tensors


@pytest.fixture(scope="session")
def assert_same_outputs() -> Callable[..., None]:
    """`assert_same_outputs(first, second, tolerance)`: two run folders hold the same files, the
    same HF config and training record, and every tensor within `tolerance` (0: equal)."""

    def check(first: Path, second: Path, tolerance: float) -> None:
        assert sorted(p.relative_to(first) for p in first.rglob("*")) == sorted(
            p.relative_to(second) for p in second.rglob("*")
        )
        for name in ("model/config.json", "model/sycolens_tuning.json"):
            assert (first / name).read_text() == (second / name).read_text(), name
        expected, found = _written_tensors(first), _written_tensors(second)
        assert expected.keys() == found.keys()
        for name, tensor in expected.items():
            torch.testing.assert_close(found[name], tensor, atol=tolerance, rtol=0, msg=name)

    return check
