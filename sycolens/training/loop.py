"""The one training loop: AdamW on the trainable tensors, schedule, accumulation, exact resume.

What is trained is a dict of named parameters (a whole model's, or a few per-head deltas); what
is minimised is `loss_at(step, micro_step)`, which must be a pure function of its position and
the RNG state, so that a run resumed from a checkpoint takes exactly the steps it would have
taken (`sycolens.training.checkpoint` restores tensors, moments, RNG and position). Each step:
set the learning rate, accumulate `accumulation` micro-batch gradients (each loss divided by
`accumulation`), clip the gradient norm, take one AdamW step. With `autocast`, each forward
runs under `torch.autocast` (float16 with loss scaling: `sycolens.training.precision`). A
checkpoint is written every `checkpoint_every` steps; the caller writes the final weights and
then removes the folder. The trainable tensors may be sharded over processes (FSDP's DTensors,
`sycolens.training.fsdp`): AdamW and clipping work on them as they are, and every process
writes its shards of each checkpoint.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.distributed.tensor import DTensor
from tqdm.auto import tqdm

from sycolens.training.checkpoint import load_checkpoint, save_checkpoint
from sycolens.training.config import TrainingConfig, learning_rate_at
from sycolens.training.data_parallel import DataParallel
from sycolens.training.precision import MixedPrecision, NonFiniteError


@dataclass(frozen=True)
class LossOutput:
    """One micro-batch: the loss to minimise, numbers to log, and how many samples it held."""

    loss: Tensor
    metrics: Mapping[str, float]
    n_samples: int


@dataclass(frozen=True)
class TrainingResult:
    """How a finished run went: steps, wall time over all sessions, per-step metrics."""

    steps: int
    seconds: float
    history: tuple[dict[str, float | int], ...]

    @property
    def final_metrics(self) -> dict[str, float | int]:
        return self.history[-1] if self.history else {}


def train(
    parameters: Mapping[str, torch.nn.Parameter],
    loss_at: Callable[[int, int], LossOutput],
    config: TrainingConfig,
    checkpoint_dir: Path,
    *,
    identity: dict[str, Any],
    description: str = "training",
    show_progress: bool = True,
    on_step: Callable[[int], None] | None = None,
    parallel: DataParallel | None = None,
) -> TrainingResult:
    """Trains `parameters` to minimise `loss_at`, resuming from `checkpoint_dir` if it holds
    a checkpoint of the same run (`identity`: the run's settings, compared on resume)."""
    named = dict(parameters)
    trainable = list(named.values())
    optimizer = torch.optim.AdamW(
        trainable,
        lr=config.learning_rate,
        betas=config.betas,
        weight_decay=config.weight_decay,
    )
    precision = MixedPrecision(config.autocast, _compute_device_type(trainable[0]))
    run_identity = {"training": _config_json(config), **identity}
    state = load_checkpoint(
        checkpoint_dir, parameters=named, optimizer=optimizer, identity=run_identity
    )
    if state.grad_scaler:
        precision.scaler.load_state_dict(state.grad_scaler)
    started = time.perf_counter()
    steps = range(state.step, config.steps)
    parallel = parallel or DataParallel()
    if state.step > 0 and parallel.is_main:
        tqdm.write(
            f"{description}: resuming from the checkpoint in {checkpoint_dir} at step "
            f"{state.step} of {config.steps} (steps 1-{state.step} are not run again)"
        )
    progress = tqdm(steps, desc=description, disable=not show_progress or not parallel.is_main)
    for step in progress:
        step_started = time.perf_counter()
        learning_rate = learning_rate_at(config, step)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
        optimizer.zero_grad(set_to_none=True)
        totals: dict[str, float] = {}
        n_samples = 0
        try:
            for micro in range(config.accumulation):
                with precision.forward_context():
                    output = loss_at(step, micro)
                precision.check_loss(output.loss)
                precision.backward(output.loss / config.accumulation)
                n_samples += output.n_samples
                for key, value in output.metrics.items():
                    totals[key] = totals.get(key, 0.0) + value / config.accumulation
            scale = {} if precision.loss_scale is None else {"loss_scale": precision.loss_scale}
            precision.step(optimizer, trainable, config.max_grad_norm)
        except NonFiniteError as error:
            raise NonFiniteError(
                f"Training stopped at step {step + 1} of {config.steps}: {error} (learning rate "
                f"{learning_rate:.3g}); no trained tensor took it and no output was written. "
                "Fix: lower --lr (or use --autocast fp16, which skips such steps); a later run "
                f"resumes from the last checkpoint in {checkpoint_dir} only with the same "
                "settings."
            ) from None
        samples_per_second = n_samples / max(time.perf_counter() - step_started, 1e-9)
        state.history.append({"step": step, "learning_rate": learning_rate, **totals, **scale})
        progress.set_postfix(
            {**{key: f"{value:.4g}" for key, value in totals.items()},
             "samples/s": f"{samples_per_second:.1f}"}
        )  # fmt: skip
        state.step = step + 1
        if state.step % config.checkpoint_every == 0 and state.step < config.steps:
            state.seconds += time.perf_counter() - started
            started = time.perf_counter()
            state.grad_scaler = precision.scaler.state_dict()
            try:
                save_checkpoint(
                    checkpoint_dir,
                    parameters=named,
                    optimizer=optimizer,
                    state=state,
                    identity=run_identity,
                    parallel=parallel,
                )
            finally:
                parallel.barrier()  # reached even if the save fails, so no process hangs
        if on_step is not None:
            on_step(step)
    state.seconds += time.perf_counter() - started
    optimizer.zero_grad(set_to_none=True)  # the last gradients: as large as what trained
    return TrainingResult(steps=config.steps, seconds=state.seconds, history=tuple(state.history))


def _compute_device_type(tensor: Tensor) -> str:
    """Returns where the forward computes: a sharded tensor's mesh device (a GPU even when the
    shards are offloaded to host memory), else the tensor's own device."""
    if isinstance(tensor, DTensor):
        return tensor.device_mesh.device_type
    return tensor.device.type


def _config_json(config: TrainingConfig) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in vars(config).items()}  # fmt: skip
