"""The subcommands of the `sycolens` command: which module's parser and main run each.

Every door keeps its `python -m` form (`python -m sycolens.patch` is `sycolens diagnose`); this
table is the one place that says which module answers which word, so the dispatcher, the CLI
reference in the docs and the flag-vocabulary test read the same list. Nothing here imports a
door until it is asked for, so `sycolens --help` answers in a fraction of a second.
"""

import argparse
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast


@dataclass(frozen=True, kw_only=True)
class Door:
    """One subcommand: its name, aliases, one-line summary and the module that runs it.

    `word` is the argv word the module's own main expects before the flags (`tune merge`,
    `evaluate rejudge`), or "" for a module whose main takes the flags directly.
    """

    name: str
    module: str
    summary: str
    aliases: tuple[str, ...] = ()
    parser: str = "build_parser"
    word: str = ""

    @property
    def module_command(self) -> str:
        """Returns the `python -m` form of this door."""
        module = self.module.removesuffix(".__main__")
        return f"python -m {module}" + (f" {self.word}" if self.word else "")

    def build_parser(self) -> argparse.ArgumentParser:
        """Returns the door's own argument parser (imports the door's light module)."""
        factory = getattr(importlib.import_module(self.module), self.parser)
        return cast(Callable[[], argparse.ArgumentParser], factory)()

    def run(self, argv: Sequence[str]) -> None:
        """Runs the door's main on `argv` (the flags after the subcommand)."""
        main = importlib.import_module(self.module).main
        words = [self.word] if self.word else []
        cast(Callable[[list[str]], None], main)([*words, *argv])


DOORS: tuple[Door, ...] = (
    Door(
        name="diagnose",
        aliases=("patch",),
        module="sycolens.patch",
        summary="rank every attention head by its effect on sycophancy (path patching)",
    ),
    Door(
        name="knockout",
        aliases=("ablate",),
        module="sycolens.ablate",
        summary="knockout curve of the top heads vs random and bottom heads (Fig. 2b)",
    ),
    Door(
        name="attention",
        module="sycolens.attention.__main__",
        summary="do the top heads attend to the challenge? (Fig. 2c)",
    ),
    Door(
        name="tune",
        module="sycolens.tune",
        summary="pinpoint-tune the top heads (SPT) or fine-tune everything (SFT)",
    ),
    Door(
        name="merge",
        module="sycolens.tune",
        parser="build_merge_parser",
        word="merge",
        summary="merge deltas files of SPT runs into one",
    ),
    Door(
        name="evaluate",
        module="sycolens.evaluate",
        summary="confidence and truthfulness under 'Are you sure?', KL on general text",
    ),
    Door(
        name="rejudge",
        module="sycolens.evaluate",
        parser="build_rejudge_parser",
        word="rejudge",
        summary="re-score a saved evaluation report with today's judge",
    ),
    Door(
        name="organism",
        module="sycolens.organism.__main__",
        summary="train a model organism with planted sycophancy heads",
    ),
    Door(
        name="pipeline",
        module="sycolens.pipeline.__main__",
        summary="the whole method, end to end, with an HTML report",
    ),
)


def door_named(word: str) -> Door | None:
    """Returns the door a subcommand word or alias names, or None."""
    for door in DOORS:
        if word == door.name or word in door.aliases:
            return door
    return None
