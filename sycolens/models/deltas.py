"""Tuned weights as additive deltas over a base model, stored as safetensors.

A deltas file maps canonical HF parameter names (`LoadedModel.hf_parameters()`: the names of
an unwrapped model, a tied embedding once) to tensors of the same shape: tuned = base + delta.
Only parameters that changed are stored, so a pinpoint-tuned model's file holds a few
projection matrices.
Its metadata records the base model's id and weights fingerprints; applying it to other weights
is refused unless asked for (a transfer). Names or shapes the model lacks are errors: deltas
never apply partially, and a file that is not safetensors (truncated, say) is named with its fix.

Per-head deltas (`sycolens.tuning.export`) name each tensor `{parameter}[{dim}:{start}:{stop}]`,
a slice of that parameter; `apply_deltas` adds them into their slices, and
`training_question_ids` reads which questions a tuning run trained on, so an evaluation can
leave them out. On a model dispatched across devices, a parameter offloaded to CPU memory or
disk takes its deltas in a CPU copy that its module loads from then on
(`sycolens.models.placement.writable_offloaded`): only the tensors the deltas touch are held.
"""

import json
import re
import warnings
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import Tensor

import sycolens
from sycolens.models.fingerprint import bfloat16_fingerprint, weights_fingerprint
from sycolens.models.head_access import ParameterSlice
from sycolens.models.load import LoadedModel
from sycolens.models.placement import stored_tensor, writable_offloaded
from sycolens.models.sources import DELTAS_FIX, open_safetensors

TRAINING_RECORD = "sycolens_tuning.json"  # beside a tuned HF checkpoint: its training questions
_SLICE_KEY = re.compile(r"^(?P<name>.+)\[(?P<dim>\d+):(?P<start>\d+):(?P<stop>\d+)\]$")


def compute_deltas(base: LoadedModel, tuned: LoadedModel) -> dict[str, Tensor]:
    """Returns tuned - base for every parameter that differs (on the CPU, in fp32)."""
    tuned_parameters = tuned.hf_parameters()
    deltas: dict[str, Tensor] = {}
    for name, parameter in base.hf_parameters().items():
        _matching_parameter(tuned_parameters, name, parameter, base, tuned)
        mine, other = (stored_tensor(model.hf_model, name) for model in (base, tuned))
        delta = other.detach().float().cpu() - mine.detach().float().cpu()
        if bool(delta.ne(0).any()):
            deltas[name] = delta.contiguous()
    return deltas


def have_same_parameters(first: LoadedModel, second: LoadedModel) -> bool:
    """True when both models have the same parameter names with the same shapes."""
    first_shapes = {name: p.shape for name, p in first.hf_parameters().items()}
    return first_shapes == {name: p.shape for name, p in second.hf_parameters().items()}


def count_changed_elements(base: LoadedModel, tuned: LoadedModel) -> int:
    """Returns how many parameter elements differ between two models of one architecture (an
    offloaded parameter compared where it is stored)."""
    tuned_parameters = tuned.hf_parameters()
    changed = 0
    for name, parameter in base.hf_parameters().items():
        _matching_parameter(tuned_parameters, name, parameter, base, tuned)
        mine, other = (stored_tensor(model.hf_model, name) for model in (base, tuned))
        changed += int(mine.detach().ne(other.detach().to(mine)).sum())
    return changed


def _matching_parameter(
    parameters: dict[str, torch.nn.Parameter],
    name: str,
    like: Tensor,
    base: LoadedModel,
    tuned: LoadedModel,
) -> torch.nn.Parameter:
    """Returns the tuned model's parameter `name`, or names the mismatch with the base."""
    if name not in parameters or parameters[name].shape != like.shape:
        raise ValueError(
            f"{tuned.model_id!r} has no parameter {name!r} shaped {tuple(like.shape)} like "
            f"{base.model_id!r}. Fix: compare a tuned model with its own base."
        )
    return parameters[name]


def save_deltas(path: Path, deltas: dict[str, Tensor], base: LoadedModel) -> None:
    """Writes deltas as safetensors, with the base's id and fingerprint as metadata."""
    if not deltas:
        raise ValueError(
            f"No parameter differs from {base.model_id!r}, so there are no deltas to save. "
            "Fix: save the deltas of a model that was tuned."
        )
    metadata = {
        "base_model": base.model_id,
        "base_fingerprint": weights_fingerprint(base),
        "base_fingerprint_bfloat16": bfloat16_fingerprint(base),
        "sycolens_version": sycolens.__version__,
    }
    save_file(deltas, str(path), metadata=metadata)


