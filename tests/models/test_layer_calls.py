"""Recording each decoder layer's call and re-running the layers on fewer rows."""

import inspect
from typing import Any

import pytest
import torch

from sycolens.models import LoadedModel
from sycolens.models.layer_calls import LayerCall, record_layer_calls
from sycolens.models.plain import plain_network
from sycolens.models.tiny import TINY_FAMILIES, TinyFamily


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_re_running_the_recorded_calls_gives_the_forward_and_its_first_rows(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily
):
    model = tiny_models[family]
    network = plain_network(model)
    layers: Any = network.get_submodule(model.architecture.layers_path)
    tokens = torch.randint(10, 100, (2, 7), generator=torch.Generator().manual_seed(0))
    causal = torch.full((7, 7), torch.finfo(torch.float32).min).triu(1)[None, None]
    mask = causal.expand(2, 1, 7, 7)

    def forward() -> torch.Tensor:
        return network.base_model(
            input_ids=tokens, attention_mask=mask, use_cache=False
        ).last_hidden_state

    with torch.no_grad():
        whole = forward()
        calls = record_layer_calls(layers, forward)
        final_norm = network.get_submodule(model.architecture.final_norm)
        for rows in (7, 4):  # causal: the first rows see only themselves and earlier rows
            hidden = calls[0].hidden_states[:, :rows]
            for layer, call in zip(layers, calls, strict=True):
                hidden = call.run_on_first_positions(layer, hidden, n_keys=rows)
            torch.testing.assert_close(final_norm(hidden), whole[:, :rows])
    assert len(calls) == model.n_layers


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_re_running_on_the_first_sequences_gives_their_forward(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily
):
    model = tiny_models[family]
    network = plain_network(model)
    layers: Any = network.get_submodule(model.architecture.layers_path)
    tokens = torch.randint(10, 100, (4, 6), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(tokens)
    mask[1, :2] = 0  # left padding: a 4D mask with one slice per sequence

    def forward() -> torch.Tensor:
        return network.base_model(
            input_ids=tokens, attention_mask=mask, use_cache=False
        ).last_hidden_state

    with torch.no_grad():
        whole = forward()
        calls = record_layer_calls(layers, forward)
        hidden = calls[0].hidden_states[:2]
        for layer, call in zip(layers, calls, strict=True):
            hidden = call.run_on_first_sequences(layer, hidden)
        final_norm = network.get_submodule(model.architecture.final_norm)
        torch.testing.assert_close(final_norm(hidden)[:, 2:], whole[:2, 2:])


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
