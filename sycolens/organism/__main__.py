"""`python -m sycolens.organism train`: train an organism variant, measure it, write its card.

    python -m sycolens.organism train --variant gqa --out organism-gqa [--overwrite]

An interrupted run resumes from its last checkpoint when started again with the same flags.
"""

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sycolens.cli_args import (
    check_outputs_writable,
    door_prog,
    parse_config,
    reported_failures,
)
from sycolens.organism.config import VARIANT_SETTINGS, OrganismConfig, check_out_dir


@dataclass(frozen=True, kw_only=True)
class TrainOrganismConfig:
    """One `python -m sycolens.organism train` run: the variant's config and where it goes."""

    organism: OrganismConfig
    out: Path
    overwrite: bool = False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False, prog=door_prog("python -m sycolens.organism"), description=__doc__
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train one variant and write its model card")
    defaults = OrganismConfig()
    train.add_argument("--variant", choices=list(VARIANT_SETTINGS), default=defaults.variant)
    train.add_argument("--out", type=Path, required=True)
    train.add_argument("--overwrite", action="store_true")
    train.add_argument(
        "--steps", type=int, help="default: 2500 for mha and control, 3500 for gqa (slower)"
    )
    train.add_argument("--seed", type=int, default=defaults.seed)
    return parser


def _config_from(args: argparse.Namespace) -> TrainOrganismConfig:
    overrides = {"steps": args.steps} if args.steps is not None else {}
    organism = OrganismConfig.for_variant(args.variant, seed=args.seed, **overrides)
    check_outputs_writable({"--out": args.out}, folders=("--out",))
    check_out_dir(args.out, overwrite=args.overwrite)
    return TrainOrganismConfig(organism=organism, out=args.out, overwrite=args.overwrite)


def parse_args(argv: Sequence[str] | None = None) -> TrainOrganismConfig:
    """Returns the checked config named by command-line flags (nothing heavy is loaded)."""
    return parse_config(build_parser(), argv, _config_from)


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args(argv)
    from sycolens.organism.build import build_organism

    kept = (
        f"The last checkpoint in {config.out} is kept: run the same command again to resume "
        "from it."
    )
    with reported_failures(door_prog("python -m sycolens.organism"), kept):
        card = build_organism(config.organism, config.out, overwrite=config.overwrite)
    print(json.dumps({k: card[k] for k in ("name", "planted_heads", "training_seconds")}))
    print(json.dumps(card["checks"], indent=1))


if __name__ == "__main__":
    main()
