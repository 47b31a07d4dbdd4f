"""Whether deltas files can be merged, read from their headers alone (no tensor, no torch), so
`sycolens merge` refuses a bad set while parsing its flags: too few files, bad weights, files
made over different weights, or keys whose shapes differ. `sycolens.tuning.merge` merges."""

import json
from dataclasses import dataclass
from pathlib import Path

from sycolens.models.sources import DELTAS_FIX, open_safetensors
from sycolens.tuning.config import MergeRule


@dataclass(frozen=True)
class DeltaHeader:
    """What a deltas file's header says, read without its tensors: enough to check a merge."""

    path: Path
    metadata: dict[str, str]
    shapes: dict[str, tuple[int, ...]]

    @classmethod
    def read(cls, path: Path) -> "DeltaHeader":
        if not path.is_file():
            raise FileNotFoundError(f"Deltas file {path} does not exist. Fix the path.")
        what, fix = "a deltas file to merge", DELTAS_FIX
        with open_safetensors(path, what=what, fix=fix, framework="numpy") as handle:
            metadata = dict(handle.metadata() or {})
            shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
        return cls(path, metadata, shapes)

    def listed(self, field: str) -> list[object]:
        """Returns the JSON list stored under metadata `field` (empty when absent)."""
        return json.loads(self.metadata.get(field, "[]"))


def check_mergeable(
    headers: list[DeltaHeader], *, weights: list[float] | None = None, rule: MergeRule = "union"
) -> list[float]:
    """Returns the weights `rule` uses for the files of `headers`, or raises naming what keeps
    them from merging: too few files, bad weights, other bases or shapes. It reads headers
    only and imports no torch, so a door checks a merge while parsing flags (slices that clash
    are found when the tensors are read, `sycolens.tuning.merge`)."""
    if len(headers) < 2:
        raise ValueError(f"Merging needs at least two deltas files, got {len(headers)}.")
    chosen = _weights(weights, len(headers), rule)
    _check_same_base(headers)
    for key in sorted({key for header in headers for key in header.shapes}):
        shapes = {header.shapes[key] for header in headers if key in header.shapes}
        if len(shapes) > 1:
            raise ValueError(
                f"Deltas {key!r} have different shapes across files: {sorted(shapes)}."
            )
    return chosen


def _weights(weights: list[float] | None, n_sets: int, rule: MergeRule) -> list[float]:
    if weights is None:
        return [1.0 / n_sets] * n_sets
    if len(weights) != n_sets or any(not w > 0 for w in weights):
        raise ValueError(
            f"--weights {weights} must be {n_sets} positive numbers, one per deltas file."
        )
    if rule == "average" and abs(sum(weights) - 1.0) > 1e-6:
        raise ValueError(
            f"--weights {weights} sum to {sum(weights):g}; the average rule needs them to sum "
            "to 1. Fix --weights, or use --rule union."
        )
    return list(weights)


def _check_same_base(sets: list[DeltaHeader]) -> None:
    """Refuses sets whose recorded base weights differ (or that record none)."""
    first = sets[0]
    for other in sets:
        if "base_fingerprint" not in other.metadata:
            raise ValueError(
                f"{other.path} records no base fingerprint, so it cannot be checked against "
                f"{first.path}. Fix: merge deltas files written by sycolens."
            )
        if other.metadata["base_fingerprint"] != first.metadata["base_fingerprint"]:
            raise ValueError(
                f"{first.path} and {other.path} were made over different weights: base "
                f"{first.metadata.get('base_model')!r} (fingerprint "
                f"{first.metadata['base_fingerprint'][:12]}...) vs "
                f"{other.metadata.get('base_model')!r} (fingerprint "
                f"{other.metadata['base_fingerprint'][:12]}...). Fix: merge deltas of one base."
            )
