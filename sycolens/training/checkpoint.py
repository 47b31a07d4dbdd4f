"""Resumable training state on disk: trainable tensors, AdamW moments, RNG, data position.

A checkpoint folder holds `trainable.safetensors` (the trainable parameters by name),
`optimizer.safetensors` (each parameter's AdamW step count and moments, by parameter name),
`rng.safetensors` (torch's CPU and CUDA generator states) and `state.json` (the next step, which
is also the data position, seconds spent, Python's `random` state, the float16 loss scaler's
state, the metrics history, and the run's identity to refuse resuming a different run). The
learning rate is a pure function of the step, so the schedule needs no state of its own.
Folders are written beside the target and renamed over it, so an interruption leaves the
previous checkpoint whole.

Trainable tensors sharded over processes (FSDP's DTensors, `sycolens.training.fsdp`) are written
instead by every process, each its own shards, as one torch.distributed.checkpoint (DCP) folder
`sharded/` (keys `trainable/{name}` and `optimizer/{name}.{key}`; it records each tensor's
global shape and every shard's place in it), beside the same `rng.safetensors` and `state.json`
written by the main process. Either form resumes under any number of processes, sharded or not:
DCP reads each process's shards out of whatever shards were written (or whole tensors, for an
unsharded run), and whole tensors are cut into this process's shards. The processes must share
the folder's file system.
"""

import json
import random
import shutil
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor
from torch.distributed.checkpoint.filesystem import FileSystemReader, FileSystemWriter
from torch.distributed.checkpoint.metadata import TensorStorageMetadata
from torch.distributed.checkpoint.state_dict_loader import load as load_shards
from torch.distributed.checkpoint.state_dict_saver import save as save_shards
from torch.distributed.tensor import DTensor, distribute_tensor

from sycolens.training.data_parallel import DataParallel

STATE_FILE = "state.json"
SHARDED_DIR = "sharded"
# DCP's warning when a process without a process group reads a checkpoint (whole tensors).
_SINGLE_PROCESS_WARNING = "torch.distributed is disabled, unavailable or uninitialized"


@dataclass
class TrainingState:
    """Where a run is: the next optimiser step, time spent and metrics so far."""

    step: int = 0
    seconds: float = 0.0
    history: list[dict[str, float | int]] = field(default_factory=lambda: [])
    grad_scaler: dict[str, Any] = field(default_factory=lambda: {})


def save_checkpoint(
    folder: Path,
    *,
    parameters: dict[str, torch.nn.Parameter],
    optimizer: torch.optim.Optimizer,
    state: TrainingState,
    identity: dict[str, Any],
    parallel: DataParallel | None = None,
) -> None:
    """Writes the whole resumable state to `folder` (atomically: staged, then renamed).

    Every process calls it: sharded tensors are written by all of them, whole ones by the main
    process alone (the others return at once)."""
    parallel = parallel or DataParallel()
    is_sharded = _is_sharded(parameters)
    if not (is_sharded or parallel.is_main):
        return
    staging = folder.with_name(folder.name + ".tmp")
    if parallel.is_main:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    if is_sharded:
        parallel.barrier()  # the staging folder is empty before any process writes to it
        writer = FileSystemWriter(staging / SHARDED_DIR)
        save_shards(_sharded_state(parameters, optimizer), storage_writer=writer)
        if not parallel.is_main:
            return
    else:
        save_file(
            {name: p.detach().contiguous() for name, p in parameters.items()},
            staging / "trainable.safetensors",
        )
        save_file(_optimizer_tensors(parameters, optimizer), staging / "optimizer.safetensors")
    save_file(_rng_tensors(), staging / "rng.safetensors")
    python_rng = random.getstate()
    (staging / STATE_FILE).write_text(
        json.dumps(
            {
                "step": state.step,
                "seconds": state.seconds,
                "history": state.history,
                "grad_scaler": state.grad_scaler,
                "identity": identity,
                "python_random": [python_rng[0], list(python_rng[1]), python_rng[2]],
            }
        )
    )
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)


def load_checkpoint(
    folder: Path,
    *,
    parameters: dict[str, torch.nn.Parameter],
    optimizer: torch.optim.Optimizer,
    identity: dict[str, Any],
) -> TrainingState:
    """Restores a checkpoint into `parameters`, `optimizer` and the RNGs; returns its state.

    Without a checkpoint in `folder`, changes nothing and returns the state of a fresh run.
    Every process of a run calls it (reading DCP shards is collective).
    """
    if not (folder / STATE_FILE).is_file():
        return TrainingState()
    saved = json.loads((folder / STATE_FILE).read_text())
    if saved["identity"] != identity:
        raise ValueError(
            f"{folder} holds a run with other settings. Fix: resume with the same settings, "
            "or start over (--overwrite, or delete the folder)."
        )
    if (folder / SHARDED_DIR).is_dir():
        _load_sharded(folder / SHARDED_DIR, parameters, optimizer)
    else:
        tensors = load_file(folder / "trainable.safetensors")
        _check_names(folder, tensors.keys(), parameters)
        with torch.no_grad():
            for name, parameter in parameters.items():
                parameter.copy_(_placed_like(tensors[name], parameter))
        optimizer_tensors = load_file(folder / "optimizer.safetensors")
        _load_optimizer_tensors(optimizer_tensors, parameters, optimizer)
    _restore_rng(load_file(folder / "rng.safetensors"))
    version, internal, gauss = saved["python_random"]
    random.setstate((version, tuple(internal), gauss))
    return TrainingState(
        step=saved["step"],
        seconds=saved["seconds"],
        history=saved["history"],
        grad_scaler=saved.get("grad_scaler", {}),
    )


