"""`sycolens SUBCOMMAND [flags]`: one command for every step of the method.

    sycolens diagnose --model organism-mha --out heads.json
    sycolens tune --model organism-mha --heads heads.json --out spt
    sycolens evaluate --model organism-mha --deltas spt/deltas.safetensors --out eval.json

`sycolens SUBCOMMAND --help` shows a step's flags. Each subcommand is the same parser and run
as its `python -m` form (`sycolens diagnose` is `python -m sycolens.patch`).
"""

import sys
from collections.abc import Sequence

from sycolens.cli.doors import DOORS, door_named
from sycolens.cli_args import PROG


def usage() -> str:
    """Returns the command's help: the docstring, then one line per subcommand."""
    width = max(len(door.name) for door in DOORS)
    lines = [
        f"  {door.name:<{width}}  {door.summary}"
        + (f" (alias: {', '.join(door.aliases)})" if door.aliases else "")
        for door in DOORS
    ]
    return f"usage: sycolens SUBCOMMAND [flags]\n{__doc__}\nsubcommands:\n" + "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Runs the subcommand that `argv` names; prints the usage for none or --help."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return
    door = door_named(args[0])
    if door is None:
        names = ", ".join(door.name for door in DOORS)
        sys.stderr.write(f"{usage()}\n\nsycolens: error: unknown subcommand {args[0]!r}. ")
        sys.stderr.write(f"Fix: one of {names}.\n")
        raise SystemExit(2)
    token = PROG.set(f"sycolens {args[0]}")
    try:
        door.run(args[1:])
    finally:
        PROG.reset(token)


if __name__ == "__main__":
    main()
