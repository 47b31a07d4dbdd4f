"""Per-head deltas: the selected heads' slices of W_Q/K/V/O as small trainable tensors.

A delta has the shape of one head's slice of a projection (`HeadLayout.slices`): d_head x
d_model rows of W_Q, W_K or W_V (and d_head of their bias), d_model x d_head columns of W_O
(transposed for GPT-2's Conv1D). It is applied where the model computes that head: a forward
hook on the projection adds the delta's contribution to the projection's output,

    out-side slice (Q/K/V rows, biases):  out[..., a:b] += x @ delta.T
    in-side slice (W_O columns):          out           += x[..., a:b] @ delta.T

(for Conv1D, `delta` instead of `delta.T`), which is exactly the base model with `delta` added
into that slice of its weight (tested against it). Where `TransformerBridge` has split a fused
QKV projection (GPT-2's `c_attn`) into q/k/v modules, which compute instead of `c_attn`, the
hook sits on the split module; exported and merged deltas still address `c_attn`. So trainable
parameters, their gradients and the optimiser's moments are O(K * d_model * d_head), never
O(model), and every frozen weight stays bitwise unchanged: nothing is masked, so weight decay
cannot reach a frozen row.

Under grouped-query attention one key/value head serves `group_size` query heads, so a key or
value delta changes all of them; those are trained only when asked (`TuningTargets`), and a
slice shared by several selected heads gets one delta.
"""

from collections.abc import Generator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from sycolens.heads import Head
from sycolens.models.head_access import HeadLayout, HeadRole, ParameterSlice, split_qkv_module
from sycolens.tuning.config import LowRank


@dataclass(frozen=True)
class DeltaTarget:
    """One trainable slice: where it is, which role it plays, and the heads it belongs to."""

    slice: ParameterSlice
    role: HeadRole
    heads: tuple[Head, ...]

    @property
    def key(self) -> str:
        """A unique name for the delta tensor: `{parameter}[{dim}:{start}:{stop}]`."""
        return f"{self.slice.name}[{self.slice.dim}:{self.slice.start}:{self.slice.stop}]"


def delta_targets(
    layout: HeadLayout, heads: Sequence[Head], roles: Sequence[HeadRole]
) -> tuple[DeltaTarget, ...]:
    """Returns the slices to train for `heads` in `roles`, one per distinct slice, in order."""
    found: dict[ParameterSlice, tuple[HeadRole, list[Head]]] = {}
    for head in heads:
        for role in roles:
            for parameter_slice in layout.slices(head, role):
                found.setdefault(parameter_slice, (role, []))[1].append(head)
    return tuple(
        DeltaTarget(parameter_slice, role, tuple(owners))
        for parameter_slice, (role, owners) in found.items()
    )


class HeadDeltas(torch.nn.Module):
    """Zero-initialised fp32 deltas for a set of slices, applied to a model inside `applied`
    (cast to the activations' dtype there), so they train in fp32 whatever the weights' dtype.

    With `lora`, each weight slice's delta is low-rank, (alpha / rank) * B @ A, with B zero and
    A drawn from `lora.seed` (the paper's C.4: SPT + LoRA): only A and B train, and
    `named_deltas` gives the product, so exports and merges see plain deltas. Bias deltas are
    vectors and stay full.
    """

    def __init__(
        self,
        layout: HeadLayout,
        targets: Sequence[DeltaTarget],
        like: Any,
        *,
        lora: LowRank | None = None,
    ) -> None:
        super().__init__()
        if not targets:
            raise ValueError("No slices to tune. Fix: select at least one head and one role.")
        self.layout = layout
        self.targets = tuple(targets)
        generator = torch.Generator().manual_seed(lora.seed) if lora else None
        parts: list[torch.nn.Module] = []
        for target in self.targets:
            weight = like.get_parameter(target.slice.name)
            shape = target.slice.of(weight).shape
            if lora is None or len(shape) == 1:
                zeros = torch.zeros(shape, dtype=torch.float32, device=weight.device)
                parts.append(_FullDelta(zeros))
            else:
                parts.append(_LowRankDelta(shape, lora, generator, weight.device))
        self.parts = torch.nn.ModuleList(parts)

    @property
    def deltas(self) -> list[Tensor]:
        """Each target's delta as the forward uses it (a full delta is its own parameter)."""
        return [part() for part in self.parts]

    def named_deltas(self) -> dict[str, Tensor]:
        """Returns each delta under its target's key (low-rank ones multiplied out)."""
        return {target.key: delta for target, delta in zip(self.targets, self.deltas, strict=True)}

    def trainable(self) -> dict[str, torch.nn.Parameter]:
        """Returns what trains: each full delta under its key, each low-rank delta's factors
        as `{key}.lora_a` and `{key}.lora_b`."""
        named: dict[str, torch.nn.Parameter] = {}
        for target, part in zip(self.targets, self.parts, strict=True):
            for name, parameter in part.named_parameters():
                named[target.key if name == "delta" else f"{target.key}.{name}"] = parameter
        return named

    def n_parameters(self) -> int:
        """Returns how many numbers are trained."""
        return sum(parameter.numel() for parameter in self.trainable().values())

    @contextmanager
    def applied(self, hf_model: Any) -> Generator[dict[str, int]]:
        """Within the block, `hf_model` computes as if each delta were added to its slice.

        Yields a count of forward calls per hooked module, so a caller can check that every
        delta took part (a hook on a module the forward never calls would be a silent no-op).
        """
        sites = [_site(hf_model, self.layout, target) for target in self.targets]
        by_module: dict[str, list[tuple[_Site, torch.nn.Module]]] = {}
        for site, part in zip(sites, self.parts, strict=True):
            by_module.setdefault(site.module, []).append((site, part))
        calls = dict.fromkeys(by_module, 0)
        handles: list[Any] = []
        for module_name, pairs in by_module.items():

            def hook(
                _module: Any,
                args: tuple[Tensor, ...],
                output: Tensor,
                pairs: list[tuple[_Site, torch.nn.Module]] = pairs,
                module_name: str = module_name,
            ) -> Tensor:
                calls[module_name] += 1
                for site, part in pairs:
                    output = output + site.contribution(args[0], part(), output)
                return output

            handles.append(hf_model.get_submodule(module_name).register_forward_hook(hook))
        try:
            yield calls
        finally:
            for handle in handles:
                handle.remove()

    @torch.no_grad()
    def merge_into(self, hf_model: Any) -> None:
        """Adds every delta into its slice of `hf_model`'s weights, in place (for export)."""
        for target, delta in zip(self.targets, self.deltas, strict=True):
            weight = hf_model.get_parameter(target.slice.name)
            target.slice.of(weight).add_(delta.to(weight))


