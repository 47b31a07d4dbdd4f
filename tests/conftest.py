"""Shared fixtures: seeded RNGs, offline hub, tiny checkpoints of every family, SmolLM2."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import dataclasses
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from sycolens import patch
from sycolens.models import LoadedModel, load_model
from sycolens.models.tiny import TINY_FAMILIES, TinyFamily, save_tiny_checkpoint


@pytest.fixture(autouse=True)
def _fixed_seeds() -> Iterator[None]:
    random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[TinyFamily, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {family: save_tiny_checkpoint(family, root / family) for family in TINY_FAMILIES}


@pytest.fixture(scope="session")
def tiny_models(tiny_checkpoints: dict[TinyFamily, Path]) -> dict[TinyFamily, LoadedModel]:
    return {family: load_model(str(path)) for family, path in tiny_checkpoints.items()}


@pytest.fixture(scope="session")
def smollm2() -> LoadedModel:
    return load_model("smollm2-135m-instruct")


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
