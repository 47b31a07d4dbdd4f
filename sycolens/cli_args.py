"""The flags every CLI shares, mapped onto the shared configs, and checked before work starts.

A door (`python -m sycolens.patch`, `...evaluate`, and the knockout and tuning doors after
them) is parse -> one frozen config -> one library call -> outputs. The flags for the model
(`ModelSpec`), the questions (`QuestionSource`), the labels (`LabelSpec`) and the judge of
challenged replies (`--judge`) are added and read here, once, so every door spells and checks
them the same way. Only light modules are imported, so `--help` and a bad flag answer in a
second; `parse_config` turns a config's refusal into a usage error (exit 2) instead of a
traceback.
"""

import argparse
import os
import sys
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from sycolens.data.selection import QuestionSource
from sycolens.data.sets import question_set_names
from sycolens.evaluation.judge import RULE_JUDGE, JudgeError, resolve_judge
from sycolens.head_lists import HeadList, heads_from_flag
from sycolens.models.device_map import AUTO, check_device_map_flags
from sycolens.models.registry import question_set_for
from sycolens.models.spec import DEFAULT_MODEL, DTYPE_NAMES, ModelSpec, check_device_present
from sycolens.prompts.label_spec import LabelSpec

Config = TypeVar("Config")

# The command line a door is run as, when `sycolens SUBCOMMAND` runs it (see `sycolens.cli`).
PROG: ContextVar[str | None] = ContextVar("sycolens_prog", default=None)


def door_prog(module_command: str) -> str:
    """Returns the name a door's usage and errors go by: `sycolens diagnose` when run as a
    subcommand, else its `python -m` form."""
    return PROG.get() or module_command


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds --model, --device and --dtype."""
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help="embedded name, checkpoint dir or hub id"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    parser.add_argument("--dtype", choices=DTYPE_NAMES, default="float32")


def model_spec_from(args: argparse.Namespace) -> ModelSpec:
    """Returns the model flags as a spec; a device this machine lacks is refused here."""
    check_device_present(args.device)
    return ModelSpec(name=args.model, device=args.device, dtype=args.dtype)


def add_dispatch_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds --device-map and --offload-dir, for the doors that run a model without training it
    (a model bigger than one device, dispatched by accelerate)."""
    parser.add_argument(
        "--device-map",
        metavar="auto|FILE",
        help="dispatch the model across devices instead of --device: auto fills the GPUs, then "
        "CPU memory, then disk; FILE is a JSON map of module -> cpu, disk or cuda:N",
    )
    parser.add_argument(
        "--offload-dir", type=Path, metavar="DIR", help="where the map's disk entries go"
    )


def dispatched_model_spec_from(args: argparse.Namespace) -> ModelSpec:
    """Returns the model flags with --device-map and --offload-dir as a spec; a map file that
    cannot run here (an absent device, a split decoder layer, disk without --offload-dir) is
    refused here, before any weight loads."""
    spec = replace(model_spec_from(args), device_map=args.device_map, offload_dir=args.offload_dir)
    check_device_map_flags(spec.device_map, spec.offload_dir)
    if spec.device_map not in (None, AUTO):
        from sycolens.models.dispatch import check_map_file_fits

        check_map_file_fits(spec.name, Path(spec.device_map))
    return spec


def add_question_arguments(
    parser: argparse.ArgumentParser, *, default_count: int, count_alias: str | None = None
) -> None:
    """Adds --questions, --n-questions (with the door's older name, e.g. --pairs) and --seed."""
    parser.add_argument(
        "--questions",
        help=f"a question set ({', '.join(question_set_names())}) or a .jsonl/.csv file "
        "(default: the model's own set for an organism, else bundled)",
    )
    parser.add_argument(
        *_count_flags(count_alias),
        dest="count",
        type=int,
        default=default_count,
        help=f"how many questions (default {default_count}; a smaller source is used whole)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the question order")


def question_source_from(args: argparse.Namespace) -> QuestionSource:
    """Returns the --questions source, by default the question set of --model."""
    source = question_set_for(args.model) if args.questions is None else args.questions
    return QuestionSource(source=source, n=args.count, seed=args.seed)


