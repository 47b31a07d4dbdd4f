"""Read pipeline parts from a JSON file: the paper-reproduction configs under `experiments/`.

    {"about": "what this reproduces (free text)",
     "parts": [{"name": "llama2-7b-chat", "model": "/models/Llama-2-7b-chat-hf",
                "questions": "bundled", "random_control": true,
                "flags": ["--device", "cuda"],
                "step_flags": {"spt-top": ["--paper-preset", "llama-7b"]},
                "sizes": {"pairs": 256, "top_k": 32, ...}}]}

Every key is checked: an unknown or missing one is an error naming the file, the part and the
fix, before any model loads. Sizes are `StepSizes` fields; flags are each step's CLI flags.
"""

import json
from pathlib import Path
from typing import Any

from sycolens.pipeline.config import PartSpec, StepSizes

_PART_KEYS = {"name", "model", "questions", "sizes", "random_control", "flags", "step_flags"}
_REQUIRED_PART_KEYS = {"name", "model", "questions", "sizes"}


def read_parts(path: Path) -> tuple[PartSpec, ...]:
    """Returns the parts a pipeline config file names, in its order."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(
            f"Cannot read pipeline config {path}: {error}. Fix: pass a JSON file."
        ) from error
    if not isinstance(document, dict) or not isinstance(document.get("parts"), list):
        raise ValueError(f"{path} has no 'parts' list. Fix: {{'parts': [{{...}}, ...]}}.")
    extra = set(document) - {"about", "parts"}
    if extra:
        raise ValueError(f"{path} has unknown keys {sorted(extra)}. Fix: 'about' and 'parts'.")
    parts: list[Any] = document["parts"]
    return tuple(_part(path, index, part) for index, part in enumerate(parts))


def _part(path: Path, index: int, part: Any) -> PartSpec:
    where = f"{path}, part {index}"
    if not isinstance(part, dict):
        raise ValueError(f"{where} is not an object. Fix: {{'name': ..., 'model': ..., ...}}.")
    keys = set(part)
    missing, unknown = _REQUIRED_PART_KEYS - keys, keys - _PART_KEYS
    if missing or unknown:
        raise ValueError(
            f"{where}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}. Fix: use "
            f"{sorted(_PART_KEYS)} ({sorted(_REQUIRED_PART_KEYS)} required)."
        )
    try:
        sizes = StepSizes(**_sizes(part["sizes"]))
        return PartSpec(
            name=part["name"],
            model=part["model"],
            questions=part["questions"],
            sizes=sizes,
            random_control=bool(part.get("random_control", True)),
            flags=_strings(part.get("flags", [])),
            step_flags={
                step: _strings(flags) for step, flags in dict(part.get("step_flags", {})).items()
            },
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from error


def _sizes(sizes: Any) -> dict[str, Any]:
    """Returns the sizes as StepSizes keyword arguments (lists become tuples)."""
    if not isinstance(sizes, dict):
        raise TypeError("'sizes' is not an object. Fix: {'pairs': 256, 'top_k': 32, ...}.")
    return {key: tuple(value) if isinstance(value, list) else value for key, value in sizes.items()}


def _strings(flags: Any) -> tuple[str, ...]:
    if not isinstance(flags, list) or not all(isinstance(flag, str) for flag in flags):
        raise TypeError(f"flags {flags!r} are not a list of strings. Fix: ['--device', 'cuda'].")
    return tuple(flags)
