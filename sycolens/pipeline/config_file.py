"""Read pipeline parts from a JSON file: the paper-reproduction configs under `experiments/`.

    {"about": "what this reproduces (free text)",
     "parts": [{"name": "llama2-7b-chat", "model": "/models/Llama-2-7b-chat-hf",
                "questions": "bundled", "random_control": true, "device": "cuda",
                "tune_preset": "llama-7b", "tune_autocast": "bfloat16",
                "gradient_checkpointing": ["sft"], "eval_dtype": "bfloat16",
                "sizes": {"pairs": 256, "top_k": 32, ...}}]}

Every key is checked: an unknown, missing or mistyped one is an error naming the file, the part
and the fix, before any model loads. Sizes are `StepSizes` fields; the other keys are
`PartSpec` fields (its docstring says which step each reaches): `device`, `labels` ({"syco":
..., "anti": ...}), `tune_preset`, `tune_autocast`, `gradient_checkpointing` and
`fsdp_offload` (lists of tuning steps), `eval_dtype`, `eval_final_request`. The free CLI
strings of earlier files (`flags`, `step_flags`) are refused, naming these keys.
"""

import json
from pathlib import Path
from typing import Any, get_args

from sycolens.models.spec import DTYPE_NAMES
from sycolens.pipeline.config import PartSpec, StepSizes
from sycolens.prompts.label_spec import LabelWords
from sycolens.training.config import AutocastDtype

# Each optional key -> the JSON types it takes and an example of its value.
_OPTIONS: dict[str, tuple[tuple[type, ...], str]] = {
    "random_control": ((bool,), "true"),
    "device": ((str,), '"cuda"'),
    "labels": ((dict,), '{"syco": "Sorry", "anti": "Yes"}'),
    "tune_preset": ((str, type(None)), '"llama-7b"'),
    "tune_autocast": ((str, type(None)), '"bfloat16"'),
    "gradient_checkpointing": ((list,), '["sft"]'),
    "fsdp_offload": ((list,), '["sft"]'),
    "eval_dtype": ((str,), '"bfloat16"'),
    "eval_final_request": ((bool, type(None)), "false"),
}
# The keys whose values are a fixed set of names (a dtype), checked before the part is built.
_CHOICES: dict[str, tuple[str | None, ...]] = {
    "tune_autocast": (None, *get_args(AutocastDtype)),
    "eval_dtype": DTYPE_NAMES,
}
_REQUIRED_PART_KEYS = {"name", "model", "questions", "sizes"}
_PART_KEYS = _REQUIRED_PART_KEYS | set(_OPTIONS)
_RETIRED_KEYS = {"flags", "step_flags"}
# null: the tuning preset's steps and batch, the question set's reply limits
_OPTIONAL_SIZES = {"tune_steps", "tune_batch", "eval_answer_tokens", "eval_challenge_reply_tokens",
                   "eval_final_answer_tokens"}  # fmt: skip


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
    retired = sorted(keys & _RETIRED_KEYS)
    if retired:
        raise ValueError(
            f"{where}: {retired} held command-line flags; parts now have typed keys. Fix: "
            f"replace them with {sorted(set(_OPTIONS) - {'random_control'})} (e.g. "
            '"--device cuda" -> "device": "cuda", "--paper-preset llama-7b" -> "tune_preset": '
            '"llama-7b", "--autocast bf16" -> "tune_autocast": "bfloat16").'
        )
    missing, unknown = _REQUIRED_PART_KEYS - keys, keys - _PART_KEYS
    if missing or unknown:
        raise ValueError(
            f"{where}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}. Fix: use "
            f"{sorted(_PART_KEYS)} ({sorted(_REQUIRED_PART_KEYS)} required)."
        )
    try:
        for key in ("name", "model", "questions"):
            _expect(part[key], (str,), key, '"text"')
        options = {key: part[key] for key in _OPTIONS if key in part}
        for key, value in options.items():
            kinds, example = _OPTIONS[key]
            _expect(value, kinds, key, example)
            if value not in _CHOICES.get(key, (value,)):
                shown = ", ".join("null" if name is None else name for name in _CHOICES[key])
                raise ValueError(f"{key!r} is {value!r}, not one of {shown}. Fix: e.g. {example}.")
        return PartSpec(
            name=part["name"],
            model=part["model"],
            questions=part["questions"],
            sizes=StepSizes(**_sizes(part["sizes"])),
            **_typed(options),
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from error


def _typed(options: dict[str, Any]) -> dict[str, Any]:
    """Returns the options as PartSpec keyword arguments: labels as words, step lists as
    tuples of text."""
    typed = dict(options)
    if "labels" in options:
        labels = options["labels"]
        if set(labels) != {"syco", "anti"} or not all(isinstance(v, str) for v in labels.values()):
            raise TypeError(
                f"'labels' is {labels!r}, not two label words. Fix: e.g. {_OPTIONS['labels'][1]}."
            )
        typed["labels"] = LabelWords(syco=labels["syco"], anti=labels["anti"])
    for key in ("gradient_checkpointing", "fsdp_offload"):
        if key in options:
            typed[key] = _strings(key, options[key])
    return typed


def _expect(value: Any, kinds: tuple[type, ...], key: str, example: str) -> None:
    """Raises naming `key` when `value` is none of `kinds` (a bool is not an int)."""
    if not isinstance(value, kinds) or (int in kinds and isinstance(value, bool)):
        names = " or ".join("null" if kind is type(None) else kind.__name__ for kind in kinds)
        raise TypeError(f"{key!r} is {value!r}, not {names}. Fix: e.g. {example}.")


def _sizes(sizes: Any) -> dict[str, Any]:
    """Returns the sizes as StepSizes keyword arguments (lists become tuples), each checked."""
    _expect(sizes, (dict,), "sizes", '{"pairs": 256, "top_k": 32, ...}')
    checked: dict[str, Any] = {}
    for key, value in sizes.items():
        if key == "knockout_ks":
            _expect(value, (list,), key, "[1, 2, 4, 8]")
            for k in value:
                _expect(k, (int,), key, "[1, 2, 4, 8]")
            checked[key] = tuple(value)
        else:
            if key in _OPTIONAL_SIZES:
                _expect(value, (int, type(None)), key, "32, or null for the default")
            else:
                _expect(value, (int,), key, "32")
            checked[key] = value
    return checked


def _strings(key: str, items: list[Any]) -> tuple[str, ...]:
    """Returns a list of step names as a tuple, each checked to be text."""
    if not all(isinstance(item, str) for item in items):
        raise TypeError(f'{key!r} is {items!r}, not a list of step names. Fix: e.g. ["sft"].')
    return tuple(items)
