"""A cheap identity for a model's weights, to tell checkpoints (and tuned copies) apart.

SHA-256 over every canonical state-dict entry's name, shape and 4,096 evenly spaced values
(all values of smaller tensors). Spacing the samples over the whole tensor means a change to
one head's slice of W_Q (what pinpoint tuning makes) changes the fingerprint, which edge values
alone would miss; reading 4,096 values per tensor stays cheap for 7B models.

Sample positions are computed in exact integer arithmetic: a float32 `linspace` cannot hold
indices above 2^24, so on any tensor larger than that (SmolLM2's embedding, every 7B weight) its
last position rounds past the end.

Each tensor is read where it is stored (`sycolens.models.placement.StoredTensors`), one at a
time, so a model dispatched across devices and disk has the fingerprint it has loaded whole.
"""

import hashlib
from collections.abc import Mapping

import torch
from jaxtyping import Int
from torch import Tensor

from sycolens.models.load import LoadedModel
from sycolens.models.placement import StoredTensors

SAMPLES_PER_TENSOR = 4096


def sample_positions(numel: int, n_samples: int = SAMPLES_PER_TENSOR) -> Int[Tensor, " sample"]:
    """Returns min(numel, n_samples) evenly spaced indices from 0 to numel - 1, both included."""
    if numel < 1:
        return torch.zeros(0, dtype=torch.long)
    count = min(numel, n_samples)
    if count == 1:
        return torch.zeros(1, dtype=torch.long)
    steps = torch.arange(count, dtype=torch.long)
    return (steps * (numel - 1)) // (count - 1)


def tensors_fingerprint(
    tensors: Mapping[str, Tensor], *, rounded_to: torch.dtype | None = None
) -> str:
    """Returns the SHA-256 over each tensor's name, shape and sampled values (sorted by name);
    with `rounded_to`, of the values rounded to that dtype first."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name]
        flat = tensor.detach().flatten()
        positions = sample_positions(flat.numel()).to(flat.device)
        sample = flat[positions]
        sample = (sample.to(rounded_to) if rounded_to is not None else sample).float().cpu()
        digest.update(f"{name}:{tuple(tensor.shape)}".encode())
        digest.update(sample.numpy().tobytes())
    return digest.hexdigest()


def weights_fingerprint(model: LoadedModel) -> str:
    """Returns the SHA-256 fingerprint of the model's weights (see the module doc)."""
    return tensors_fingerprint(_stored(model))


def bfloat16_fingerprint(model: LoadedModel) -> str:
    """Returns the fingerprint of the weights rounded to bfloat16: the same for one checkpoint
    loaded in float32 or bfloat16 (the paper's configs tune in one and evaluate in the other),
    so deltas can tell "same weights, other dtype" from other weights."""
    return tensors_fingerprint(_stored(model), rounded_to=torch.bfloat16)


def _stored(model: LoadedModel) -> StoredTensors:
    return StoredTensors(model.hf_model, model.state_dict_keys)
