"""Which model a result was measured on, as every artefact records it under `model`.

A ranking, knockout curve, attention result and tuning run each carry this record; readers
get it back typed (`ModelRecord.from_json`) rather than reading its keys. Reading needs no
torch, so flag-time checks can compare a file's model with the one asked for.
"""

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sycolens.models.load import LoadedModel


@dataclass(frozen=True, kw_only=True)
class ModelRecord:
    """The model's id, weights fingerprint and shape, and the device of each module when a
    device map dispatched it (None for a model loaded whole on one device)."""

    id: str
    weights_fingerprint: str
    n_layers: int
    n_heads: int
    n_kv_heads: int | None
    device_map: dict[str, str] | None = None

    @classmethod
    def of(cls, model: "LoadedModel") -> "ModelRecord":
        """Returns the record of a loaded model (its fingerprint reads every parameter)."""
        from sycolens.models.fingerprint import weights_fingerprint
        from sycolens.models.placement import device_map_of

        return cls(
            id=model.model_id,
            weights_fingerprint=weights_fingerprint(model),
            n_layers=model.n_layers,
            n_heads=model.n_heads,
            n_kv_heads=model.n_kv_heads,
            device_map=device_map_of(model.hf_model),
        )

    @classmethod
    def from_json(cls, record: Any, where: str | Path) -> "ModelRecord":
        """Returns the record saved in `where` (a file, or a result), or raises naming it."""
        try:
            fields: dict[str, Any] = dict(record)
            return cls(
                id=str(fields["id"]),
                weights_fingerprint=str(fields["weights_fingerprint"]),
                n_layers=int(fields["n_layers"]),
                n_heads=int(fields["n_heads"]),
                n_kv_heads=fields.get("n_kv_heads"),
                device_map=fields.get("device_map"),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"{where} has no intact model record under 'model' (id, weights_fingerprint, "
                f"n_layers, n_heads; {type(error).__name__}: {error}): the file is damaged. Fix: "
                "write it again with the sycolens command that made it."
            ) from error

    def to_json(self) -> dict[str, Any]:
        """Returns the record as JSON data (the `model` block of every artefact)."""
        return asdict(self)
