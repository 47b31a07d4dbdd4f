"""The pipeline tests' reader of a step's command: the step's own door parser."""

from collections.abc import Callable
from typing import Any

import pytest

from sycolens import ablate, evaluate, patch, tune
from sycolens.attention import __main__ as attention
from sycolens.pipeline.steps import STEP_SUBCOMMANDS, StepConfig

_PARSERS: dict[str, Callable[[list[str]], Any]] = {
    "diagnose": patch.parse_args,
    "knockout": ablate.parse_args,
    "attention": attention.parse_args,
    "tune": tune.parse_args,
    "evaluate": evaluate.parse_args,
}


@pytest.fixture
def parse_step() -> Callable[[str, list[str]], StepConfig]:
    """Returns a function parsing a step's argv with the door the step runs."""

    def parse(step: str, argv: list[str]) -> StepConfig:
        return _PARSERS[STEP_SUBCOMMANDS[step]](argv)

    return parse
