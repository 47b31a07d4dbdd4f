"""Per-head deltas on disk: safetensors with the head list, base fingerprint and run config.

Each tensor is one head's slice, named `{parameter}[{dim}:{start}:{stop}]` (the parameter's
canonical HF name and the slice along `dim`), so the file is small (K * d_model * d_head
numbers per role) and self-describing; low-rank (LoRA) deltas are written multiplied out, as
plain deltas. Metadata (strings, as safetensors requires):
`format` = `sycolens.head_deltas`, `base_model`, `base_fingerprint` (and
`base_fingerprint_bfloat16`, the same for another dtype), `heads`, `heads_source` and
`training_questions` (JSON lists), `config` (JSON). `sycolens.models.deltas.apply_deltas`
reads these files as well as whole-parameter deltas, so `python -m sycolens.evaluate --deltas`
takes either, and leaves the training questions out of the evaluation.
"""

import json
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

import sycolens
from sycolens.models.fingerprint import bfloat16_fingerprint, weights_fingerprint
from sycolens.models.load import LoadedModel
from sycolens.tuning.head_deltas import HeadDeltas

HEAD_DELTAS_FORMAT = "sycolens.head_deltas"


def save_head_deltas(
    path: Path, deltas: HeadDeltas, base: LoadedModel, run: dict[str, Any]
) -> None:
    """Writes the deltas with the metadata above (`run`: the tune run's document)."""
    tensors = {key: delta.detach().float().cpu().contiguous()
               for key, delta in deltas.named_deltas().items()}  # fmt: skip
    metadata = {
        "format": HEAD_DELTAS_FORMAT,
        "base_model": base.model_id,
        "base_fingerprint": weights_fingerprint(base),
        "base_fingerprint_bfloat16": bfloat16_fingerprint(base),
        "sycolens_version": sycolens.__version__,
        "heads": json.dumps(run["heads"]),
        "heads_source": json.dumps(run.get("heads_source")),
        "roles": json.dumps(run["roles"]),
        "training_questions": json.dumps(run["question_ids"]),
        "config": json.dumps(run["config"]),
    }
    save_file(tensors, str(path), metadata=metadata)
