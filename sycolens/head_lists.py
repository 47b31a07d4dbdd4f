"""What `--heads` names: a ranking JSON, a `{layer: [heads]}` JSON, or a list such as `3.3,2.0`.

A ranking (from `sycolens diagnose --out`) carries scores, labels and the questions it was made
on; the other two are hand-picked heads with none of that: `diagnose --heads-by-layer-out`
writes the `{layer: [heads]}` shape that other tuning tools take, and `L.H,L.H` names heads on
the command line (0-based layer and query head, as in the paper). Every door that acts on heads
reads its `--heads` here, checks the heads fit the model's shape before weights load, and
records which kind it was given (`HeadList.record`). Pure data: no torch import.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sycolens.heads import Head
from sycolens.json_files import read_json
from sycolens.models.sources import ModelShape
from sycolens.patching.ranking_file import RANKING_SCHEMA, RankingFile

HeadListKind = Literal["list", "heads_by_layer"]
_LIST_PATTERN = re.compile(r"^\s*\d+\.\d+(\s*,\s*\d+\.\d+)*\s*,?\s*$")


@dataclass(frozen=True)
class HeadList:
    """Hand-picked heads in the order given (first = most important), and where they came from.

    `origin` is the `L.H,L.H` text or the path of a `{layer: [heads]}` file; such a file lists
    heads by layer, so its order is layer-major.
    """

    heads: tuple[Head, ...]
    origin: str
    kind: HeadListKind

    def __post_init__(self) -> None:
        if not self.heads:
            raise ValueError(f"--heads {self.origin!r} names no head. Fix: name one or more heads.")
        repeated = sorted({head for head in self.heads if self.heads.count(head) > 1})
        if repeated:
            raise ValueError(
                f"--heads {self.origin!r} names {_text(repeated)} more than once. Fix: name "
                "each head once."
            )

    @property
    def text(self) -> str:
        """Returns the heads as `L.H,L.H` (what the command line takes)."""
        return _text(self.heads)

    def first(self, k: int, flag: str = "--top-k") -> tuple[Head, ...]:
        """Returns the first k heads, refusing a k beyond the list (`flag` asked for k)."""
        if k > len(self.heads):
            raise ValueError(
                f"{flag} {k} asks for more heads than the {len(self.heads)} that --heads "
                f"{self.origin} names. Fix: {flag} {len(self.heads)} or fewer (leave {flag} "
                "out to take every head named)."
            )
        return self.heads[:k]

    def check_fits(self, model_name: str, shape: ModelShape) -> None:
        """Raises when a head is outside the model's layers x heads, naming the fix."""
        outside = [
            head
            for head in self.heads
            if not (0 <= head.layer < shape.n_layers and 0 <= head.head < shape.n_heads)
        ]
        if outside:
            raise ValueError(
                f"--heads {self.origin} names {_text(outside)}, outside {model_name}'s "
                f"{shape.n_layers} layers (0..{shape.n_layers - 1}) x {shape.n_heads} heads "
                f"(0..{shape.n_heads - 1}). Fix: name heads of this model (layer.head, 0-based)"
                + (", or a file made for it." if self.kind == "heads_by_layer" else ".")
            )

    def record(self) -> dict[str, Any]:
        """Returns what an output records of the heads it was given."""
        return {
            "kind": self.kind,
            "origin": self.origin,
            "heads": [list(head) for head in self.heads],
        }


def parse_head_list(text: str) -> HeadList:
    """Returns the heads of `L.H,L.H` text (e.g. `3.3,2.0`), or raises naming the format."""
    if not _LIST_PATTERN.match(text):
        raise ValueError(
            f"--heads {text!r} is neither a file nor a list of heads. Fix: pass a ranking JSON "
            "(`sycolens diagnose --out`), a {layer: [heads]} JSON, or heads as layer.head "
            "separated by commas, e.g. 3.3,2.0."
        )
    heads = tuple(
        Head(int(layer), int(head))
        for layer, head in (part.strip().split(".") for part in text.split(",") if part.strip())
    )
    return HeadList(heads, text, "list")


def heads_from_flag(value: str) -> Path | HeadList:
    """Returns what `--heads VALUE` names: a file (ranking or `{layer: [heads]}`), else the
    heads of an `L.H,L.H` list; a path that does not exist is refused, naming the fix."""
    path = Path(value)
    if path.is_file():
        return path
    if _LIST_PATTERN.match(value):
        return parse_head_list(value)
    raise FileNotFoundError(
        f"--heads {value}: no such file, and not a list of heads. Fix: pass a ranking JSON "
        "(`sycolens diagnose --out heads.json`), a {layer: [heads]} JSON, or heads as "
        "layer.head separated by commas, e.g. 3.3,2.0."
    )


def read_heads(source: Path | HeadList) -> RankingFile | HeadList:
    """Returns a ranking, or the heads of a list or `{layer: [heads]}` file."""
    if isinstance(source, HeadList):
        return source
    document = read_json(
        source,
        what="a head ranking or a {layer: [heads]} file",
        fix="write it again with `sycolens diagnose --out` or `--heads-by-layer-out`.",
    )
    if isinstance(document, dict) and document.get("schema") == RANKING_SCHEMA:
        return RankingFile.from_document(source, document)
    return _heads_by_layer(source, document)


def _heads_by_layer(path: Path, document: Any) -> HeadList:
    """Returns the heads of a `{"3": [3], "2": [0]}` document, layers and heads in file order."""
    if not isinstance(document, dict) or not document:
        raise ValueError(
            f"{path} is neither a {RANKING_SCHEMA} file nor a non-empty {{layer: [heads]}} "
            "object. Fix: pass the --out or --heads-by-layer-out file of `sycolens diagnose`."
        )
    if "schema" in document:
        raise ValueError(
            f"{path} is a {document['schema']} file, not a {RANKING_SCHEMA} file. Fix: pass the "
            "--out file of `sycolens diagnose`."
        )
    heads: list[Head] = []
    for layer, in_layer in document.items():
        if not (str(layer).isdigit() and isinstance(in_layer, list)):
            raise ValueError(
                f"{path}: entry {layer!r}: {in_layer!r} is not layer: [heads]. Fix: write it as "
                '{"3": [3], "2": [0]} (0-based layer and head numbers).'
            )
        for head in in_layer:
            if not (isinstance(head, int) and not isinstance(head, bool) and head >= 0):
                raise ValueError(
                    f"{path}: layer {layer} lists {head!r}, not a head number. Fix: list "
                    "0-based head numbers."
                )
            heads.append(Head(int(layer), head))
    return HeadList(tuple(heads), str(path), "heads_by_layer")


def _text(heads: list[Head] | tuple[Head, ...]) -> str:
    return ",".join(f"{layer}.{head}" for layer, head in heads)


def heads_record(source: Path | HeadList | None) -> dict[str, Any] | None:
    """Returns what an output records of its `--heads`: the kind (ranking, heads_by_layer,
    list), where it came from and, for hand-picked heads, the heads; None without heads."""
    if source is None:
        return None
    heads = read_heads(source)
    if isinstance(heads, HeadList):
        return heads.record()
    return {"kind": "ranking", "origin": str(source), "heads": None}


def check_heads_fit(
    source: Path | HeadList, model_name: str, shape: ModelShape
) -> RankingFile | HeadList:
    """Reads what `--heads` names and checks it against the model's shape, before weights load;
    returns the ranking or the head list."""
    heads = read_heads(source)
    heads.check_fits(model_name, shape)
    return heads
