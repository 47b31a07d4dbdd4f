"""Fully sharded data parallel training (FSDP2): each of N processes holds 1/N of the model.

`sycolens tune --fsdp`, launched like data-parallel tuning (`accelerate launch --multi_gpu
--num_processes N -m sycolens.tune --fsdp ...`, or torchrun), shards the loaded model itself
with torch's `fully_shard` rather than through accelerate's FSDP plugin, which on a machine
without GPUs silently trains whole copies. Each decoder layer is one unit (TransformerBridge's
block, which holds the HF layer and the bridge's other names for its modules), then the root
takes the rest (embeddings, final norm, unembedding), over a one-dimensional device mesh of
every process. Each parameter becomes a DTensor holding 1/N of its rows: a unit's forward
all-gathers its parameters and frees them afterwards, its backward reduce-scatters (averages)
their gradients, so parameters, gradients and AdamW moments cost 1/N of the model per process.

The training forward is the one unsharded runs take: through the HF model's modules as the
bridge rewired them. FSDP swaps a unit's gathered parameters in for its forward and backward, so
the bridge's modules, hook points and the per-head deltas' hooks see plain tensors (tested
against one unsharded process on tiny Llamas and the organism).

- SFT: every parameter is sharded and trains as a DTensor; AdamW, clipping (the norm over every
  shard) and float16 loss scaling (an overflow in any shard skips the step everywhere) take
  DTensors as they are.
- SPT: the frozen base is sharded; the per-head deltas are small and stay whole in every
  process (replicated), where DDP averages their gradients (`DataParallel.wrap`, the base left
  out), so their checkpoints and outputs are those of an unsharded run.
- `--autocast`: gathered parameters are cast to its dtype (`MixedPrecisionPolicy`: half the
  all-gather traffic and memory; gradients reduced in float32) and the forward still runs under
  autocast, since the bridge computes its norms in float32.
- `--fsdp-offload`: the shards, their gradients and AdamW state stay in host memory
  (`CPUOffloadPolicy`); each unit is copied to the GPU for its forward and backward and AdamW
  steps on the CPU. One process may then run alone (one GPU), in a process group of its own.

`unsharded_copy` gathers every tensor whole into the main process, which writes the deltas and
the HF checkpoint exactly as an unsharded run does; checkpoints are sharded
(`sycolens.training.checkpoint`).
"""

import copy
import warnings
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, cast

import torch
from accelerate import init_empty_weights
from torch import Tensor
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.fsdp import (
    CPUOffloadPolicy,
    FSDPModule,
    MixedPrecisionPolicy,
    OffloadPolicy,
    fully_shard,
)
from torch.distributed.tensor import DTensor

from sycolens.models.load import LoadedModel
from sycolens.training.config import AutocastDtype
from sycolens.training.data_parallel import DataParallel
from sycolens.training.launch import check_fsdp_launch

# FSDP2 warns that the root returns a view (the logits): an in-place change of it would skip a
# gradient hook. Training never changes the logits in place.
_VIEW_WARNING = r"FSDP2-wrapped module \(.*\) returned a view tensor"