def apply_deltas(model: LoadedModel, path: Path, *, allow_other_weights: bool = False) -> int:
    """Adds the deltas in `path` to the model's weights in place; returns elements changed.

    Whole-parameter deltas and per-head slices (`name[dim:start:stop]`) alike. Deltas made over
    other weights are refused unless `allow_other_weights` (a transfer, then warned); the same
    checkpoint in another dtype is the same weights (`bfloat16_fingerprint`).
    """
    parameters = model.hf_parameters()
    with open_safetensors(path, what="a deltas file", fix=DELTAS_FIX) as handle:
        metadata = handle.metadata() or {}
        deltas = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    targets = {key: _target(key, delta, parameters, path, model) for key, delta in deltas.items()}
    if not is_made_over(metadata, model):
        if not allow_other_weights:
            raise ValueError(
                f"Deltas file {path} was made over {metadata.get('base_model')!r}, not over the "
                f"weights of {model.model_id!r} loaded now. Fix: apply it to the model it was "
                "tuned on, or pass --allow-other-weights to apply it anyway (a transfer)."
            )
        warnings.warn(
            f"Deltas file {path} was made over {metadata.get('base_model')!r}, whose weights "
            f"differ from {model.model_id!r}'s (allowed: --allow-other-weights).",
            UserWarning,
            stacklevel=2,
        )
    with torch.no_grad():
        for key, delta in deltas.items():
            target = targets[key]
            if target.is_meta:  # offloaded: add to the copy its module loads from now on
                target = _in_memory_target(model, key)
            target.add_(delta.to(target))
    return sum(int(delta.ne(0).sum()) for delta in deltas.values())


def is_made_over(metadata: dict[str, str], model: LoadedModel) -> bool:
    """Returns whether deltas' metadata names this model's weights: the same fingerprint, or
    the same bfloat16-rounded one (one checkpoint in another dtype); deltas without a recorded
    base are taken as made over it."""
    recorded = metadata.get("base_fingerprint")
    if recorded is None or recorded == weights_fingerprint(model):
        return True
    rounded = metadata.get("base_fingerprint_bfloat16")
    return rounded is not None and rounded == bfloat16_fingerprint(model)


def deltas_metadata(path: Path) -> dict[str, str]:
    """Returns a deltas file's metadata (base model, fingerprints, training record)."""
    with open_safetensors(path, what="a deltas file", fix=DELTAS_FIX) as handle:
        return dict(handle.metadata() or {})


def training_question_ids(path: Path) -> frozenset[str]:
    """Returns the ids of the questions a tuning run trained on, from its deltas' metadata."""
    return frozenset(json.loads(deltas_metadata(path).get("training_questions", "[]")))


def delta_key_slice(key: str) -> ParameterSlice | None:
    """Returns the slice a per-head delta key `name[dim:start:stop]` names (None: a whole
    parameter's key)."""
    match = _SLICE_KEY.match(key)
    if match is None:
        return None
    return ParameterSlice(match["name"], int(match["dim"]), int(match["start"]), int(match["stop"]))


def _in_memory_target(model: LoadedModel, key: str) -> Tensor:
    """Returns what delta `key` adds to in the CPU copy of its offloaded parameter."""
    piece = delta_key_slice(key)
    tensor = writable_offloaded(model.hf_model, piece.name if piece is not None else key)
    return piece.of(tensor) if piece is not None else tensor


def _target(
    key: str, delta: Tensor, parameters: dict[str, torch.nn.Parameter], path: Path,
    model: LoadedModel,
) -> Tensor:  # fmt: skip
    """Returns the parameter (or slice of it) that delta `key` adds to, checked against it."""
    piece = delta_key_slice(key)
    name = piece.name if piece is not None else key
    if name not in parameters:
        raise ValueError(
            f"Deltas file {path} changes parameter {name!r}, which {model.model_id!r} does "
            "not have. Fix: apply deltas to the model they were made from."
        )
    target: Tensor = parameters[name]
    if piece is not None:
        if piece.dim >= target.dim() or piece.stop > target.shape[piece.dim]:
            target = delta.new_empty(0)  # reported as a shape mismatch below
        else:
            target = piece.of(target)
    if target.shape != delta.shape:
        raise ValueError(
            f"Deltas file {path} holds {key!r} shaped {tuple(delta.shape)}, but "
            f"{model.model_id!r} has it shaped {tuple(target.shape)}. Fix: apply deltas to the "
            "model they were made from."
        )
    if not torch.isfinite(delta).all():
        raise ValueError(
            f"Deltas file {path} holds {key!r} with {int((~torch.isfinite(delta)).sum())} "
            "NaN or infinite values; applied, they would break every reply. Fix: retrain "
            "(a lower --lr) or pass the deltas of a run that finished."
        )
    return target
