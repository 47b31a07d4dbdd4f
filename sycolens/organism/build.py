"""Train an organism variant, measure it on held-out questions and write its model card.

What `python -m sycolens.organism train` does, as one library call.
"""

from pathlib import Path
from typing import Any

from sycolens.models.load import load_model
from sycolens.organism.card import measure_card_numbers, write_card
from sycolens.organism.config import OrganismConfig
from sycolens.organism.train import train_organism


def build_organism(
    config: OrganismConfig, out_dir: Path, *, overwrite: bool = False
) -> dict[str, Any]:
    """Trains (or resumes) the variant into `out_dir`, measures it and returns its card."""
    summary = train_organism(config, out_dir, overwrite=overwrite)
    numbers = measure_card_numbers(load_model(str(out_dir)), config.planted_heads)
    return write_card(out_dir, config, summary, numbers)
