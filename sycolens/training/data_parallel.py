"""Data-parallel training across processes through accelerate (DDP): one shard of each batch.

Launched as `accelerate launch -m sycolens.tune ...` (or `torchrun`), every process loads the
model, builds the same micro-batch, and runs its own rows of it (`rows[rank::world_size]`).
The module that holds the trainable tensors is wrapped by accelerate (DistributedDataParallel:
NCCL on GPUs, gloo on CPUs), so the backward averages the gradients across processes. The
caller scales each process's loss so that the average is the gradient of the whole
micro-batch (`reply_loss` with the whole batch's token count, times `world_size`), which makes
N processes take the same steps as one process with the same global batch. Only the main
process writes checkpoints and outputs; the others wait at `barrier`. Sharding the model itself
over the processes (`--fsdp`) is `sycolens.training.fsdp`'s; under it SPT's deltas still go
through `wrap`, their base sharded.

Diagnosis and evaluation split their pairs and questions across the processes of a launch too
(`accelerate launch -m sycolens.patch ...`), in contiguous blocks rather than every n-th row:
each process takes its `block`, and `gather_blocks` / `gather_objects` put every process's
results back together in order, so every process ends with what one process computes.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from sycolens.training.launch import launched_processes

_Row = TypeVar("_Row")


@dataclass(frozen=True)
class DataParallel:
    """This process's place in the run: its rank, the number of processes, accelerate's state."""

    rank: int = 0
    world_size: int = 1
    accelerator: Any = None

    @classmethod
    def from_environment(cls) -> "DataParallel":
        """One process unless a launcher (accelerate, torchrun) set WORLD_SIZE above 1.

        Refuses a launch that asks accelerate to shard the model (FSDP, DeepSpeed,
        Megatron-LM): accelerate would shard a model whose hooks, deltas and checkpoints
        assume whole tensors (and its FSDP, without GPUs, silently runs whole copies).
        `sycolens tune --fsdp` shards the model itself (`sycolens.training.fsdp`)."""
        _refuse_sharding()
        if launched_processes() <= 1:
            return cls()
        from accelerate import Accelerator

        # Without GPUs accelerate only sees the other processes when told to use the CPU. Its
        # own mixed precision and compilation stay off: `--autocast` is the loop's.
        accelerator = Accelerator(
            cpu=not torch.cuda.is_available(), mixed_precision="no", dynamo_backend="no"
        )
        return cls(accelerator.process_index, accelerator.num_processes, accelerator)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def device(self) -> torch.device | None:
        """The device accelerate gives this process (None with one process: the caller's)."""
        if self.accelerator is None:
            return None
        device: torch.device = self.accelerator.device
        return torch.device("cpu") if device.type == "cpu" else device

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.world_size:
            raise ValueError(
                f"--batch-size {batch_size} does not split over {self.world_size} processes. "
                f"Fix: a multiple of {self.world_size}."
            )

    def shard(self, rows: Sequence[_Row]) -> list[_Row]:
        """This process's rows of a micro-batch."""
        return list(rows[self.rank :: self.world_size])

    def wrap(self, module: torch.nn.Module, frozen_prefix: str | None = None) -> torch.nn.Module:
        """The module to run forwards through: DDP-wrapped across processes, else itself.

        Parameters and buffers under `frozen_prefix` (the base model under SPT: every process
        loaded the same weights, or FSDP sharded them) are left out of DDP's start-up broadcast
        and gradient sync.
        """
        if self.accelerator is None:
            return module
        if frozen_prefix is not None:
            names = [
                name for name, _ in module.named_parameters() if name.startswith(frozen_prefix)
            ]
            names += [name for name, _ in module.named_buffers() if name.startswith(frozen_prefix)]
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(module, names)  # pyright: ignore[reportPrivateUsage]
        return self.accelerator.prepare_model(module, device_placement=False)

    def mean(self, value: float) -> float:
        """The mean of `value` over the processes (for logging a whole-batch loss)."""
        if self.accelerator is None:
            return value
        tensor = torch.tensor([value], device=self.accelerator.device)
        return float(self.accelerator.reduce(tensor, reduction="mean"))

    def barrier(self) -> None:
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()

    def block(self, n_rows: int, what: str) -> slice:
        """This process's contiguous block of `n_rows` rows (pairs, questions), in rank order;
        refuses fewer rows than processes."""
        if n_rows < self.world_size:
            raise ValueError(
                f"{n_rows} {what} cannot split over {self.world_size} processes: each needs at "
                f"least one. Fix: ask for >= {self.world_size} {what}, or launch fewer processes."
            )
        return self.share(n_rows)

    def share(self, n_rows: int) -> slice:
        """This process's contiguous block of `n_rows` rows, empty for some processes when
        there are fewer rows than processes."""
        return slice(
            self.rank * n_rows // self.world_size, (self.rank + 1) * n_rows // self.world_size
        )

    def gather_objects(self, local: _Row) -> list[_Row]:
        """Returns every process's `local` object, in rank order (one process: [local])."""
        if self.accelerator is None:
            return [local]
        gathered: list[_Row | None] = [None] * self.world_size
        torch.distributed.all_gather_object(gathered, local)
        return [item for item in gathered if item is not None]

    def gather_blocks(self, local: Tensor) -> Tensor:
        """Returns every process's `local` rows concatenated in rank order, on `local`'s device
        (one process: `local` itself)."""
        if self.accelerator is None:
            return local
        blocks: list[Tensor | None] = [None] * self.world_size
        torch.distributed.all_gather_object(blocks, local.cpu())
        return torch.cat([block for block in blocks if block is not None]).to(local.device)


# What `accelerate launch` sets when its config shards the model.
_SHARDING_SWITCHES = {
    "ACCELERATE_USE_FSDP": "FSDP",
    "ACCELERATE_USE_DEEPSPEED": "DeepSpeed",
    "ACCELERATE_USE_MEGATRON_LM": "Megatron-LM",
}


def _refuse_sharding() -> None:
    for variable, name in _SHARDING_SWITCHES.items():
        if os.environ.get(variable, "").lower() not in ("1", "true"):
            continue
        lacks = "" if torch.cuda.is_available() else f" (and {name} needs GPUs: there are none)"
        raise ValueError(
            f"This launch asks accelerate for {name} ({variable}), which sycolens does not use"
            f"{lacks}: accelerate would shard tensors that sycolens's hooks, deltas and "
            "checkpoints read whole. Fix: launch without accelerate's sharding (accelerate "
            "launch --multi_gpu, or a config whose distributed_type is MULTI_GPU or MULTI_CPU); "
            "to shard the model, pass --fsdp to `sycolens tune`, which shards it itself (FSDP2)."
        )
