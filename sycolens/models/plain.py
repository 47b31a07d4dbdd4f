"""The checkpoint's own network beside the bridge, sharing its weights: forwards at plain speed.

TransformerBridge rewires the HF modules in place and runs attention through its own eager
implementation, so every forward through it pays for the wrappers and for eager attention
(SmolLM2 here: 0.26 s vs 0.19 s per decoding step; a 7B model on an H100: 47.8 vs 23.5 ms at
B=1). `plain_network(model)` builds, once per loaded model, an unwrapped copy of the same HF
class with SDPA attention (eager where the family has none) whose parameters and buffers ARE
the loaded model's tensors (no second copy in memory; a weight written in place, e.g. merged
deltas, is seen by both).
`runs_as_plain(model)` says whether a forward may take it: only while nothing is hooked into
the bridge or its modules (a knockout, SPT's delta hooks, a user's hook), which the copy would
not run, the model is in eval mode, its config is what it was at load time (the copy is
built from that config; one changed since, say a sliding window, would reach one network and
not the other), and the model is not dispatched across devices (`sycolens.models.dispatch`:
offloaded modules hold placeholders that only their own hooks fill).
"""

import json
import weakref
from collections.abc import Iterator
from typing import Any

import torch
from accelerate import init_empty_weights
from transformer_lens.hook_points import HookPoint
from transformers import PreTrainedModel

from sycolens.models.load import LoadedModel
from sycolens.models.placement import is_dispatched

_TRANSFORMERS_CAPTURE = "transformers.utils.output_capturing"

_NETWORKS: "weakref.WeakKeyDictionary[torch.nn.Module, PreTrainedModel]" = (
    weakref.WeakKeyDictionary()
)


def runs_as_plain(model: LoadedModel) -> bool:
    """Returns whether a forward of the plain copy equals one through the bridge: eval mode,
    not dispatched, no hook on any hook point, and no hook on any other module of the bridge
    or the HF model but the libraries' own wiring (`_is_wiring`), which changes no output."""
    changed = str(model.hf_model.config.to_json_string()) != model.config_json
    if model.hf_model.training or changed or is_dispatched(model.hf_model):
        return False
    for module in _every_module((model.bridge, model.hf_model)):
        hooks = [*module._forward_hooks.values(), *module._forward_pre_hooks.values()]  # pyright: ignore[reportPrivateUsage]
        if hooks and isinstance(module, HookPoint):
            return False
        if any(not _is_wiring(hook) for hook in hooks):
            return False
    return True


def _every_module(roots: tuple[torch.nn.Module, ...]) -> Iterator[torch.nn.Module]:
    """Yields each module under `roots` once. `Module.modules()` builds every dotted name on
    the way, which made this check 10 ms of a diagnosis's 2 captures on SmolLM2 (2,000
    modules); this walk takes a third of that."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        module = stack.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        yield module
        stack.extend(child for child in module._modules.values() if child is not None)  # pyright: ignore[reportPrivateUsage]


def _is_wiring(hook: Any) -> bool:
    """Returns whether a hook is one the libraries add by themselves: TransformerLens's wiring
    of its bridge, or the output-capturing hooks transformers installs on the first forward
    that asks for hidden states or attentions (TransformerLens's `run_with_cache` does), which
    record outputs only while such a forward runs and never change them."""
    function = getattr(hook, "func", hook)  # a functools.partial's function
    module = str(getattr(function, "__module__", ""))
    return module.startswith("transformer_lens.") or module == _TRANSFORMERS_CAPTURE


def plain_network(model: LoadedModel) -> PreTrainedModel:
    """Returns the unwrapped SDPA copy of `model`'s HF network that shares its tensors (built
    on first use, from the config as loaded)."""
    network = _NETWORKS.get(model.hf_model)
    if network is None:
        network = _build(model)
        _NETWORKS[model.hf_model] = network
    return network


def fastest_attention(model_class: type[PreTrainedModel]) -> str:
    """Returns SDPA where the family's attention supports it, else eager (Gemma-2 soft-caps
    its attention scores, which SDPA cannot)."""
    return "sdpa" if model_class._supports_sdpa else "eager"  # pyright: ignore[reportPrivateUsage]


def _build(model: LoadedModel) -> PreTrainedModel:
    hf_model: Any = model.hf_model
    config = type(hf_model.config).from_dict(json.loads(model.config_json))  # as loaded
    with init_empty_weights(include_buffers=False):  # parameters on meta, buffers computed
        network: Any = type(hf_model)._from_config(
            config, attn_implementation=fastest_attention(type(hf_model))
        )
    tensors = model.hf_state_dict()
    network.load_state_dict(tensors, strict=False, assign=True)
    network.tie_weights()
    left = [name for name, tensor in network.named_parameters() if tensor.is_meta]
    if left:
        raise ValueError(
            f"The plain copy of {model.model_id!r} found no loaded tensor for {left[:3]}. Fix: "
            "report this model; its forwards can run through the bridge (sycolens falls back "
            "to it when `runs_as_plain` is False)."
        )
    network.to(model.device)  # the buffers it computed (rotary frequencies); weights are there
    return network.eval()