def _is_sharded(parameters: dict[str, torch.nn.Parameter]) -> bool:
    """Returns whether the trainable tensors are sharded over processes (FSDP's DTensors)."""
    return any(isinstance(parameter, DTensor) for parameter in parameters.values())


def _check_names(
    folder: Path, saved: Iterable[str], parameters: dict[str, torch.nn.Parameter]
) -> None:
    saved = set(saved)
    if saved != parameters.keys():
        raise ValueError(
            f"{folder} holds trainable tensors {sorted(saved)[:3]}..., not the ones of this "
            "run. Fix: resume with the same settings, or start over."
        )


def _placed_like(full: Tensor, like: Tensor) -> Tensor:
    """Returns a whole tensor as `like` holds it: this process's shards of it (on `like`'s
    device, which is the host under offload) if `like` is sharded, else on `like`'s device."""
    if not isinstance(like, DTensor):
        return full.to(like.device)
    shards = distribute_tensor(full, like.device_mesh, like.placements, src_data_rank=None)
    return shards.to(like.device)


def _sharded_state(
    parameters: dict[str, torch.nn.Parameter], optimizer: torch.optim.Optimizer
) -> dict[str, Tensor]:
    """Returns the tensors DCP writes: every parameter and its optimiser state, by name."""
    state: dict[str, Tensor] = {}
    for name, parameter in parameters.items():
        state[f"trainable/{name}"] = parameter.detach()
        for key, value in optimizer.state.get(parameter, {}).items():
            state[f"optimizer/{name}.{key}"] = value
    return state


def _load_sharded(
    folder: Path, parameters: dict[str, torch.nn.Parameter], optimizer: torch.optim.Optimizer
) -> None:
    """Reads a DCP checkpoint into the parameters (in place) and the optimiser state, each as
    this run holds it (sharded over its processes, or whole)."""
    reader = FileSystemReader(folder)
    saved = reader.read_metadata().state_dict_metadata
    trainable = [key.removeprefix("trainable/") for key in saved if key.startswith("trainable/")]
    _check_names(folder.parent, trainable, parameters)
    targets: dict[str, Tensor] = {f"trainable/{n}": p.detach() for n, p in parameters.items()}
    slots: dict[str, dict[str, Tensor]] = {}
    for key, entry in saved.items():
        if not key.startswith("optimizer/") or not isinstance(entry, TensorStorageMetadata):
            continue
        name, _, slot = key.removeprefix("optimizer/").rpartition(".")  # slots have no dot
        # A step count is a scalar; the moments are shaped (and sharded) like their weight.
        target = (torch.zeros(entry.size, dtype=entry.properties.dtype) if slot == "step"
                  else torch.zeros_like(parameters[name]))  # fmt: skip
        slots.setdefault(name, {})[slot] = targets[key] = target
    with warnings.catch_warnings():  # one process reading it whole is what DCP then assumes
        warnings.filterwarnings("ignore", message=_SINGLE_PROCESS_WARNING, category=UserWarning)
        load_shards(targets, storage_reader=reader)
    for name, state in slots.items():
        optimizer.state[parameters[name]] = state


def _optimizer_tensors(
    parameters: dict[str, torch.nn.Parameter], optimizer: torch.optim.Optimizer
) -> dict[str, Tensor]:
    """Returns every parameter's optimiser state as `{name}.{key}` tensors."""
    tensors: dict[str, Tensor] = {}
    for name, parameter in parameters.items():
        for key, value in optimizer.state.get(parameter, {}).items():
            tensors[f"{name}.{key}"] = torch.as_tensor(value).detach().clone().contiguous()
    return tensors


def _load_optimizer_tensors(
    tensors: dict[str, Tensor],
    parameters: dict[str, torch.nn.Parameter],
    optimizer: torch.optim.Optimizer,
) -> None:
    """Puts `{name}.{key}` tensors back as the optimiser state of parameter `name`."""
    by_name: dict[str, dict[str, Tensor]] = {}
    for full_key, value in tensors.items():
        name, _, key = full_key.rpartition(".")  # state keys (step, exp_avg, ...) have no dot
        by_name.setdefault(name, {})[key] = value
    for name, state in by_name.items():
        parameter = parameters[name]
        optimizer.state[parameter] = {
            key: _placed_like(value, parameter) if value.dim() > 0 else value
            for key, value in state.items()
        }


def _rng_tensors() -> dict[str, Tensor]:
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for index, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{index}"] = cuda_state
    return tensors


def _restore_rng(tensors: dict[str, Tensor]) -> None:
    torch.set_rng_state(tensors["torch_cpu"])
    cuda_states = [tensors[f"torch_cuda_{i}"] for i in range(len(tensors) - 1)]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states)
