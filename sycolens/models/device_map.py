"""Device maps: which device each module of a dispatched model runs on, read and checked early.

`--device-map auto` lets accelerate place the model itself, filling the GPUs, then CPU memory,
then disk (`sycolens.models.dispatch`). `--device-map FILE` names a JSON object in the form of
transformers' `hf_device_map`, module name -> device: "cpu", "disk", "mps", "cuda:N" (or a bare
GPU index N), e.g. `{"model.embed_tokens": 0, "model.layers.0": 0, ..., "model.layers.31":
"disk", "model.norm": "cpu", "lm_head": "cpu"}`. Modules placed on "cpu" or "disk" beside a GPU
are offloaded: their weights stay in CPU memory or on disk and are brought to the GPU one
module at a time as it runs.

Light on purpose (no torch unless a GPU is named): every CLI checks a map file while parsing
flags, so what is wrong with it is a usage error before any weight loads: a device this machine
lacks, "disk" entries without --offload-dir or --offload-dir without them, and GPUs mixed with
CPU/disk offload, which TransformerLens 4.3's bridge refuses (it has verified offload on CPUs
only). Whether the map's names fit the model (every module placed, no decoder layer split) is
asked of the model's own structure, `sycolens.models.dispatch.check_device_map_fits`.
"""

import re
from pathlib import Path

from sycolens.json_files import read_json
from sycolens.models.spec import check_device_present
from sycolens.training.launch import launched_processes

AUTO = "auto"
OFFLOADED = ("cpu", "disk")
_DEVICE = re.compile(r"^(cpu|disk|mps|cuda:\d+)$")
_FIX_FILE = (
    'write a JSON object of module name -> device, e.g. {"model.embed_tokens": "cpu", '
    '"model.layers.0": "cpu", "model.layers.1": "disk", "model.norm": "cpu", "lm_head": "cpu"}'
)


def read_device_map(path: Path) -> dict[str, str]:
    """Returns the map in `path` with every device in one spelling ("cuda:N" for a GPU index
    or a bare "cuda"), or raises naming the entry that is no device."""
    found = read_json(path, what="a device map", fix=_FIX_FILE)
    if not isinstance(found, dict) or not found:
        raise ValueError(f"Device map {path} is not a non-empty JSON object. Fix: {_FIX_FILE}.")
    mapping: dict[str, str] = {}
    for module, device in found.items():  # pyright: ignore[reportUnknownVariableType]
        mapping[str(module)] = _device_name(path, str(module), device)
    return mapping


def _device_name(path: Path, module: str, device: object) -> str:
    if isinstance(device, int) and not isinstance(device, bool) and device >= 0:
        return f"cuda:{device}"
    name = "cuda:0" if device == "cuda" else device
    if not isinstance(name, str) or not _DEVICE.match(name):
        raise ValueError(
            f"Device map {path} places {module!r} on {device!r}, which is not one of cpu, "
            "disk, mps, cuda:N or a GPU index N. Fix that entry."
        )
    return name


def check_device_map_flags(device_map: str | None, offload_dir: Path | None) -> None:
    """Raises naming the fix when `device_map` cannot run on this machine: a map file
    that is missing, malformed or names an absent device, disk without --offload-dir (or the
    other way round), GPUs beside CPU/disk offload, or a launch of several processes. Where
    "auto" puts the model is checked when it is planned (`sycolens.models.dispatch`)."""
    if device_map is None:
        return
    check_not_launched(device_map, launched_processes())
    if device_map == AUTO:
        return
    path = Path(device_map)
    if not path.is_file():
        raise ValueError(
            f"--device-map {device_map} is neither 'auto' nor a file. Fix: --device-map auto, "
            "or the path of a JSON map."
        )
    mapping = read_device_map(path)
    for device in sorted(set(mapping.values()) - {"disk"}):
        check_device_present(device, flag=f"--device-map {path}")
    check_offload_dir(mapping, offload_dir, source=f"--device-map {path}")
    check_not_mixed(mapping, source=f"--device-map {path}")


def check_offload_dir(mapping: dict[str, str], offload_dir: Path | None, *, source: str) -> None:
    """Raises when "disk" entries lack --offload-dir, or --offload-dir has no "disk" entry."""
    on_disk = sorted(module for module, device in mapping.items() if device == "disk")
    if on_disk and offload_dir is None:
        names = [repr(module) if module else "the whole model" for module in on_disk[:3]]
        raise ValueError(
            f"{source} places {', '.join(names)}{', ...' if len(on_disk) > 3 else ''} on disk, "
            "but no --offload-dir says where their weights go. Fix: add --offload-dir DIR (a "
            "folder with room for them)."
        )
    if offload_dir is not None and not on_disk:
        raise ValueError(
            f"--offload-dir {offload_dir} is given but {source} places nothing on disk. Fix: "
            'drop --offload-dir, or place modules on "disk" in the map.'
        )


def check_not_mixed(mapping: dict[str, str], *, source: str) -> None:
    """Raises when the map puts some modules on GPUs and offloads others to CPU or disk."""
    gpus = sorted({device for device in mapping.values() if device.startswith("cuda")})
    offloaded = sorted({device for device in mapping.values() if device in OFFLOADED})
    if gpus and offloaded:
        raise ValueError(
            f"{source} mixes GPUs ({', '.join(gpus)}) with {' and '.join(offloaded)} offload, "
            "which TransformerLens 4.3's bridge refuses (it has verified offload on CPUs "
            "only). Fix: place every module on GPUs (several GPUs may share the model), or "
            'every module on "cpu" and "disk".'
        )


def check_not_launched(device_map: str, world_size: int) -> None:
    """Refuses a dispatched model in a launch of several processes: the map spreads one copy
    over this machine's devices, and every process would load its own."""
    if world_size > 1:
        raise ValueError(
            f"--device-map {device_map} under a launch of {world_size} processes: a "
            "dispatched model spans the machine's devices itself, and each process would load "
            "another copy. Fix: run it as one process (without accelerate launch or torchrun)."
        )