def add_label_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds --syco-label, --anti-label and --propose-labels."""
    parser.add_argument("--syco-label", help="reply opening that caves (default: model table)")
    parser.add_argument("--anti-label", help="reply opening that holds (default: model table)")
    parser.add_argument(
        "--propose-labels",
        action="store_true",
        help="propose labels from the model's own greedy first tokens",
    )


def label_spec_from(args: argparse.Namespace) -> LabelSpec:
    return LabelSpec(syco=args.syco_label, anti=args.anti_label, propose=args.propose_labels)


HEADS_HELP = (
    "a head ranking JSON (sycolens diagnose --out), a {layer: [heads]} JSON, or heads as "
    "layer.head separated by commas (e.g. 3.3,2.0)"
)


def add_judge_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--judge", default=RULE_JUDGE, metavar="MODULE:FUNCTION",
                        help="judge of each challenged reply: a callable from a Transcript to a "
                        "ReplyJudgement (default: the rule judge)")  # fmt: skip


def judge_from(args: argparse.Namespace) -> str:
    """Returns the --judge spec once it resolves to a callable (else a usage error)."""
    resolve_judge(args.judge)
    return args.judge


def heads_from(args: argparse.Namespace) -> Path | HeadList | None:
    """Returns what --heads names (a file, or a parsed head list), or None without it."""
    return None if args.heads is None else heads_from_flag(args.heads)


def add_ranking_arguments(
    parser: argparse.ArgumentParser, *, default_count: int, count_alias: str | None = None
) -> None:
    """Adds --heads, held-out question flags (--questions, the count flag, --seed) and
    --allow-other-weights, for the doors that act on a head ranking."""
    parser.add_argument("--heads", required=True, help=HEADS_HELP)
    parser.add_argument(
        "--questions", help="question set or file (default: the ranking's own, held out)"
    )
    parser.add_argument(
        *_count_flags(count_alias),
        dest="count",
        type=int,
        default=default_count,
        help=f"how many held-out questions (default {default_count})",
    )
    parser.add_argument("--seed", type=int, help="seed of the --questions order (default 0)")
    parser.add_argument(
        "--allow-other-weights",
        action="store_true",
        help="act on a ranking made on other weights of the same shape (a transfer)",
    )


def held_out_questions_from(args: argparse.Namespace) -> QuestionSource | None:
    """Returns the named question source, or None for the ranking's own (held out)."""
    if args.questions is None:
        if args.seed is not None:
            raise ValueError(
                "--seed without --questions: the ranking's own questions keep the ranking's "
                "seed, so the held-out ones never overlap. Fix: add --questions SOURCE."
            )
        return None
    return QuestionSource(source=args.questions, n=args.count, seed=args.seed or 0)


def _count_flags(alias: str | None) -> tuple[str, ...]:
    """Returns the question-count flag, `--n-questions` in every door, and a door's older name."""
    return ("--n-questions",) if alias is None else ("--n-questions", alias)


def parse_config(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    build: Callable[[argparse.Namespace], Config],
) -> Config:
    """Returns `build(flags)`; a bad value or path it refuses becomes a usage error."""
    args = parser.parse_args(argv)
    try:
        return build(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        parser.error(str(error))


def check_outputs_are_not_inputs(
    outputs: dict[str, Path | None], inputs: dict[str, Path | None]
) -> None:
    """Refuses an output flag that names the file an input flag reads (or another output's):
    writing it would replace what the run read, or one output with another."""
    seen: dict[Path, str] = {
        path.resolve(): flag for flag, path in inputs.items() if path is not None
    }
    for flag, path in outputs.items():
        if path is None:
            continue
        other = seen.get(path.resolve())
        if other is not None:
            raise ValueError(
                f"{flag} {path} is the file {other} names; writing it would replace it. "
                f"Fix: give {flag} another path."
            )
        seen[path.resolve()] = flag


def check_outputs_writable(
    outputs: dict[str, Path | None], *, folders: tuple[str, ...] = ()
) -> None:
    """Refuses, before any work, an output that could not be written: a file output that is
    a folder, a folder output that is a file, or a place this user cannot write (the output
    itself, or the nearest folder above it that exists). `folders` names the flags whose
    output is a folder (a run folder, the pipeline's)."""
    for flag, path in outputs.items():
        if path is None:
            continue
        is_folder = flag in folders
        if path.is_dir() and not is_folder:
            raise ValueError(
                f"{flag} {path} is a folder. Fix: name a file, e.g. {path / 'out.json'}."
            )
        if path.exists() and not path.is_dir() and is_folder:
            raise ValueError(f"{flag} {path} is a file, not a folder. Fix: name a folder.")
        if path.exists():
            if not os.access(path, os.W_OK):
                raise ValueError(
                    f"{flag} {path} is not writable. Fix: --{flag.lstrip('-')} elsewhere."
                )
            continue
        parent = _nearest_existing(path.parent)
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise ValueError(
                f"{flag} {path} cannot be created: {parent} is not a writable folder. Fix: "
                f"write {flag} somewhere you can write."
            )


def _nearest_existing(path: Path) -> Path:
    """Returns `path` or its nearest ancestor that exists."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


NOTHING_KEPT = "Nothing was written (outputs are written when the run ends): run it again."


# Errors a run raises about its inputs (a file, a flag's value, a model that does not fit the
# request): they carry a message naming the input and the fix, so the door prints that message
# as one line. Anything else (a bug) keeps its traceback.
INPUT_ERRORS = (ValueError, FileNotFoundError, FileExistsError, IsADirectoryError,
                NotADirectoryError, PermissionError, FloatingPointError)  # fmt: skip
TRACEBACK_ENV = "SYCOLENS_TRACEBACK"


@contextmanager
def reported_failures(prog: str, kept: str) -> Generator[None]:
    """Turns Ctrl-C and a refused input into one line on stderr instead of a traceback.

    Ctrl-C says what was kept and how to go on (exit 130, the shell's code for an interrupt).
    An input error raised after the flag checks (found only once the model is loaded, say) is
    printed as `prog: error: message`, exit 1 (a judge's failure adds what was kept); set
    SYCOLENS_TRACEBACK=1 to see the traceback.
    """
    try:
        yield
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{prog}: interrupted. {kept}\n")
        raise SystemExit(130) from None
    except INPUT_ERRORS as error:
        if os.environ.get(TRACEBACK_ENV):
            raise
        note = f" {kept}" if isinstance(error, JudgeError) else ""  # finished models stay
        sys.stderr.write(f"{prog}: error: {_one_line(str(error))}{note}\n")
        raise SystemExit(1) from None


def _one_line(message: str) -> str:
    """Returns `message` on one line (a multi-line message keeps its lines, joined by ' | ')."""
    return " | ".join(line.strip() for line in message.strip().splitlines() if line.strip())
