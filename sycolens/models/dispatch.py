"""Load a model dispatched across devices: GPUs, then CPU memory, then disk (accelerate).

A model bigger than one device runs with each module on the device its map names. accelerate
attaches a hook to every module placed on "cpu" or "disk" beside a GPU, or on "disk" at all:
its parameters are meta placeholders and the hook brings its weights to the device it runs on
for the length of its own forward, then lets them go; TransformerLens's bridge does the same
around each component's call. So a forward never holds more than the resident modules and the
one running. sycolens's own reads of weights (direct scoring's W_O, the label rows of the
unembedding, the fingerprint, deltas) go through `sycolens.models.placement`, which reads each
module where it lives, one at a time.

The map is planned on the model's skeleton (built on the meta device from its config: no weight
is read) before anything loads. "auto" is transformers' own planner for `device_map="auto"`:
fill the GPUs (balanced), then CPU memory, then disk, never splitting a module class the family
marks unsplittable (its decoder layer). A FILE map is checked against the skeleton: every name
a module, every parameter placed, no decoder layer across two devices.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from accelerate import init_empty_weights
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel
from transformers.integrations.accelerate import get_balanced_memory, infer_auto_device_map

from sycolens.models.device_map import (
    AUTO,
    check_device_map_flags,
    check_not_mixed,
    check_offload_dir,
    read_device_map,
)
from sycolens.models.sources import resolve_checkpoint

MaxMemory = Mapping[int | str, int | str]


def model_skeleton(checkpoint: str, dtype: torch.dtype) -> PreTrainedModel:
    """Returns the checkpoint's model with every parameter on the meta device (none read),
    its tied weights tied as loading ties them."""
    config = AutoConfig.from_pretrained(checkpoint)
    with init_empty_weights():
        skeleton: Any = AutoModelForCausalLM.from_config(config, dtype=dtype)
    skeleton.tie_weights()
    return skeleton


def auto_device_map(skeleton: PreTrainedModel, max_memory: MaxMemory | None) -> dict[str, str]:
    """Returns where transformers' "auto" planner puts each module: the GPUs (balanced), then
    CPU memory, then disk, within `max_memory` (default: what is free on each device)."""
    unsplit: Any = skeleton._no_split_modules  # pyright: ignore[reportPrivateUsage]
    budget = get_balanced_memory(
        skeleton, max_memory=dict(max_memory) if max_memory else None,
        no_split_module_classes=unsplit,
    )  # fmt: skip
    planned = infer_auto_device_map(skeleton, max_memory=budget, no_split_module_classes=unsplit)
    return {name: f"cuda:{device}" if isinstance(device, int) else str(device)
            for name, device in planned.items()}  # fmt: skip


def check_device_map_fits(skeleton: PreTrainedModel, mapping: dict[str, str], source: str) -> None:
    """Raises naming the entry and the fix when `mapping` names a module the model lacks,
    leaves a parameter unplaced, puts parts of one decoder layer on two devices, or a tied
    weight's two names on two devices."""
    modules = dict(skeleton.named_modules())
    unknown = sorted(name for name in mapping if name and name not in modules)
    if unknown:
        examples = ", ".join(repr(name) for name in modules if 0 < name.count(".") <= 2)
        raise ValueError(
            f"{source} names {unknown[:3]}, which {type(skeleton).__name__} does not have. "
            f"Fix: use the model's module names ({examples[:200]}, ...)."
        )
    placed = _placements(skeleton, mapping, source)
    unsplit = set(skeleton._no_split_modules or ())  # pyright: ignore[reportPrivateUsage]
    for name, module in modules.items():
        if type(module).__name__ not in unsplit:
            continue
        inside = {device for param, device in placed.items() if param.startswith(name + ".")}
        if len(inside) > 1:
            raise ValueError(
                f"{source} splits {name} ({type(module).__name__}) across "
                f"{', '.join(sorted(inside))}; a decoder layer runs on one device (its residual "
                f'stream would cross devices mid-layer). Fix: place it whole, e.g. "{name}": '
                f'"{sorted(inside)[0]}", and drop the entries inside it.'
            )
    tied: dict[int, list[str]] = {}
    for name, parameter in skeleton.named_parameters(remove_duplicate=False):
        tied.setdefault(id(parameter), []).append(name)
    for names in tied.values():
        if len({placed[name] for name in names}) > 1:
            modules_of = " and ".join(repr(name.rsplit(".", 1)[0]) for name in names)
            raise ValueError(
                f"{source} places {modules_of} on different devices, but they share one tied "
                f"weight, which lives in one place. Fix: place {modules_of} on one device."
            )


def _placements(skeleton: PreTrainedModel, mapping: dict[str, str], source: str) -> dict[str, str]:
    """Returns the device of every parameter (tied ones under each name), or raises naming a
    parameter no entry places."""
    placed: dict[str, str] = {}
    for name, _ in skeleton.named_parameters(remove_duplicate=False):
        owners = [key for key in mapping if key == "" or name.startswith(key + ".")]
        if not owners:
            raise ValueError(
                f"{source} places no module holding {name!r}. Fix: add an entry for "
                f"{name.rsplit('.', 1)[0]!r} (or a module above it)."
            )
        placed[name] = mapping[max(owners, key=len)]  # the most specific entry
    return placed


def check_map_file_fits(source: str, path: Path) -> None:
    """Raises naming the fix when the map file does not fit the model `source` names (checked
    on its skeleton, from its config: no weight is read)."""
    skeleton = model_skeleton(resolve_checkpoint(source), torch.float32)
    check_device_map_fits(skeleton, read_device_map(path), f"--device-map {path}")


def plan_device_map(
    checkpoint: str,
    dtype: torch.dtype,
    device_map: str,
    offload_dir: Path | None,
    *,
    max_memory: MaxMemory | None = None,
) -> dict[str, str]:
    """Returns the checked placement `device_map` ("auto" or a map file) names for the
    checkpoint, planned on its skeleton; "auto" within `max_memory` (default: what is free)."""
    check_device_map_flags(device_map, offload_dir)
    skeleton = model_skeleton(checkpoint, dtype)
    if device_map != AUTO:
        mapping = read_device_map(Path(device_map))
        check_device_map_fits(skeleton, mapping, f"--device-map {device_map}")
        return mapping
    mapping = auto_device_map(skeleton, max_memory)
    check_not_mixed(mapping, source="--device-map auto (the model does not fit the GPUs)")
    if "disk" in mapping.values() and offload_dir is None:
        check_offload_dir(mapping, None, source="--device-map auto (the model outgrows memory)")
    return mapping


def load_dispatched(
    checkpoint: str, dtype: torch.dtype, device_map: str, offload_dir: Path | None
) -> PreTrainedModel:
    """Returns the checkpoint's HF model dispatched as `device_map` says (eval mode)."""
    mapping = plan_device_map(checkpoint, dtype, device_map, offload_dir)
    offload = {} if offload_dir is None else {"offload_folder": str(offload_dir)}
    model: Any = AutoModelForCausalLM.from_pretrained(
        checkpoint, dtype=dtype, use_safetensors=True, device_map=mapping, **offload
    )
    return model.eval()
