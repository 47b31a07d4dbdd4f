"""A bridged (and tuned) model saves as a plain HF checkpoint under canonical names."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sycolens.models import load_model
from sycolens.models.save import save_model
from sycolens.models.tiny import TINY_FAMILIES, TinyFamily
from sycolens.prompts.chat import Message

CHAT = [Message(role="user", content="What is the capital of France?")]


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_saved_checkpoint_reloads_with_the_same_weights_and_logits(
    tiny_checkpoints: dict[TinyFamily, Path], family: TinyFamily, tmp_path: Path
):
    model = load_model(str(tiny_checkpoints[family]))
    name = next(iter(model.hf_parameters()))
    with torch.no_grad():
        model.hf_parameters()[name][0, 0] += 1.0  # a tuned weight must survive the round trip
    assert "_original_component" in next(iter(model.hf_model.state_dict()))  # the bridge's view
    save_model(model, tmp_path / "saved")
    saved = load_file(str(tmp_path / "saved" / "model.safetensors"))
    assert not any("_original_component" in key for key in saved)
    reloaded = load_model(str(tmp_path / "saved"))
    for key, tensor in model.hf_state_dict().items():
        torch.testing.assert_close(reloaded.hf_state_dict()[key], tensor, atol=0, rtol=0)
    tokens = torch.tensor([model.chat.tokenize(CHAT)])
    with torch.no_grad():
        torch.testing.assert_close(reloaded.bridge(tokens), model.bridge(tokens), atol=1e-5, rtol=0)


def test_canonical_parameters_are_the_tensors_the_bridge_runs_on(
    tiny_checkpoints: dict[TinyFamily, Path],
):
    model = load_model(str(tiny_checkpoints["llama-gqa"]))
    tokens = torch.tensor([model.chat.tokenize(CHAT)])
    with torch.no_grad():
        before = model.bridge(tokens)
        model.hf_parameters()["model.layers.1.self_attn.o_proj.weight"].zero_()
        assert not torch.allclose(model.bridge(tokens), before)
    assert "lm_head.weight" in model.hf_state_dict()
