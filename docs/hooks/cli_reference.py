"""Renders the CLI reference from the parsers themselves, so it cannot drift from the flags.

Registered under `hooks:` in mkdocs.yml. On a page holding the marker line `MARKER`, the marker
becomes `sycolens --help` (`sycolens.cli.main.usage`) followed by one section per door of
`sycolens.cli.doors.DOORS`: its name, aliases, summary, `python -m` form and the `--help` of its
own parser (and of each of that parser's subcommands), rendered as `sycolens SUBCOMMAND` exactly
as the dispatcher runs it. Help is wrapped at a fixed width so every build renders the same page.
"""

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager

from sycolens.cli.doors import DOORS, Door
from sycolens.cli.main import usage
from sycolens.cli_args import PROG

MARKER = "<!-- cli-reference -->"
HELP_COLUMNS = "100"


@contextmanager
def _fixed_width() -> Iterator[None]:
    """Sets COLUMNS, which argparse wraps help to, for the duration; restores it after."""
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS
    try:
        yield
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before


def _fenced(text: str) -> str:
    """Returns `text` as a fenced plain-text block."""
    return f"```text\n{text.rstrip()}\n```"


def _subcommand_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Returns the parsers of `parser`'s subcommands (`organism train`), in the order added."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.extend(action.choices.values())
    return found


def render_door(door: Door) -> str:
    """Returns one door's section: heading, summary, its other names and its parsers' help."""
    token = PROG.set(f"sycolens {door.name}")
    try:
        parser = door.build_parser()
    finally:
        PROG.reset(token)
    names = [f"`{door.module_command}`", *(f"`sycolens {alias}`" for alias in door.aliases)]
    lines = [
        f"## `sycolens {door.name}`",
        "",
        f"{door.summary[:1].upper()}{door.summary[1:]}. Also runs as {' and '.join(names)}.",
        "",
        _fenced(parser.format_help()),
    ]
    for sub in _subcommand_parsers(parser):
        lines += ["", f"### `{sub.prog}`", "", _fenced(sub.format_help())]
    return "\n".join(lines)


def render_reference() -> str:
    """Returns the whole reference: the command's usage, then every door in DOORS order."""
    with _fixed_width():
        sections = ["## `sycolens`", "", _fenced(usage())]
        sections += [render_door(door) for door in DOORS]
    return "\n\n".join(sections) + "\n"


def on_page_markdown(markdown: str, **_: object) -> str:
    """MkDocs hook: replaces the marker with the rendered reference on the page that has it."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render_reference())
