"""Read or rewrite per-head attention outputs of the organism with plain PyTorch hooks.

Each layer's `o_proj` input is the concatenation of its heads' outputs; a forward pre-hook
sees it as z [batch, pos, n_heads, d_head]. Training (planted-head dropout) and the behaviour
checks (mean-ablation knockouts) both act there, independently of `sycolens.patching`.
"""

from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from typing import Any

from jaxtyping import Float
from torch import Tensor

HeadOutputs = Float[Tensor, "batch pos n_heads d_head"]
# Called with a clone of z; returns z to pass on (edited in place or new), or None to leave it.
HeadOutputHook = Callable[[HeadOutputs], HeadOutputs | None]


@contextmanager
def hooked_head_outputs(
    hf_model: Any, hooks: Sequence[tuple[int, HeadOutputHook]]
) -> Generator[None]:
    """Within the block, each (layer, hook) sees that layer's head outputs before `o_proj`;
    several hooks on one layer run in order."""
    n_heads = hf_model.config.num_attention_heads
    handles = []
    for layer, hook in hooks:

        def pre_hook(
            _module: Any, args: tuple[Tensor, ...], hook: HeadOutputHook = hook
        ) -> tuple[Tensor, ...] | None:
            edited = hook(args[0].unflatten(-1, (n_heads, -1)).clone())
            return None if edited is None else (edited.flatten(-2), *args[1:])

        o_proj = hf_model.get_submodule(f"model.layers.{layer}.self_attn.o_proj")
        handles.append(o_proj.register_forward_pre_hook(pre_hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
