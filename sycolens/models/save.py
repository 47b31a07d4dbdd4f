"""Save a loaded (and possibly tuned) model as a plain Hugging Face checkpoint.

`hf_model.save_pretrained` alone fails on a bridged model: the bridge's wrappers register every
tensor under several names. Saving the canonical state dict writes exactly the names and
tensors of an unwrapped model (safetensors), so the folder loads anywhere, sycolens included.
"""

from pathlib import Path

from sycolens.models.load import LoadedModel


def save_model(model: LoadedModel, out_dir: Path) -> Path:
    """Writes config, safetensors weights and tokenizer to `out_dir`; returns it."""
    model.hf_model.save_pretrained(out_dir, state_dict=model.hf_state_dict())
    model.tokenizer.save_pretrained(out_dir)
    return out_dir
