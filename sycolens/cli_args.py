"""The flags every CLI shares, mapped onto the shared configs, and checked before work starts.

A door (`python -m sycolens.patch`, `...evaluate`, and the knockout and tuning doors after
them) is parse -> one frozen config -> one library call -> outputs. The flags for the model
(`ModelSpec`), the questions (`QuestionSource`) and the labels (`LabelSpec`) are added and read
here, once, so every door spells and checks them the same way. Only light modules are imported,
so `--help` and a bad flag answer in a second; `parse_config` turns a config's refusal into a
usage error (exit 2) instead of a traceback.
"""

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from sycolens.data.selection import QuestionSource
from sycolens.data.sets import question_set_names
from sycolens.models.spec import DEFAULT_MODEL, DTYPE_NAMES, ModelSpec
from sycolens.prompts.label_spec import LabelSpec

Config = TypeVar("Config")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds --model, --device and --dtype."""
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help="embedded name, checkpoint dir or hub id"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    parser.add_argument("--dtype", choices=DTYPE_NAMES, default="float32")


def model_spec_from(args: argparse.Namespace) -> ModelSpec:
    return ModelSpec(name=args.model, device=args.device, dtype=args.dtype)


def add_question_arguments(
    parser: argparse.ArgumentParser, *, count_flag: str, default_count: int
) -> None:
    """Adds --questions, the count flag (e.g. --pairs) and --seed."""
    parser.add_argument(
        "--questions",
        default="bundled",
        help=f"a question set ({', '.join(question_set_names())}) or a .jsonl/.csv file",
    )
    parser.add_argument(
        count_flag,
        dest="count",
        type=int,
        default=default_count,
        help=f"how many questions (default {default_count}; a smaller source is used whole)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the question order")


def question_source_from(args: argparse.Namespace) -> QuestionSource:
    return QuestionSource(source=args.questions, n=args.count, seed=args.seed)


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


def add_ranking_arguments(
    parser: argparse.ArgumentParser, *, count_flag: str, default_count: int
) -> None:
    """Adds --heads, held-out question flags (--questions, the count flag, --seed) and
    --allow-other-weights, for the doors that act on a head ranking."""
    parser.add_argument("--heads", type=Path, required=True, help="ranking JSON of sycolens.patch")
    parser.add_argument(
        "--questions", help="question set or file (default: the ranking's own, held out)"
    )
    parser.add_argument(count_flag, dest="count", type=int, default=default_count)
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