@dataclass(frozen=True)
class FullySharded:
    """How the model is sharded: over which processes (the mesh), the dtype its parameters are
    gathered in (`--autocast`'s), and whether the shards live in host memory."""

    mesh: DeviceMesh
    autocast: AutocastDtype | None = None
    offload: bool = False

    @classmethod
    @contextmanager
    def started(
        cls, parallel: DataParallel, *, autocast: AutocastDtype | None, offload: bool
    ) -> Generator["FullySharded"]:
        """Yields the sharding over every process of `parallel`. A process alone (allowed only
        with `offload`) gets a process group of its own for the block."""
        check_fsdp_launch(parallel.world_size, offload=offload)
        device_type = "cuda" if torch.cuda.is_available() else "cpu"
        owns_group = not torch.distributed.is_initialized()
        if owns_group:
            backend = "nccl" if device_type == "cuda" else "gloo"
            store = torch.distributed.HashStore()  # pyright: ignore[reportPrivateImportUsage]
            torch.distributed.init_process_group(backend, store=store, rank=0, world_size=1)
        try:
            yield cls(init_device_mesh(device_type, (parallel.world_size,)), autocast, offload)
        finally:
            if owns_group:
                torch.distributed.destroy_process_group()

    @property
    def device(self) -> torch.device:
        """Where the forward computes: this process's GPU, or the CPU."""
        if self.mesh.device_type == "cuda":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device(self.mesh.device_type)

    def shard(self, model: LoadedModel) -> None:
        """Shards `model`'s HF weights in place: each decoder layer, then the root."""
        dtype = None if self.autocast is None else getattr(torch, self.autocast)
        options: dict[str, Any] = {
            "mesh": self.mesh,
            "mp_policy": MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32),
            "offload_policy": CPUOffloadPolicy(pin_memory=torch.cuda.is_available())
            if self.offload
            else OffloadPolicy(),
        }
        _contiguous_parameters(model.hf_model)
        for block in model.bridge.blocks:
            fully_shard(block, **options)
        fully_shard(model.hf_model, **options)

    @contextmanager
    def quiet(self) -> Generator[None]:
        """Silences FSDP's warning that the root returns a view (see `_VIEW_WARNING`)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_VIEW_WARNING, category=UserWarning)
            yield


def _contiguous_parameters(hf_model: torch.nn.Module) -> None:
    """Gives each parameter that is a strided view its own contiguous copy, which FSDP needs:
    the bridge's q/k/v copies of a GPT-2 `c_attn` are transposed views of it. Only frozen
    weights are such views (SFT refuses models whose bridge splits a fused QKV), so the copies
    compute what the views did."""
    for module in hf_model.modules():
        for name, parameter in list(module.named_parameters(recurse=False)):
            if not parameter.is_contiguous():
                own = torch.nn.Parameter(parameter.detach().contiguous(), parameter.requires_grad)
                module.register_parameter(name, own)


def unsharded_copy(model: LoadedModel, parallel: DataParallel) -> LoadedModel | None:
    """Returns, in the main process, `model` with an unsharded HF model on the CPU that holds
    every tensor whole (its own class and config, so it saves as an unsharded run's does); None
    in the others. Every process calls it: each tensor is gathered from all of them."""
    state: dict[str, Tensor] = {}
    first_names: dict[int, str] = {}  # a tied weight is gathered once
    for name, tensor in model.hf_state_dict().items():
        first = first_names.setdefault(id(tensor), name)
        gathered = _gathered(tensor) if first == name else None  # every process takes part
        if parallel.is_main:
            state[name] = gathered.cpu() if gathered is not None else state[first]
    if not parallel.is_main:
        return None
    return replace(model, hf_model=_plain_model(model.hf_model, state))


def _gathered(tensor: Tensor) -> Tensor:
    """Returns the whole tensor, gathered from every process's shards if it is sharded."""
    if not isinstance(tensor, DTensor):
        return tensor.detach()
    if tensor.device.type != tensor.device_mesh.device_type:  # offloaded: gather on the GPU
        tensor = cast(DTensor, tensor.to(tensor.device_mesh.device_type))
    return tensor.full_tensor().detach()


def _plain_model(sharded: Any, state: dict[str, Tensor]) -> Any:
    """Returns a plain (unsharded, unwrapped) model of `sharded`'s class holding `state`."""
    model_class = next(c for c in type(sharded).__mro__ if not issubclass(c, FSDPModule))
    with init_empty_weights(include_buffers=False):  # parameters on meta, buffers computed
        plain: Any = model_class._from_config(copy.deepcopy(sharded.config))
    plain.load_state_dict(state, strict=False, assign=True)
    plain.tie_weights()
    left = [name for name, tensor in plain.named_parameters() if tensor.is_meta]
    assert not left, f"no gathered tensor for {left[:3]}"  # every state-dict key was gathered
    return plain.eval()
