"""A head-ranking JSON read back and checked, without loading a model or torch.

`RankingFile.read` is the one reader of a ranking: the doors that take one (`knockout`,
`attention`, `tune`) check it here while parsing flags, so a ranking made for another model
fails in a second, and `sycolens.patching.export.load_head_ranking` builds the scored ranking
on top of it. Other packages read the ranking through its typed properties (its model, its
questions, its labels), never by key.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sycolens.data.selection import RecordedSelection
from sycolens.heads import Head
from sycolens.json_files import read_json
from sycolens.models.record import ModelRecord
from sycolens.models.sources import ModelShape
from sycolens.patching.config import HeadOrder, MetricName

if TYPE_CHECKING:
    from sycolens.prompts.labels import LabelTokens

RANKING_SCHEMA = "sycolens.head_ranking"
RANKING_VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)
LABEL_KEYS = ("syco_word", "anti_word", "syco_id", "anti_id", "syco_token", "anti_token")
_WRITE_AGAIN = "write it again with `sycolens diagnose --out`."


@dataclass(frozen=True)
class RankingFile:
    """A ranking's JSON document, its schema and version checked, with typed views of what
    other steps need of it."""

    path: Path
    document: dict[str, Any]

    @classmethod
    def read(cls, path: Path) -> "RankingFile":
        """Returns the ranking at `path`, or raises naming the file and the fix."""
        if not path.is_file():
            raise FileNotFoundError(
                f"Head ranking {path} does not exist. Fix: write one with "
                "`sycolens diagnose --out heads.json`, then pass --heads heads.json."
            )
        return cls.from_document(
            path, read_json(path, what="a head ranking", fix=_WRITE_AGAIN.capitalize())
        )

    @classmethod
    def from_document(cls, path: Path, document: Any) -> "RankingFile":
        """Returns the ranking in an already parsed JSON `document`, checked."""
        if not isinstance(document, dict) or document.get("schema") != RANKING_SCHEMA:  # pyright: ignore[reportUnknownMemberType]
            raise ValueError(
                f"{path} is not a {RANKING_SCHEMA} file. Fix: pass the --out file of "
                "`sycolens diagnose`."
            )
        checked = cast(dict[str, Any], document)
        if checked.get("schema_version") not in READABLE_VERSIONS:
            raise ValueError(
                f"{path} is a {RANKING_SCHEMA} file of version {checked.get('schema_version')!r}"
                f"; this sycolens reads v1-v{RANKING_VERSION}. Fix: {_WRITE_AGAIN}"
            )
        ranking = cls(path, checked)
        ranking.model  # noqa: B018 - raises on a damaged model record
        return ranking

    @property
    def version(self) -> int:
        return int(self.document["schema_version"])

    @property
    def model(self) -> ModelRecord:
        """Returns the model the heads were ranked on."""
        return ModelRecord.from_json(self.document.get("model"), self.path)

    @property
    def questions(self) -> RecordedSelection | None:
        """Returns the questions the heads were ranked on (None in a v1 ranking)."""
        recorded = self.document.get("questions")
        return None if recorded is None else RecordedSelection.from_json(recorded, self.path)

    @property
    def mode(self) -> str:
        return str(self.document["mode"])

    @property
    def metric(self) -> MetricName | None:
        """Returns the metric the heads were ranked by (None before it was recorded)."""
        return self.document.get("metric")

    @property
    def n_pairs(self) -> int:
        return int(self.document["prompts"]["n_pairs"])

    @property
    def top_k(self) -> list[Head]:
        """Returns the exported top heads, first first."""
        return [Head(int(layer), int(head)) for layer, head in self.document["top_k"]]

    @property
    def order(self) -> tuple[HeadOrder, int | None]:
        """Returns the file's order and direction; before v3: magnitude, direction from the
        labels' F values (None without them, in v1)."""
        if "ranking" in self.document:
            recorded = self.document["ranking"]
            return recorded["order"], recorded["toward_counterfactual"]
        labels = self.document.get("labels", {})
        if "mean_f_reference" not in labels:
            return "magnitude", None
        return "magnitude", toward_counterfactual(
            labels["mean_f_reference"], labels["mean_f_counterfactual"]
        )

    def label_tokens(self) -> "LabelTokens":
        """Returns the label tokens the heads were ranked with."""
        from sycolens.prompts.labels import LabelTokens

        recorded = self.document["labels"]
        return LabelTokens(**{key: recorded[key] for key in LABEL_KEYS})

    def check_fits(self, model_name: str, shape: ModelShape) -> None:
        """Raises when the ranking ranks no heads or its layers x heads differ from the
        model's."""
        if not self.document.get("scores") or not self.document.get("top_k"):
            raise ValueError(
                f"--heads {self.path} ranks no heads (its scores or top_k are empty). Fix: rank "
                "the heads again with `sycolens diagnose --out`."
            )
        recorded = self.model
        if (recorded.n_layers, recorded.n_heads) != (shape.n_layers, shape.n_heads):
            raise ValueError(
                f"{self.path} ranks heads of {recorded.id!r} ({recorded.n_layers} layers x "
                f"{recorded.n_heads} heads), but {model_name} has {shape.n_layers} x "
                f"{shape.n_heads}. Fix: pass a ranking made for {model_name}."
            )

    def check_order_available(self, order: HeadOrder) -> None:
        """Raises when a signed order is asked of a ranking that records no direction."""
        if order == "signed" and self.order[1] is None:
            raise ValueError(
                f"{self.path} records no direction toward the counterfactual (a v1 ranking "
                "without label F values), so it cannot be ordered by sign. Fix: --order "
                "magnitude, or re-run the diagnosis."
            )


def toward_counterfactual(mean_f_reference: float, mean_f_counterfactual: float) -> int:
    """Returns the sign of a score that moves F from the reference toward the counterfactual."""
    return -1 if mean_f_counterfactual < mean_f_reference else 1
