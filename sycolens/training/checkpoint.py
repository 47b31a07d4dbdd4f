"""Resumable training state on disk: trainable tensors, AdamW moments, RNG, data position.

A checkpoint folder holds `trainable.safetensors` (the trainable parameters by name),
`optimizer.safetensors` (each parameter's AdamW step count and moments, by parameter name),
`rng.safetensors` (torch's CPU and CUDA generator states) and `state.json` (the next step, which
is also the data position, seconds spent, Python's `random` state, the float16 loss scaler's
state, the metrics history, and the run's identity to refuse resuming a different run). The
learning rate is a pure function of the step, so the schedule needs no state of its own.
Folders are written beside the target and renamed over it, so an interruption leaves the
previous checkpoint whole.
"""

import json
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

STATE_FILE = "state.json"


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
) -> None:
    """Writes the whole resumable state to `folder` (atomically: staged, then renamed)."""
    staging = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
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
    """
    if not (folder / STATE_FILE).is_file():
        return TrainingState()
    saved = json.loads((folder / STATE_FILE).read_text())
    if saved["identity"] != identity:
        raise ValueError(
            f"{folder} holds a run with other settings. Fix: resume with the same settings, "
            "or start over (--overwrite, or delete the folder)."
        )
    tensors = load_file(folder / "trainable.safetensors")
    if tensors.keys() != parameters.keys():
        raise ValueError(
            f"{folder} holds trainable tensors {sorted(tensors)[:3]}..., not the ones of this "
            "run. Fix: resume with the same settings, or start over."
        )
    with torch.no_grad():
        for name, parameter in parameters.items():
            parameter.copy_(tensors[name])
    _load_optimizer_tensors(load_file(folder / "optimizer.safetensors"), parameters, optimizer)
    _restore_rng(load_file(folder / "rng.safetensors"))
    version, internal, gauss = saved["python_random"]
    random.setstate((version, tuple(internal), gauss))
    return TrainingState(
        step=saved["step"],
        seconds=saved["seconds"],
        history=saved["history"],
        grad_scaler=saved.get("grad_scaler", {}),
    )


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
            key: value.to(parameter.device) if value.dim() > 0 else value
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
