"""Read a head-ranking JSON and check it fits a model's shape, without loading the model.

The doors that take a ranking (`sycolens.ablate`, `sycolens.attention`, tuning) check it here
while parsing flags, so a ranking made for another model fails in a second; the full reader
with the weights check is `sycolens.patching.export.load_head_ranking`.
"""

from pathlib import Path
from typing import Any

from sycolens.json_files import read_json
from sycolens.models.sources import ModelShape
from sycolens.patching.config import HeadOrder

RANKING_SCHEMA = "sycolens.head_ranking"


def read_ranking_document(path: Path) -> dict[str, Any]:
    """Returns a head-ranking JSON document, or raises naming the file and the fix."""
    if not path.is_file():
        raise FileNotFoundError(
            f"Head ranking {path} does not exist. Fix: write one with "
            "`python -m sycolens.patch --out heads.json`, then pass --heads heads.json."
        )
    document = read_json(
        path, what="a head ranking", fix="write it again with `python -m sycolens.patch --out`."
    )
    if not isinstance(document, dict) or document.get("schema") != RANKING_SCHEMA:
        raise ValueError(
            f"{path} is not a {RANKING_SCHEMA} file. Fix: pass the --out file of "
            "`python -m sycolens.patch`."
        )
    return document


def check_ranking_shape(
    path: Path, document: dict[str, Any], model_name: str, shape: ModelShape
) -> None:
    """Raises when the ranking's layers x heads differ from the model's."""
    recorded = document["model"]
    if (recorded["n_layers"], recorded["n_heads"]) != (shape.n_layers, shape.n_heads):
        raise ValueError(
            f"{path} ranks heads of {recorded['id']!r} ({recorded['n_layers']} layers x "
            f"{recorded['n_heads']} heads), but {model_name} has {shape.n_layers} x "
            f"{shape.n_heads}. Fix: pass a ranking made for {model_name}."
        )


def toward_counterfactual(mean_f_reference: float, mean_f_counterfactual: float) -> int:
    """Returns the sign of a score that moves F from the reference toward the counterfactual."""
    return -1 if mean_f_counterfactual < mean_f_reference else 1


def recorded_order(document: dict[str, Any]) -> tuple[HeadOrder, int | None]:
    """Returns the file's order and direction; before v3: magnitude, direction from labels."""
    if "ranking" in document:
        return document["ranking"]["order"], document["ranking"]["toward_counterfactual"]
    labels = document.get("labels", {})
    if "mean_f_reference" not in labels:
        return "magnitude", None
    return "magnitude", toward_counterfactual(
        labels["mean_f_reference"], labels["mean_f_counterfactual"]
    )


def check_order_available(path: Path, document: dict[str, Any], order: HeadOrder) -> None:
    """Raises when a signed order is asked of a ranking that records no direction."""
    if order == "signed" and recorded_order(document)[1] is None:
        raise ValueError(
            f"{path} records no direction toward the counterfactual (a v1 ranking without "
            "label F values), so it cannot be ordered by sign. Fix: --order magnitude, or "
            "re-run the diagnosis."
        )
