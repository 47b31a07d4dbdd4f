"""Each decoder layer's call as its model makes it, to re-run the layers one at a time.

A Hugging Face model prepares what its layers need (the attention mask in the form its kernel
takes, rotary embeddings, position ids, the cache) inside its forward and hands it to each layer
in a family-specific call. `record_layer_calls` runs that forward once with every layer
replaced by a pass-through that keeps its arguments, bound by parameter name, so a caller can
drive the layers itself with the family's own preparation: `LayerCall.run` re-runs a layer on
the first rows of the recorded query positions, every argument cut to match, for a stack whose
later layers carry more rows than its earlier ones (`sycolens.patching.answer_cache`).
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

# Arguments that carry one entry per query position, and the dimension that indexes it.
_QUERY_DIMENSION = {"position_ids": -1, "cache_position": -1}


@dataclass(frozen=True)
class LayerCall:
    """One layer's call as its model made it: the arguments bound to the parameter names."""

    signature: inspect.Signature
    arguments: dict[str, Any]

    @property
    def hidden_states(self) -> Float[Tensor, "batch pos d_model"]:
        return self.arguments["hidden_states"]

    def run(
        self,
        layer: torch.nn.Module,
        hidden_states: Float[Tensor, "batch n_rows d_model"],
        n_keys: int,
    ) -> Float[Tensor, "batch n_rows d_model"]:
        """Returns `layer` run on `hidden_states` (the first rows of the recorded query
        positions) with every other argument cut to those rows and to `n_keys` key positions."""
        n_rows = hidden_states.shape[1]
        bound = self.signature.bind_partial()
        for name, value in self.arguments.items():
            parameter = self.signature.parameters[name]
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                bound.arguments[name] = {
                    key: _cut(key, part, n_rows, n_keys) for key, part in value.items()
                }
            else:
                bound.arguments[name] = _cut(name, value, n_rows, n_keys)
        bound.arguments["hidden_states"] = hidden_states
        output = layer(*bound.args, **bound.kwargs)
        return output[0] if isinstance(output, tuple) else output


def record_layer_calls(
    layers: torch.nn.ModuleList, run_forward: Callable[[], object]
) -> list[LayerCall]:
    """Returns each call `run_forward` makes to a layer of `layers`, in order; each layer
    returns its hidden states unchanged meanwhile, so the forward costs its embedding and
    preparation only."""
    calls: list[LayerCall] = []

    def recorder(layer: torch.nn.Module) -> Callable[..., Tensor]:
        signature = inspect.signature(layer.forward)

        def record(*args: Any, **kwargs: Any) -> Tensor:
            bound = signature.bind(*args, **kwargs)
            calls.append(LayerCall(signature, dict(bound.arguments)))
            return bound.arguments["hidden_states"]

        return record

    for layer in layers:
        layer.forward = recorder(layer)  # an instance attribute: nn.Module calls it
    try:
        run_forward()
    finally:
        for layer in layers:
            del layer.forward
    if len(calls) != len(layers):
        raise RuntimeError(
            f"The forward called {len(calls)} of {len(layers)} layers once each; layer-by-layer "
            "re-runs need every layer called exactly once. Fix: report this model family."
        )
    return calls


def _cut(name: str, value: object, n_rows: int, n_keys: int) -> object:
    """Returns argument `name` cut to the first `n_rows` query and `n_keys` key positions."""
    if name == "hidden_states" or not _holds_tensors(value):
        return value
    if name == "attention_mask":
        return _cut_mask(value, n_rows, n_keys)
    if name == "position_embeddings" and isinstance(value, tuple):  # rotary (cos, sin)
        return tuple(part[:, :n_rows] for part in value)  # pyright: ignore[reportUnknownVariableType]
    if name in _QUERY_DIMENSION and isinstance(value, Tensor):
        return value.narrow(_QUERY_DIMENSION[name], 0, n_rows)
    raise ValueError(
        f"The layer takes a tensor argument {name!r} that layer-by-layer re-runs do not know "
        "how to cut to fewer rows. Fix: add it to sycolens.models.layer_calls, or report this "
        "model family."
    )


def _holds_tensors(value: object) -> bool:
    if isinstance(value, tuple | list):
        return any(isinstance(part, Tensor) for part in value)  # pyright: ignore[reportUnknownVariableType]
    return isinstance(value, Tensor)


def _cut_mask(mask: object, n_rows: int, n_keys: int) -> Tensor:
    if not isinstance(mask, Tensor) or mask.ndim != 4:
        what = f"a {mask.ndim}-dimensional tensor" if isinstance(mask, Tensor) else repr(mask)
        raise ValueError(
            f"The layer's attention mask is {what}, not the 4D [batch, heads, query, key] "
            "tensor layer-by-layer re-runs cut. Fix: pass a 4D attention mask to the recorded "
            "forward."
        )
    return mask[:, :, :n_rows, :n_keys]
