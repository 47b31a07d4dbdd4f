"""Read pipeline parts from a JSON file: the paper-reproduction configs under `experiments/`.

    {"about": "what this reproduces (free text)",
     "parts": [{"name": "llama2-7b-chat", "model": "/models/Llama-2-7b-chat-hf",
                "questions": "bundled", "random_control": true,
                "flags": ["--device", "cuda"],
                "step_flags": {"spt-top": ["--paper-preset", "llama-7b"]},
                "sizes": {"pairs": 256, "top_k": 32, ...}}]}

Every key is checked: an unknown, missing or mistyped one is an error naming the file, the part
and the fix, before any model loads. Sizes are `StepSizes` fields; flags are each step's CLI
flags (checked against the steps' parsers by `sycolens.pipeline.commands.check_part_flags`).
"""

import json
from pathlib import Path
from typing import Any

from sycolens.pipeline.config import PartSpec, StepSizes

_PART_KEYS = {"name", "model", "questions", "sizes", "random_control", "flags", "step_flags"}
_REQUIRED_PART_KEYS = {"name", "model", "questions", "sizes"}
_OPTIONAL_SIZES = {"tune_steps", "tune_batch"}  # null: the tuning preset's


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
    """Returns the part at `index` of the file, every key checked."""
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
        for key in ("name", "model", "questions"):
            _expect(part[key], str, key, '"text"')
        _expect(part.get("random_control", True), bool, "random_control", "true or false")
        step_flags = part.get("step_flags", {})
        _expect(step_flags, dict, "step_flags", '{"sft": ["--autocast", "bf16"]}')
        return PartSpec(
            name=part["name"],
            model=part["model"],
            questions=part["questions"],
            sizes=StepSizes(**_sizes(part["sizes"])),
            random_control=part.get("random_control", True),
            flags=_strings(part.get("flags", [])),
            step_flags={step: _strings(flags) for step, flags in step_flags.items()},
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from error


def _expect(value: Any, kind: type, key: str, example: str) -> None:
    """Raises naming `key` when `value` is not of `kind` (a bool is not an int)."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{key!r} is {value!r}, not {kind.__name__}. Fix: e.g. {example}.")


def _sizes(sizes: Any) -> dict[str, Any]:
    """Returns the sizes as StepSizes keyword arguments (lists become tuples), each checked."""
    _expect(sizes, dict, "sizes", '{"pairs": 256, "top_k": 32, ...}')
    checked: dict[str, Any] = {}
    for key, value in sizes.items():
        if key == "knockout_ks":
            _expect(value, list, key, "[1, 2, 4, 8]")
            for k in value:
                _expect(k, int, key, "[1, 2, 4, 8]")
            checked[key] = tuple(value)
        else:
            if not (value is None and key in _OPTIONAL_SIZES):
                _expect(value, int, key, "32")
            checked[key] = value
    return checked


def _strings(flags: Any) -> tuple[str, ...]:
    """Returns a list of flags as a tuple, each checked to be text."""
    if not isinstance(flags, list) or not all(isinstance(flag, str) for flag in flags):
        raise TypeError(f"flags {flags!r} are not a list of strings. Fix: ['--device', 'cuda'].")
    return tuple(flags)