class _FullDelta(torch.nn.Module):
    """A delta that is its own parameter."""

    def __init__(self, initial: Tensor) -> None:
        super().__init__()
        self.delta = torch.nn.Parameter(initial)

    def forward(self) -> Tensor:
        return self.delta


class _LowRankDelta(torch.nn.Module):
    """A rank-r delta (alpha / r) * B @ A of an m x n slice (fp32): A (r x n) drawn uniform in
    +-1/sqrt(n), B (m x r) zero, so training starts from the base model."""

    def __init__(
        self,
        shape: torch.Size,
        lora: LowRank,
        generator: torch.Generator | None,
        device: torch.device,
    ) -> None:
        super().__init__()
        rows, columns = shape
        if lora.rank > min(rows, columns):
            raise ValueError(
                f"LoRA rank {lora.rank} is larger than a head slice's {rows} x {columns} allows "
                f"(at most d_head = {min(rows, columns)}): the update would not be low-rank. "
                "Fix --lora-rank."
            )
        bound = 1 / columns**0.5
        a = (torch.rand(lora.rank, columns, generator=generator) * 2 - 1) * bound
        self.lora_a = torch.nn.Parameter(a.to(device))
        self.lora_b = torch.nn.Parameter(torch.zeros(rows, lora.rank, device=device))
        self.scale = lora.scale

    def forward(self) -> Float[Tensor, "rows columns"]:
        return self.scale * (self.lora_b @ self.lora_a)


@dataclass(frozen=True)
class _Site:
    """Where a delta acts: the module computing its slice, the slice's place in that module's
    input or output, and the delta's orientation ([in, out] for Conv1D weights)."""

    module: str
    start: int
    stop: int
    is_out_side: bool
    is_bias: bool
    is_in_by_out: bool

    def contribution(
        self, x: Float[Tensor, "*batch d_in"], delta: Tensor, output: Float[Tensor, "*batch d_out"]
    ) -> Float[Tensor, "*batch d_out"]:
        """Returns what the delta adds to the module's output (formulas in the module doc)."""
        if self.is_bias:
            part = delta.to(output.dtype).expand(*output.shape[:-1], -1)
        else:
            weight = (delta if self.is_in_by_out else delta.T).to(x.dtype)
            if not self.is_out_side:
                return (x[..., self.start : self.stop] @ weight).to(output.dtype)
            part = x @ weight
        padding = (self.start, output.shape[-1] - self.stop)
        return torch.nn.functional.pad(part, padding).to(output.dtype)


def _site(hf_model: Any, layout: HeadLayout, target: DeltaTarget) -> _Site:
    """Returns where `target`'s delta acts in `hf_model`.

    A fused QKV projection (GPT-2's `c_attn`) that `TransformerBridge` has split into separate
    q/k/v modules is computed by those modules, which never call `c_attn`: the delta then acts
    on the split module, at the head's rows within its own role.
    """
    piece = target.slice
    is_bias = piece.name.endswith(".bias")
    is_conv1d = layout.architecture.is_conv1d
    split = split_qkv_module(hf_model, layout, target.heads[0].layer, target.role)
    if split is not None:
        start = layout.role_index(target.heads[0], target.role) * layout.d_head
        return _Site(split, start, start + layout.d_head,
                     is_out_side=True, is_bias=is_bias, is_in_by_out=is_conv1d)  # fmt: skip
    is_out_side = is_bias or piece.dim == (1 if is_conv1d else 0)
    return _Site(piece.name.rsplit(".", 1)[0], piece.start, piece.stop, is_out_side=is_out_side,
                 is_bias=is_bias, is_in_by_out=is_conv1d)  # fmt: skip
