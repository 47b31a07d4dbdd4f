"""The `sycolens` command: every subcommand and its `python -m` alias, and one flag vocabulary."""

import argparse
import importlib
import re
import runpy
import sys
import warnings
from collections import defaultdict
from pathlib import Path

import pytest

from sycolens.cli.doors import DOORS, door_named
from sycolens.cli.main import main, usage

# Spellings older doors used for a quantity that now has one name everywhere; each is kept only
# as an alias after the name every door shares.
RETIRED_NAMES = {"--k": "--top-k or --ks", "--top-n": "--top-k", "--json": "--out",
                 "--pairs": "--n-questions", "--prompts": "--n-questions"}  # fmt: skip


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [action for action in parser._actions if action.option_strings]  # noqa: SLF001


def test_every_door_has_a_parser_and_a_module_form():
    names = [door.name for door in DOORS]
    assert names == ["diagnose", "knockout", "attention", "tune", "merge", "evaluate",
                     "rejudge", "organism", "pipeline"]  # fmt: skip
    for door in DOORS:
        assert isinstance(door.build_parser(), argparse.ArgumentParser)
        module = door.module_command.split()[2]
        importlib.import_module(module if module != "sycolens.attention" else f"{module}.__main__")
    assert door_named("patch") is door_named("diagnose")
    assert door_named("ablate") is door_named("knockout") and door_named("nope") is None


def test_a_quantity_has_one_name_in_every_door():
    names: dict[str, set[str]] = defaultdict(set)
    for door in DOORS:
        for action in _options(door.build_parser()):
            canonical = action.option_strings[0]
            assert canonical not in RETIRED_NAMES, (
                f"{door.name} names {action.dest} {canonical}; the shared name is "
                f"{RETIRED_NAMES[canonical]}"
            )
            names[action.dest].add(canonical)
    assert {dest: spelled for dest, spelled in names.items() if len(spelled) > 1} == {}
    assert names["top_k"] == {"--top-k"} and names["count"] == {"--n-questions"}
    assert names["heads"] == {"--heads"} and names["out"] == {"--out"}


@pytest.mark.parametrize("door", DOORS, ids=lambda door: door.name)
def test_each_subcommand_answers_help_under_its_own_name(
    door: object, capsys: pytest.CaptureFixture[str]
):
    assert hasattr(door, "name")
    name = str(getattr(door, "name"))  # noqa: B009
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: sycolens {name}")


def test_usage_lists_every_subcommand_and_an_unknown_one_exits_2(
    capsys: pytest.CaptureFixture[str],
):
    main([])
    printed = capsys.readouterr().out
    assert all(re.search(rf"^  {door.name} ", printed, re.M) for door in DOORS)
    assert printed == usage() + "\n"
    with pytest.raises(SystemExit) as exit_info:
        main(["diagnoze"])
    assert exit_info.value.code == 2
    assert (
        "unknown subcommand 'diagnoze'. Fix: one of diagnose, knockout" in capsys.readouterr().err
    )


def test_a_subcommand_error_names_the_subcommand(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        main(["tune", "--model", "organism-mha", "--heads", "9.9", "--out", "x"])
    assert exit_info.value.code == 2
    assert "sycolens tune: error: --heads 9.9 names 9.9, outside organism-mha's" in (
        capsys.readouterr().err
    )


def test_a_module_form_keeps_its_own_name(capsys: pytest.CaptureFixture[str]):
    from sycolens import tune

    with pytest.raises(SystemExit):
        tune.main(["--model", "organism-mha", "--heads", "9.9", "--out", "x"])
    assert "python -m sycolens.tune: error:" in capsys.readouterr().err


def test_the_pipeline_prints_each_step_as_the_subcommand_that_runs_it(tmp_path: Path):
    from sycolens.pipeline.config import DEMO_PARTS, STEP_NAMES
    from sycolens.pipeline.steps import STEP_SUBCOMMANDS, PartPaths, shell_command, step_configs

    assert set(STEP_SUBCOMMANDS) == set(STEP_NAMES)
    configs = step_configs(DEMO_PARTS["organism"], PartPaths(tmp_path))
    for step, config in configs.items():
        door = door_named(STEP_SUBCOMMANDS[step])
        assert door is not None and type(config).__module__ == door.module  # its door's config
        assert shell_command(step, config).startswith(f"sycolens {door.name} --model organism-mha")


def test_no_door_takes_an_abbreviated_flag(capsys: pytest.CaptureFixture[str]):
    assert all(door.build_parser().allow_abbrev is False for door in DOORS)
    with pytest.raises(SystemExit) as exit_info:  # --heads is not --heads-by-layer-out
        main(["diagnose", "--model", "organism-mha", "--heads", "3.3"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --heads 3.3" in capsys.readouterr().err


@pytest.mark.parametrize("door", DOORS, ids=lambda door: door.name)
def test_each_module_form_runs_its_door_as_a_script(
    door: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """`python -m MODULE [WORD] --help` as the interpreter runs it (`__name__ == "__main__"`),
    in this process; the end-to-end tier runs each door once more in a fresh interpreter."""
    command = str(getattr(door, "module_command"))  # noqa: B009
    module, *words = command.split()[2:]
    monkeypatch.setattr(sys, "argv", [module, *words, "--help"])
    with warnings.catch_warnings():  # runpy warns that the module is imported already
        warnings.filterwarnings("ignore", r".*found in sys\.modules", RuntimeWarning)
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {command}")
