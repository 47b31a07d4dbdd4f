"""A cheap identity for a model's weights, to tell checkpoints (and tuned copies) apart.

SHA-256 over every canonical state-dict entry's name, shape and 4,096 evenly spaced values
(all values of smaller tensors). Spacing the samples over the whole tensor means a change to
one head's slice of W_Q (what pinpoint tuning makes) changes the fingerprint, which edge values
alone would miss; reading 4,096 values per tensor stays cheap for 7B models.
"""

import hashlib

import torch

from sycolens.models.load import LoadedModel

SAMPLES_PER_TENSOR = 4096


def weights_fingerprint(model: LoadedModel) -> str:
    """Returns the SHA-256 fingerprint of the model's weights (see the module doc)."""
    digest = hashlib.sha256()
    for name, parameter in sorted(model.hf_state_dict().items()):
        flat = parameter.detach().flatten()
        positions = torch.linspace(0, flat.numel() - 1, min(flat.numel(), SAMPLES_PER_TENSOR))
        sample = flat[positions.round().long().to(flat.device)].float().cpu()
        digest.update(f"{name}:{tuple(parameter.shape)}".encode())
        digest.update(sample.numpy().tobytes())
    return digest.hexdigest()
