"""Which model to load, on which device, in which precision: the spec every CLI shares.

Pure data (no torch import), so a CLI can parse and check its flags before anything heavy
loads; `sycolens.models.load.load_model_spec` turns it into a hooked model.
"""

import re
from dataclasses import dataclass
from typing import Literal

DtypeName = Literal["float32", "bfloat16", "float16"]
DTYPE_NAMES: tuple[DtypeName, ...] = ("float32", "bfloat16", "float16")
DEFAULT_MODEL = "smollm2-135m-instruct"
_DEVICE = re.compile(r"^(cpu|meta|mps|cuda(:\d+)?)$")


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """A model name, checkpoint dir or hub id, and the device and dtype to load it with."""

    name: str = DEFAULT_MODEL
    device: str = "cpu"
    dtype: DtypeName = "float32"

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
