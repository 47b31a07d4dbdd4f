"""Where a model comes from: embedded name, shipped checkpoint, local dir or hub name.

Light on purpose (no torch, no TransformerLens): CLIs check `--model` and read the model's
shape here while parsing flags, so a bad name or an impossible `--top-k` fails in a second,
before any weights load. Weights are read from safetensors only: pickled `.bin` files are
refused. A checkpoint dir is checked whole while flags are parsed: its config.json must parse
and each weights file's safetensors header must read (a header is a few kilobytes; the tensors
are not read), so a truncated download is named with its fix, not met mid-load as
"SafetensorError: header too large". Every sycolens reader of a safetensors file (checkpoints,
deltas, merges) opens it through `open_safetensors` for the same reason. A hub name is refused
up front when HF_HUB_OFFLINE is set and the local Hugging Face cache lacks it.
"""

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open

from sycolens.json_files import read_json
from sycolens.models.gguf_cache import cached_checkpoint_dir, locate_gguf
from sycolens.models.registry import EMBEDDED_MODELS, SHIPPED_CHECKPOINTS

_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
_RESAVE = (
    "download the model again, or save it again with `save_pretrained(dir, "
    "safe_serialization=True)`."
)


@dataclass(frozen=True)
class ModelShape:
    """How many layers and attention heads a model has, read from its config alone."""

    n_layers: int
    n_heads: int

    @property
    def n_total_heads(self) -> int:
        return self.n_layers * self.n_heads


def accepted_model_forms() -> str:
    """Describes every form of `source` that `load_model` accepts, for error messages."""
    names = ", ".join(sorted([*EMBEDDED_MODELS, *SHIPPED_CHECKPOINTS]))
    return (
        f"an embedded model name ({names}), a local Hugging Face checkpoint directory "
        "(config.json + model.safetensors), or a hub name like 'meta-llama/Llama-2-7b-chat-hf' "
        "(needs network or a warm HF cache)"
    )


def check_model_source(source: str) -> None:
    """Raises naming the problem when `source` cannot be a loadable model; loads nothing."""
    if source in EMBEDDED_MODELS:
        locate_gguf(EMBEDDED_MODELS[source])
    else:
        resolve_checkpoint(source)


def resolve_checkpoint(source: str, *, cache_root: Path | None = None) -> str:
    """Returns a local checkpoint dir or hub name for `source`, or says what forms it accepts."""
    if source in EMBEDDED_MODELS:
        return str(cached_checkpoint_dir(EMBEDDED_MODELS[source], cache_root))
    if source in SHIPPED_CHECKPOINTS:
        folder = SHIPPED_CHECKPOINTS[source].folder
        shipped = Path(str(resources.files("sycolens") / folder))
        check_checkpoint_dir(shipped)
        return str(shipped)
    path = Path(source).expanduser()
    if path.is_dir():
        check_checkpoint_dir(path)
        return str(path)
    if _HUB_NAME.match(source) and not path.exists():
        _check_hub_name_loadable(source)
        return source
    raise ValueError(f"Unknown model {source!r}. Expected {accepted_model_forms()}.")


def _check_hub_name_loadable(name: str) -> None:
    """Raises when the hub is switched off (HF_HUB_OFFLINE) and `name` is not in the local
    Hugging Face cache: loading it could only fail, and only after work had started."""
    from huggingface_hub import constants, try_to_load_from_cache

    if constants.HF_HUB_OFFLINE and not isinstance(
        try_to_load_from_cache(name, "config.json"), str
    ):
        raise ValueError(
            f"Model {name!r} is a hub name, but HF_HUB_OFFLINE is set and it is not in the local "
            f"Hugging Face cache ({constants.HF_HUB_CACHE}). Fix: download it where there is "
            f"network (`hf download {name}`), unset HF_HUB_OFFLINE, or pass a local checkpoint "
            "dir or an embedded model name."
        )


def read_model_shape(source: str, *, cache_root: Path | None = None) -> ModelShape:
    """Returns the model's layer and head counts from its config, without loading weights.

    An embedded model is dequantised into its cache first if it is not there yet (once).
    """
    checkpoint = resolve_checkpoint(source, cache_root=cache_root)
    config = _read_config(checkpoint)
    return ModelShape(
        n_layers=int(config.get("num_hidden_layers", config.get("n_layer", 0))),
        n_heads=int(config.get("num_attention_heads", config.get("n_head", 0))),
    )


# How to mend a deltas file that cannot be read (cut short, or not written by sycolens).
DELTAS_FIX = (
    "copy the deltas file again if it was cut short, or write it again (`python -m "
    "sycolens.tune`, or `save_deltas`)."
)


def open_safetensors(path: Path, *, what: str, fix: str, framework: str = "pt") -> safe_open:
    """Returns the safetensors file at `path` opened (header read, tensors read on demand), or
    raises naming the file, `what` it should be and `fix` when it is truncated or not
    safetensors at all. `framework="numpy"` checks a header without importing torch."""
    try:
        return safe_open(str(path), framework=framework)
    except SafetensorError as error:
        raise ValueError(
            f"{path} is not a readable safetensors file ({error}: truncated, or not "
            f"safetensors); it should be {what}. Fix: {fix}"
        ) from error


def _read_config(checkpoint: str) -> dict[str, Any]:
    local = Path(checkpoint) / "config.json"
    if local.is_file():
        return read_json(local, what="the checkpoint's config", fix=_RESAVE)
    from transformers import AutoConfig  # a hub name: only transformers can fetch its config

    return AutoConfig.from_pretrained(checkpoint).to_dict()


def check_checkpoint_dir(path: Path) -> None:
    """Raises naming the missing or damaged file when `path` is not a loadable safetensors
    checkpoint (config.json is parsed and each weights file's header read; no tensor is)."""
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"Checkpoint dir {path} has no config.json. Fix: point at the folder that "
            "`save_pretrained` wrote (it holds config.json and model.safetensors)."
        )
    if not any((path / name).is_file() for name in _WEIGHT_FILES):
        has_pickle = any(path.glob("*.bin")) or any(path.glob("*.pt"))
        hint = (
            " It holds pickled .bin weights, which sycolens never unpickles; convert them to "
            "safetensors on a machine you trust."
            if has_pickle
            else ""
        )
        raise FileNotFoundError(
            f"Checkpoint dir {path} has no model.safetensors (or model.safetensors.index.json)."
            f"{hint} Fix: save the model with `save_pretrained(dir, safe_serialization=True)`."
        )
    if not (path / "tokenizer_config.json").is_file() and not (path / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"Checkpoint dir {path} has no tokenizer (tokenizer.json or tokenizer_config.json). "
            "Fix: `tokenizer.save_pretrained(dir)` beside the weights."
        )
    _read_config(str(path))
    for weights in sorted(path.glob("model*.safetensors")):  # one file, or the index's shards
        with open_safetensors(
            weights, what="the checkpoint's weights", fix=_RESAVE, framework="numpy"
        ):
            pass  # opening reads and checks the header
