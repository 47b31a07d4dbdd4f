"""Merge delta sets made over one base (the paper's C.7: a sycophancy SPT with a math SPT).

Each set is a deltas file (`sycolens.tuning.export`, or whole-parameter deltas from
`sycolens.models.deltas`). Two rules, each with weights w_i (default: equal):

- `union` (default): every slice any set trains is kept; a slice several sets train is their
  weighted average, sum(w_i * d_i) / sum(w_i) over the sets that have it. Sets on different
  heads merge without diluting each other.
- `average`: the paper's rule (after Yu et al. 2023): sum(w_i * d_i) over every set with the
  weights summing to 1 and a set without the slice counting as zero, so a slice only one of
  two sets trains is halved.

Slices must match exactly or not overlap: a slice that partly overlaps another (a head slice
inside a whole-parameter delta, say) is an error, since neither rule says what to do there.
Sets made over different weights (their recorded base fingerprints differ) are refused, naming
what differs. The merged file records the union of the heads, roles and training questions (so
its evaluation leaves out every set's training questions) and where it came from.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import Tensor

import sycolens
from sycolens.models.deltas import delta_key_slice
from sycolens.models.head_access import ParameterSlice
from sycolens.models.sources import DELTAS_FIX, open_safetensors
from sycolens.tuning.config import MergeRule
from sycolens.tuning.export import HEAD_DELTAS_FORMAT
from sycolens.tuning.merge_check import DeltaHeader, check_mergeable


@dataclass(frozen=True)
class DeltaSet:
    """One deltas file read whole: its header, its tensors by key, and its SHA-256."""

    header: DeltaHeader
    tensors: dict[str, Tensor]
    sha256: str

    @classmethod
    def read(cls, path: Path) -> "DeltaSet":
        header = DeltaHeader.read(path)
        with open_safetensors(path, what="a deltas file to merge", fix=DELTAS_FIX) as handle:
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        return cls(header, tensors, sha256)


def merge_delta_sets(
    sets: list[DeltaSet], *, weights: list[float] | None = None, rule: MergeRule = "union"
) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Returns the merged tensors and metadata of `sets` under `rule` (module doc)."""
    headers = [s.header for s in sets]
    chosen = check_mergeable(headers, weights=weights, rule=rule)
    _check_slices_align(headers)
    merged: dict[str, Tensor] = {}
    for key in sorted({key for delta_set in sets for key in delta_set.tensors}):
        having = [
            (w, s.tensors[key]) for w, s in zip(chosen, sets, strict=True) if key in s.tensors
        ]
        total = torch.zeros_like(having[0][1], dtype=torch.float64)
        for weight, tensor in having:
            total += weight * tensor.double()
        if rule == "union":
            total /= sum(weight for weight, _ in having)
        merged[key] = total.to(having[0][1].dtype).contiguous()
    return merged, _metadata(sets, chosen, rule)


def merge_delta_files(
    paths: list[Path], out: Path, *, weights: list[float] | None = None, rule: MergeRule = "union"
) -> dict[str, str]:
    """Merges the deltas files at `paths` into `out` (safetensors); returns its metadata."""
    if out.exists():
        raise FileExistsError(f"{out} exists. Fix: pass another --out, or delete it.")
    tensors, metadata = merge_delta_sets(
        [DeltaSet.read(path) for path in paths], weights=weights, rule=rule
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata=metadata)
    return metadata


def _check_slices_align(sets: list[DeltaHeader]) -> None:
    """Refuses two different keys that cover overlapping parts of one parameter."""
    regions: dict[str, dict[str, ParameterSlice | None]] = {}
    for delta_set in sets:
        for key in delta_set.shapes:
            piece = delta_key_slice(key)
            regions.setdefault(piece.name if piece is not None else key, {})[key] = piece
    for name, pieces in regions.items():
        keys = sorted(pieces)
        for index, first in enumerate(keys):
            for second in keys[index + 1 :]:
                if _overlap(pieces[first], pieces[second]):
                    raise ValueError(
                        f"Deltas {first!r} and {second!r} overlap in {name!r} without being the "
                        "same slice, so neither merge rule applies. Fix: merge per-head deltas "
                        "of one layout (sycolens.tune SPT outputs)."
                    )


def _overlap(a: ParameterSlice | None, b: ParameterSlice | None) -> bool:
    """True when two different slices (None: the whole parameter) share an element."""
    if a is None or b is None or a.dim != b.dim:  # a row slice and a column slice always meet
        return True
    return a.start < b.stop and b.start < a.stop


def _metadata(sets: list[DeltaSet], weights: list[float], rule: MergeRule) -> dict[str, str]:
    def union(field: str) -> list[object]:
        seen: list[object] = []
        for delta_set in sets:
            seen.extend(item for item in delta_set.header.listed(field) if item not in seen)
        return seen

    sources = [{"file": s.header.path.name, "sha256": s.sha256, "weight": w}
               for s, w in zip(sets, weights, strict=True)]  # fmt: skip
    first = sets[0].header.metadata
    return {
        "format": HEAD_DELTAS_FORMAT,
        "base_model": first.get("base_model", ""),
        "base_fingerprint": first["base_fingerprint"],
        **{key: first[key] for key in ("base_fingerprint_bfloat16",) if key in first},
        "sycolens_version": sycolens.__version__,
        "heads": json.dumps(union("heads")),
        "heads_sources": json.dumps(
            [json.loads(s.header.metadata.get("heads_source", "null")) for s in sets]
        ),
        "roles": json.dumps(union("roles")),
        "training_questions": json.dumps(union("training_questions")),
        "config": json.dumps({"merge": {"rule": rule, "sources": sources}}),
    }
