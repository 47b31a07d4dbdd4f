"""Per-head addressing: where head (layer, h) lives in the weights and where its output flows.

One place answers, for every family TransformerLens bridges (`sycolens.models.architecture`):

- **weight slices**, for tuning: the head's query rows of W_Q (and of the query bias), the
  key/value rows of its key/value head h // group_size (under grouped-query attention
  group_size query heads share one key/value head), its columns of W_O (rows, for GPT-2's
  Conv1D, which stores weights [in, out]), and the offsets of Q, K and V inside a fused QKV
  projection (GPT-2's `c_attn` and Phi-3's `qkv_proj`, laid out [Q | K | V]);
- **its output**, for reading and ablating: the output projection's input is every head's
  output side by side, [batch, pos, n_heads * d_head]; `hooked_head_outputs` hands it to a hook
  as z [batch, pos, n_heads, d_head], and passes on what the hook returns.

Names are canonical HF names (`model.layers.0.self_attn.q_proj.weight`), valid on a plain HF
model and on one that `TransformerBridge` wraps alike.
"""

from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from jaxtyping import Float
from torch import Tensor

from sycolens.heads import HEAD_ROLES, Head, HeadRole
from sycolens.models.architecture import Architecture, architecture_of

HeadOutputs = Float[Tensor, "batch pos n_heads d_head"]
# Called with a clone of z; returns z to pass on (edited in place or new), or None to leave it.
HeadOutputHook = Callable[[HeadOutputs], HeadOutputs | None]


def projection_name(architecture: Architecture, layer: int, role: HeadRole) -> str:
    """Returns the canonical module name of the projection computing `role` in `layer`."""
    arch = architecture
    names = {"query": arch.query, "key": arch.key, "value": arch.value, "output": arch.output}
    module = arch.fused_qkv if arch.fused_qkv and role != "output" else names[role]
    return f"{arch.layers_path}.{layer}.{arch.attention_attr}.{module}"


@dataclass(frozen=True)
class ParameterSlice:
    """Indices [start, stop) along `dim` of the canonical HF parameter `name`."""

    name: str
    dim: int
    start: int
    stop: int

    def of(self, tensor: Tensor) -> Tensor:
        """Returns this slice of `tensor` (a view: writing to it writes the parameter)."""
        return tensor.narrow(self.dim, self.start, self.stop - self.start)


@dataclass(frozen=True, kw_only=True)
class HeadLayout:
    """A model's attention geometry and the table row that says where its projections are."""

    architecture: Architecture
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_head: int
    biased_roles: frozenset[HeadRole]

    @classmethod
    def of(cls, hf_model: Any) -> "HeadLayout":
        """Returns the layout of a Hugging Face causal LM (plain or wrapped by the bridge)."""
        config = hf_model.config
        architecture = architecture_of(hf_model)
        n_heads = int(config.num_attention_heads)
        head_dim = getattr(config, "head_dim", None)
        biased: frozenset[HeadRole] = frozenset(
            role
            for role in HEAD_ROLES
            if getattr(hf_model.get_submodule(projection_name(architecture, 0, role)), "bias", None)
            is not None
        )
        return cls(
            architecture=architecture,
            n_layers=int(config.num_hidden_layers),
            n_heads=n_heads,
            n_kv_heads=int(getattr(config, "num_key_value_heads", None) or n_heads),
            d_head=int(head_dim) if head_dim else int(config.hidden_size) // n_heads,
            biased_roles=biased,
        )

    @property
    def group_size(self) -> int:
        """How many query heads share one key/value head (1 without grouped-query attention)."""
        return self.n_heads // self.n_kv_heads

    def kv_head(self, head: int) -> int:
        """Returns the key/value head that query head `head` reads."""
        return head // self.group_size

    def module_name(self, layer: int, role: HeadRole) -> str:
        """Returns the canonical name of the projection module that computes `role`."""
        return projection_name(self.architecture, layer, role)

    def check_head(self, head: Head) -> None:
        """Raises naming the valid ranges when `head` is not a head of this model."""
        if not (0 <= head.layer < self.n_layers and 0 <= head.head < self.n_heads):
            raise ValueError(
                f"Head ({head.layer}, {head.head}) is out of range: the model has "
                f"{self.n_layers} layers (0..{self.n_layers - 1}) and {self.n_heads} heads per "
                f"layer (0..{self.n_heads - 1}). Fix: pick heads of this model."
            )

    def slices(self, head: Head, role: HeadRole) -> tuple[ParameterSlice, ...]:
        """Returns the weight (and bias) slices that compute `role` for `head`.

        For key and value these belong to the key/value head `kv_head(head.head)`, which under
        grouped-query attention also serves the other query heads of its group.
        """
        self.check_head(head)
        module = self.module_name(head.layer, role)
        start = self.fused_offset(role) + self.role_index(head, role) * self.d_head
        stop = start + self.d_head
        # nn.Linear weights are [out, in], Conv1D's [in, out]: the head's side is "out" for
        # Q/K/V and "in" for the output projection.
        is_input_side = role == "output"
        weight_dim = 0 if is_input_side == self.architecture.is_conv1d else 1
        found = [ParameterSlice(f"{module}.weight", weight_dim, start, stop)]
        if role in self.biased_roles and role != "output":
            found.append(ParameterSlice(f"{module}.bias", 0, start, stop))
        return tuple(found)

    def role_index(self, head: Head, role: HeadRole) -> int:
        """Returns the index of the head computing `role` for `head`: the query head itself,
        or for key and value its key/value head."""
        return self.kv_head(head.head) if role in ("key", "value") else head.head

    def fused_offset(self, role: HeadRole) -> int:
        """Returns where `role` starts inside a fused [Q | K | V] projection (0 if not fused)."""
        if not self.architecture.fused_qkv or role in ("query", "output"):
            return 0
        queries = self.n_heads * self.d_head
        return queries if role == "key" else queries + self.n_kv_heads * self.d_head


def split_qkv_module(hf_model: Any, layout: HeadLayout, layer: int, role: HeadRole) -> str | None:
    """Returns the q/k/v module that computes `role` where `TransformerBridge` has split a fused
    QKV projection (GPT-2's `c_attn`) into copies that run instead of it; else None."""
    split = {"query": "q", "key": "k", "value": "v"}.get(role)
    if not layout.architecture.fused_qkv or split is None:
        return None
    attention = layout.module_name(layer, "output").rsplit(".", 1)[0]
    try:
        hf_model.get_submodule(f"{attention}.{split}")
    except AttributeError:
        return None
    return f"{attention}.{split}"


@contextmanager
def hooked_head_outputs(
    hf_model: Any, hooks: Sequence[tuple[int, HeadOutputHook]]
) -> Generator[None]:
    """Within the block, each (layer, hook) sees that layer's head outputs as z, before the
    output projection; several hooks on one layer run in order."""
    layout = HeadLayout.of(hf_model)
    handles: list[Any] = []
    for layer, hook in hooks:

        def pre_hook(
            _module: Any, args: tuple[Tensor, ...], hook: HeadOutputHook = hook
        ) -> tuple[Tensor, ...] | None:
            edited = hook(args[0].unflatten(-1, (layout.n_heads, layout.d_head)).clone())
            return None if edited is None else (edited.flatten(-2), *args[1:])

        output = hf_model.get_submodule(layout.module_name(layer, "output"))
        handles.append(output.register_forward_pre_hook(pre_hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
