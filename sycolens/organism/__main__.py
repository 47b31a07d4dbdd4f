"""`python -m sycolens.organism train`: train an organism variant, measure it, write its card.

    python -m sycolens.organism train --variant gqa --out organism-gqa [--overwrite]

An interrupted run resumes from its last checkpoint when started again with the same flags.
"""

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from sycolens.models import load_model
from sycolens.organism.card import measure_card_numbers, write_card
from sycolens.organism.train import VARIANT_SETTINGS, OrganismConfig, train_organism


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sycolens.organism", description=__doc__)
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
    args = parser.parse_args(argv)
    overrides = {"steps": args.steps} if args.steps is not None else {}
    config = OrganismConfig.for_variant(args.variant, seed=args.seed, **overrides)
    summary = train_organism(config, args.out, overwrite=args.overwrite)
    numbers = measure_card_numbers(load_model(str(args.out)), config.planted_heads)
    card = write_card(args.out, config, summary, numbers)
    print(json.dumps({k: card[k] for k in ("name", "planted_heads", "training_seconds")}))
    print(json.dumps(card["checks"], indent=1))


if __name__ == "__main__":
    main()
