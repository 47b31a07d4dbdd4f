"""Recording each decoder layer's call and re-running the layers on fewer rows."""

import inspect
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from sycolens.models import LoadedModel
from sycolens.models.layer_calls import LayerCall, record_layer_calls
from sycolens.models.plain import plain_network
from sycolens.models.tiny import TINY_FAMILIES, TinyFamily


@dataclass(frozen=True)
class _Recorded:
    whole: torch.Tensor  # the forward's final-norm output
    calls: list[LayerCall]
    layers: Any
    final_norm: torch.nn.Module


def _recorded(model: LoadedModel, tokens: torch.Tensor, mask: torch.Tensor) -> _Recorded:
    """Runs the plain network's forward once whole and once recording each layer's call."""
    network = plain_network(model)
    layers: Any = network.get_submodule(model.architecture.layers_path)

    def forward() -> torch.Tensor:
        return network.base_model(
            input_ids=tokens, attention_mask=mask, use_cache=False
        ).last_hidden_state

    whole = forward()
    calls = record_layer_calls(layers, forward)
    assert len(calls) == model.n_layers
    return _Recorded(whole, calls, layers, network.get_submodule(model.architecture.final_norm))


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_re_running_the_recorded_calls_gives_the_forward_and_its_first_rows(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily
):
    tokens = torch.randint(10, 100, (2, 7), generator=torch.Generator().manual_seed(0))
    causal = torch.full((7, 7), torch.finfo(torch.float32).min).triu(1)[None, None]
    with torch.no_grad():
        run = _recorded(tiny_models[family], tokens, causal.expand(2, 1, 7, 7))
        for rows in (7, 4):  # causal: the first rows see only themselves and earlier rows
            hidden = run.calls[0].hidden_states[:, :rows]
            for layer, call in zip(run.layers, run.calls, strict=True):
                hidden = call.run_on_first_positions(layer, hidden, n_keys=rows)
            torch.testing.assert_close(run.final_norm(hidden), run.whole[:, :rows])


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_re_running_on_the_first_sequences_gives_their_forward(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily
):
    tokens = torch.randint(10, 100, (4, 6), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(tokens)
    mask[1, :2] = 0  # left padding: a 4D mask with one slice per sequence
    with torch.no_grad():
        run = _recorded(tiny_models[family], tokens, mask)
        hidden = run.calls[0].hidden_states[:2]
        for layer, call in zip(run.layers, run.calls, strict=True):
            hidden = call.run_on_first_sequences(layer, hidden)
        torch.testing.assert_close(run.final_norm(hidden)[:, 2:], run.whole[:2, 2:])


def test_layers_not_called_once_each_are_refused(tiny_models: dict[TinyFamily, LoadedModel]):
    layers: Any = plain_network(tiny_models["llama"]).get_submodule("model.layers")
    with pytest.raises(RuntimeError, match=r"called 0 of 2 layers once each"):
        record_layer_calls(layers, lambda: None)
    assert "forward" not in vars(layers[0])  # the recorders are gone


def _one_layer_call(**arguments: object) -> tuple[LayerCall, torch.nn.Module]:
    def forward(hidden_states: torch.Tensor, **kwargs: object) -> torch.Tensor:
        del kwargs
        return hidden_states

    layer = torch.nn.Module()
    layer.forward = forward
    arguments = {"hidden_states": torch.zeros(1, 3, 4), "kwargs": arguments}
    return LayerCall(inspect.signature(forward), arguments), layer


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"attention_mask": torch.zeros(1, 3)}, r"mask is a 2-dimensional tensor, not the 4D"),
        ({"attention_mask": None, "alibi": torch.zeros(1, 3)}, r"tensor argument 'alibi'"),
    ],
)
@pytest.mark.parametrize("cut", ["positions", "sequences"])
def test_arguments_it_cannot_cut_name_the_fix(arguments: dict[str, object], message: str, cut: str):
    call, layer = _one_layer_call(**arguments)
    with pytest.raises(ValueError, match=message):
        if cut == "positions":
            call.run_on_first_positions(layer, torch.zeros(1, 2, 4), n_keys=2)
        else:
            call.run_on_first_sequences(layer, torch.zeros(1, 3, 4))
