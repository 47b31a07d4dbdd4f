"""Which model to load, on which device, in which precision: the spec every CLI shares.

Pure data (no torch import), so a CLI can parse and check its flags before anything heavy
loads; `sycolens.models.load.load_model_spec` turns it into a hooked model. A spec checks the
device's form only: whether this machine has it is `check_device_present`'s question, asked
when a model is about to load, since a spec may be parsed on one machine for another (the
pipeline's GPU configs are checked on CPU-only ones). A spec with a `device_map` ("auto" or a
JSON file) is dispatched across devices by `sycolens.models.dispatch` instead of loaded on
`device`; `sycolens.models.device_map` checks the map itself.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DtypeName = Literal["float32", "bfloat16", "float16"]
DTYPE_NAMES: tuple[DtypeName, ...] = ("float32", "bfloat16", "float16")
DEFAULT_MODEL = "smollm2-135m-instruct"
_DEVICE = re.compile(r"^(cpu|meta|mps|cuda(:\d+)?)$")


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """A model name, checkpoint dir or hub id, and the device and dtype to load it with; or,
    with `device_map` ("auto" or a JSON map file), the devices to dispatch it across, and
    `offload_dir` for the layers placed on disk."""

    name: str = DEFAULT_MODEL
    device: str = "cpu"
    dtype: DtypeName = "float32"
    device_map: str | None = None
    offload_dir: Path | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("The model name is empty. Fix: pass --model NAME_OR_DIR.")
        if not _DEVICE.match(self.device):
            raise ValueError(
                f"Device {self.device!r} is not one of cpu, cuda, cuda:N, mps. Fix --device."
            )
        if self.dtype not in DTYPE_NAMES:
            raise ValueError(
                f"dtype {self.dtype!r} is not one of {', '.join(DTYPE_NAMES)}. Fix --dtype."
            )
        check_placement(self.device, self.device_map, self.offload_dir)


def check_placement(device: str, device_map: str | None, offload_dir: Path | None) -> None:
    """Refuses a device map beside a device other than cpu, an empty one, or an offload
    folder without a device map."""
    if device_map is None:
        if offload_dir is not None:
            raise ValueError(
                f"--offload-dir {offload_dir} without --device-map: only a dispatched model "
                "offloads layers to disk. Fix: add --device-map auto (or a map FILE with "
                '"disk" entries), or drop --offload-dir.'
            )
        return
    if not device_map.strip():
        raise ValueError("--device-map is empty. Fix: --device-map auto or a JSON map FILE.")
    if device != "cpu":
        raise ValueError(
            f"--device {device} with --device-map {device_map}: the map places every module "
            f"itself. Fix: drop --device (or drop --device-map to load the whole model on "
            f"{device})."
        )


def check_device_present(device: str, *, flag: str = "--device") -> None:
    """Raises when torch on this machine cannot use `device` (a cuda:N past the last GPU, cuda
    on a CPU-only torch, mps off Apple silicon); cpu and meta are always present. `flag` is
    what the fix names.

    torch is imported only for cuda and mps, so a flag check may call it cheaply.
    """
    if device.startswith("cuda"):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if int(device.partition(":")[2] or 0) >= count:
            seen = f"{count} GPUs (cuda:0..cuda:{count - 1})" if count else "no CUDA GPU"
            raise ValueError(
                f"Device {device!r} is not on this machine: torch {torch.__version__} sees "
                f"{seen}. Fix {flag} (cpu runs anywhere)."
            )
    elif device == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise ValueError(
                "Device 'mps' is not on this machine: torch sees no Apple-silicon GPU. "
                f"Fix {flag} (cpu runs anywhere)."
            )
