"""Where a loaded model's weights live, and reading (or writing) them there, one module at a time.

On one device every parameter is a tensor on it. A dispatched model (`sycolens.models.dispatch`)
spreads its modules over devices, and a module offloaded to CPU memory or disk holds meta
placeholders: its weights sit in the hook accelerate attached to it (`AlignDevicesHook.
weights_map`, a CPU state dict or a lazy reader of safetensors and memory-mapped files), which
brings them to the module's execution device for each of its forwards. Code that reads weights
outside a forward (direct scoring's W_O, the unembedding's label rows, the fingerprint) reads
them here: `weights_at_hand` brings one module's weights in for a block, as its own forward
would; `stored_tensor` returns a tensor as stored without moving it; `writable_offloaded` puts a
CPU copy of an offloaded tensor in front of its store, so that deltas added to it are what the
module loads from then on. None of them gathers the model on one device.

The bridge wraps each HF module in place (`_original_component`); the hooks are on the wrapped
modules, so each function here looks through the wrapper.
"""

from collections import ChainMap
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

import torch
from accelerate.hooks import AlignDevicesHook, SequentialHook
from torch import Tensor


def device_map_of(hf_model: Any) -> dict[str, str] | None:
    """Returns the device each module was placed on by a device map (GPU indices as cuda:N),
    or None for a model loaded whole on one device."""
    mapping: dict[str, Any] | None = getattr(hf_model, "hf_device_map", None)
    if not mapping:
        return None
    return {
        name: f"cuda:{device}" if isinstance(device, int) else str(device)
        for name, device in mapping.items()
    }


def is_dispatched(hf_model: Any) -> bool:
    """Returns whether accelerate's hooks place the model's modules (more than one device, or
    any on disk); a map onto one device loads the model whole there, without hooks."""
    mapping = device_map_of(hf_model) or {}
    return len(set(mapping.values())) > 1 or "disk" in mapping.values()


def _original(module: torch.nn.Module) -> torch.nn.Module:
    """Returns the HF module a bridge component wraps (the module itself if unwrapped)."""
    return module._modules.get("_original_component") or module  # pyright: ignore[reportPrivateUsage]


def _align_hook(module: torch.nn.Module) -> AlignDevicesHook | None:
    """Returns accelerate's placement hook on `module`, also inside a chain of hooks."""
    pending: list[Any] = [getattr(module, "_hf_hook", None)]
    while pending:
        hook = pending.pop()
        if isinstance(hook, SequentialHook):
            pending.extend(cast(Any, hook).hooks)
        elif isinstance(hook, AlignDevicesHook):
            return hook
    return None


def _offload_hook(module: torch.nn.Module) -> AlignDevicesHook | None:
    hook = _align_hook(module)
    return hook if hook is not None and hook.offload else None


def execution_device(module: torch.nn.Module) -> torch.device:
    """Returns the device `module` runs on: its hook's execution device when accelerate
    places it, else the device of its first tensor (cpu for a module without any)."""
    original = _original(module)
    hook = _align_hook(original)
    if hook is not None and hook.execution_device is not None:
        return torch.device(hook.execution_device)
    for tensor in (*original.parameters(), *original.buffers()):
        return tensor.device
    return torch.device("cpu")


def input_device(hf_model: Any) -> torch.device:
    """Returns the device a forward's token ids go to: where the input embedding runs."""
    return execution_device(hf_model.get_input_embeddings())


@contextmanager
def weights_at_hand(module: torch.nn.Module) -> Generator[None]:
    """Within the block, `module`'s own weights are real tensors on its execution device, also
    where accelerate offloads them (its hook brings them in as for a forward, and lets them go
    after); for a module that is not offloaded, nothing happens."""
    original = _original(module)
    hook = _offload_hook(original)
    if hook is None:
        yield
        return
    hook.pre_forward(original)
    try:
        yield
    finally:
        hook.post_forward(original, None)


def stored_tensor(hf_model: Any, name: str) -> Tensor:
    """Returns the parameter or buffer at the canonical `name` as stored: the tensor itself on
    its device, or, offloaded, its CPU copy or the copy read from disk."""
    module_name, _, attribute = name.rpartition(".")
    module = _original(hf_model.get_submodule(module_name))
    tensor: Tensor = getattr(module, attribute)
    if not tensor.is_meta:
        return tensor
    hook = _offload_hook(module)
    if hook is None or hook.weights_map is None:
        raise ValueError(
            f"{name} is a meta tensor with no offloaded copy behind it, so its weights were "
            "never loaded. Fix: load the model with its weights (a device map may place modules "
            'on "cpu" and "disk", not "meta").'
        )
    return hook.weights_map[attribute]


def writable_offloaded(hf_model: Any, name: str) -> Tensor:
    """Returns a CPU copy of the offloaded tensor `name` that its module loads from now on:
    writing to it changes the weights every later forward runs (only this tensor is held in
    memory; the rest of the offload stays where it is)."""
    module_name, _, attribute = name.rpartition(".")
    module = _original(hf_model.get_submodule(module_name))
    hook = _offload_hook(module)
    assert hook is not None and hook.weights_map is not None, f"{name} is not offloaded"
    copy = stored_tensor(hf_model, name).detach().to("cpu", copy=True)
    hook.weights_map = cast(Any, ChainMap({attribute: copy}, cast(Any, hook.weights_map)))
    return copy


class StoredTensors(Mapping[str, Tensor]):
    """The model's state dict under its canonical names, each tensor read where it is stored
    when it is asked for (`stored_tensor`), so a pass over it holds one offloaded tensor at a
    time."""

    def __init__(self, hf_model: Any, names: tuple[str, ...]) -> None:
        self._hf_model = hf_model
        self._names = names

    def __getitem__(self, name: str) -> Tensor:
        if name not in self._names:
            raise KeyError(name)
        return stored_tensor(self._hf_model, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)
