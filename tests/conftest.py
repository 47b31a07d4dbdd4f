"""Shared fixtures: seeded RNGs, offline hub, tiny checkpoints of every family, SmolLM2."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

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
