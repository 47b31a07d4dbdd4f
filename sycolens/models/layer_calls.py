"""Each decoder layer's call as its model makes it, to re-run the layers one at a time.

A Hugging Face model prepares what its layers need (the attention mask in the form its kernel
takes, rotary embeddings, position ids, the cache) inside its forward and hands it to each layer
in a family-specific call. `record_layer_calls` runs that forward once with every layer
replaced by a pass-through that keeps its arguments, bound by parameter name, so a caller can
drive the layers itself with the family's own preparation, on fewer rows than it recorded and
every argument cut to match: the first of the query positions (`run_on_first_positions`), or
the first sequences of the batch (`run_on_first_sequences`), for stacks whose later layers
carry more rows than their earlier ones (`sycolens.patching.answer_cache`,
`sycolens.patching.total`).
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor


@dataclass(frozen=True)
class LayerCall:
    """One layer's call as its model made it: the arguments bound to the parameter names."""

    signature: inspect.Signature
    arguments: dict[str, Any]

    @property
    def hidden_states(self) -> Float[Tensor, "batch pos d_model"]:
        return self.arguments["hidden_states"]

    def run_on_first_positions(
        self,
        layer: torch.nn.Module,
        hidden_states: Float[Tensor, "batch n_positions d_model"],
        n_keys: int,
    ) -> Float[Tensor, "batch n_positions d_model"]:
        """Returns `layer` run on `hidden_states`, the first of the recorded query positions,
        with every other argument cut to them and to the first `n_keys` key positions."""
        n_positions = hidden_states.shape[1]
        return self._run(layer, hidden_states, partial(_cut_positions, n_positions, n_keys))

    def run_on_first_sequences(
        self,
        layer: torch.nn.Module,
        hidden_states: Float[Tensor, "n_sequences pos d_model"],
    ) -> Float[Tensor, "n_sequences pos d_model"]:
        """Returns `layer` run on `hidden_states`, the first of the recorded batch's sequences,
        with every other argument cut to them."""
        return self._run(layer, hidden_states, partial(_cut_sequences, hidden_states.shape[0]))

    def _run(
        self, layer: torch.nn.Module, hidden_states: Tensor, cut: Callable[[str, object], object]
    ) -> Tensor:
        bound = self.signature.bind_partial()
        for name, value in self.arguments.items():
            parameter = self.signature.parameters[name]
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                bound.arguments[name] = {key: cut(key, part) for key, part in value.items()}
            elif name != "hidden_states":
                bound.arguments[name] = cut(name, value)
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


def _cut_positions(n_positions: int, n_keys: int, name: str, value: object) -> object:
    """Returns argument `name` cut to the first `n_positions` query and `n_keys` key positions."""
    if not _holds_tensors(value):
        return value
    if name == "attention_mask":
        return _checked_mask(value)[:, :, :n_positions, :n_keys]
    if name == "position_embeddings" and isinstance(value, tuple):  # rotary (cos, sin)
        return tuple(part[:, :n_positions] for part in value)  # pyright: ignore[reportUnknownVariableType]
    if name in ("position_ids", "cache_position") and isinstance(value, Tensor):
        return value[..., :n_positions]
    raise _uncuttable(name)


def _cut_sequences(n_sequences: int, name: str, value: object) -> object:
    """Returns argument `name` cut to the first `n_sequences` of the batch (an argument of batch
    size 1 broadcasts over it and stays)."""
    if not _holds_tensors(value) or name == "cache_position":  # no batch dimension
        return value
    if name == "attention_mask":
        return _first_sequences(_checked_mask(value), n_sequences)
    if name == "position_embeddings" and isinstance(value, tuple):
        return tuple(_first_sequences(part, n_sequences) for part in value)  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    if name == "position_ids" and isinstance(value, Tensor):
        return _first_sequences(value, n_sequences)
    raise _uncuttable(name)


def _first_sequences(tensor: Tensor, n_sequences: int) -> Tensor:
    return tensor if tensor.shape[0] == 1 else tensor[:n_sequences]


def _uncuttable(name: str) -> ValueError:
    return ValueError(
        f"The layer takes a tensor argument {name!r} that layer-by-layer re-runs do not know "
        "how to cut. Fix: add it to sycolens.models.layer_calls, or report this model family."
    )


def _holds_tensors(value: object) -> bool:
    if isinstance(value, tuple | list):
        return any(isinstance(part, Tensor) for part in value)  # pyright: ignore[reportUnknownVariableType]
    return isinstance(value, Tensor)


def _checked_mask(mask: object) -> Tensor:
    if not isinstance(mask, Tensor) or mask.ndim != 4:
        what = f"a {mask.ndim}-dimensional tensor" if isinstance(mask, Tensor) else repr(mask)
        raise ValueError(
            f"The layer's attention mask is {what}, not the 4D [batch, heads, query, key] "
            "tensor layer-by-layer re-runs cut. Fix: pass a 4D attention mask to the recorded "
            "forward."
        )
    return mask
