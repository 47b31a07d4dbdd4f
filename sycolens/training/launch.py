"""How many processes the launcher started, and whether `--fsdp` can shard over them.

Read from the environment a launcher sets (`accelerate launch` and `torchrun` set WORLD_SIZE)
without importing torch, so `sycolens tune` checks its sharding flags against the launch as a
usage error, before anything heavy loads; the library checks again before it loads a model.
"""

import os


def launched_processes() -> int:
    """Returns the number of processes of this launch (1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def check_fsdp_launch(world_size: int, *, offload: bool) -> None:
    """Refuses `--fsdp` in a process that is alone, unless it offloads to host memory.

    FSDP divides the parameters, gradients and optimizer state among the processes of a launch,
    so a single process saves nothing, except with `--fsdp-offload`, which keeps them in host
    memory (the one-GPU case): that process then runs in a process group of its own.
    """
    if world_size > 1 or offload:
        return
    raise ValueError(
        "--fsdp shards the model over the processes of a launch, but this process runs alone "
        "(WORLD_SIZE is unset or 1). Fix: launch N >= 2 processes, e.g. `accelerate launch "
        "--multi_gpu --num_processes N --num_machines 1 -m sycolens.tune --fsdp ...` (or "
        "`torchrun --nproc_per_node N -m sycolens.tune --fsdp ...`); on one GPU, add "
        "--fsdp-offload to keep parameters, gradients and optimizer state in host memory."
    )
