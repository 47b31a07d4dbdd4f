"""One entry point that turns a model name or path into a hooked TransformerLens model.

`load_model` accepts an embedded model name (see `EMBEDDED_MODELS`), a local Hugging Face
checkpoint directory, or a hub name (`org/name`, only where the machine has network or a
warm HF cache). It loads the HF model itself, then wraps that same object in a
`TransformerBridge`, so hooks, per-head tuning and saving all act on one set of parameters.
Weights are read from safetensors only: pickled `.bin` files are refused.

The bridge rewires the HF model's module tree in place (each module wrapped, with alias
names), so `hf_model.named_parameters()` and `hf_model.state_dict()` afterwards report names
like `model.layers.0._original_component.self_attn...` with every tensor under several names.
The canonical HF names are recorded before wrapping; `LoadedModel.hf_parameters()` and
`hf_state_dict()` resolve them to the very tensors the bridge runs on, and
`sycolens.models.save.save_model` writes them as a plain checkpoint.

With `device_map` ("auto" or a JSON map file) the model is dispatched across devices instead
(`sycolens.models.dispatch`): GPUs, then CPU memory, then disk (`offload_dir`); the bridge wraps
it as placed, and `sycolens.models.placement` reads its weights where they live.
"""

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from transformer_lens.model_bridge import TransformerBridge
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from sycolens.models.architecture import Architecture, architecture_for_config, architecture_of
from sycolens.models.placement import input_device, is_dispatched
from sycolens.models.sources import resolve_checkpoint
from sycolens.models.spec import DtypeName, ModelSpec, check_device_present, check_placement
from sycolens.prompts.chat import ChatFormatter

# The dtypes the CLIs accept, by the name a user types.
DTYPES: dict[DtypeName, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


@dataclass(frozen=True)
class LoadedModel:
    """A hooked model, its HF weights, tokenizer and chat formatter, and where it came from."""

    bridge: TransformerBridge
    hf_model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    chat: ChatFormatter
    model_id: str
    architecture: Architecture
    parameter_names: tuple[str, ...]
    state_dict_keys: tuple[str, ...]
    config_json: str = ""  # the HF config as loaded (`sycolens.models.plain` builds from it)
    device_map: str | None = None  # "auto" or a map file it was dispatched by (None: whole)
    offload_dir: Path | None = None  # where that map's disk entries went

    def hf_parameters(self) -> dict[str, torch.nn.Parameter]:
        """Returns the HF parameters under their canonical names (a tied weight once)."""
        return {name: self.hf_model.get_parameter(name) for name in self.parameter_names}

    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        """Returns the state dict under the names `save_pretrained` writes and HF loads."""
        return {name: _tensor_named(self.hf_model, name) for name in self.state_dict_keys}

    @property
    def n_layers(self) -> int:
        return self.bridge.cfg.n_layers

    @property
    def n_heads(self) -> int:
        return self.bridge.cfg.n_heads

    @property
    def n_kv_heads(self) -> int:
        """Number of key/value heads: equal to `n_heads` for MHA, fewer for GQA."""
        return self.bridge.cfg.n_key_value_heads or self.bridge.cfg.n_heads

    @property
    def is_gqa(self) -> bool:
        return self.n_kv_heads < self.n_heads

    @property
    def n_ctx(self) -> int:
        return self.bridge.cfg.n_ctx

    @property
    def pad_token_id(self) -> int:
        """Returns the pad id, falling back to EOS for tokenizers without one (GPT-2, Llama-2)."""
        tokenizer = self.tokenizer
        pad = tokenizer.pad_token_id
        pad = pad if pad is not None else tokenizer.eos_token_id
        if not isinstance(pad, int):
            raise ValueError(
                f"Model {self.model_id!r} has neither a pad nor an EOS token, so batches cannot "
                "be padded. Fix: set tokenizer.pad_token before loading."
            )
        return pad

    @property
    def device(self) -> torch.device:
        """Returns the device inputs go to: where the input embedding runs (on a dispatched
        model, maybe not where its weights are stored)."""
        return input_device(self.hf_model)


def load_model(
    source: str,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    cache_root: Path | None = None,
    device_map: str | None = None,
    offload_dir: str | Path | None = None,
) -> LoadedModel:
    """Returns the model named by `source`, wrapped for hooks and ready on `device`, or
    dispatched as `device_map` ("auto" or a JSON map file) says, disk entries in `offload_dir`.

    A device this machine lacks is refused before anything is read, naming it, rather than
    met as torch's "Torch not compiled with CUDA enabled" after the weights have loaded.
    """
    offload = None if offload_dir is None else Path(offload_dir)
    check_placement(str(device), device_map, offload)
    check_device_present(str(device))
    checkpoint = resolve_checkpoint(source, cache_root=cache_root)
    architecture_for_config(AutoConfig.from_pretrained(checkpoint), source)  # before weights
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    if device_map is not None:
        from sycolens.models.dispatch import load_dispatched

        hf_model: Any = load_dispatched(checkpoint, dtype, device_map, offload)
    else:
        hf_model = AutoModelForCausalLM.from_pretrained(
            checkpoint, dtype=dtype, use_safetensors=True
        )
    loaded = wrap_hf_model(
        hf_model, tokenizer, model_id=source, checkpoint=checkpoint, device=device, dtype=dtype
    )
    return replace(loaded, device_map=device_map, offload_dir=offload)


def load_again(model: LoadedModel) -> LoadedModel:
    """Returns another copy of `model` loaded as it was: the same source and dtype, on the same
    device or dispatched by the same device map (a copy to change, e.g. to add deltas to)."""
    dtype = next(model.hf_model.parameters()).dtype
    if model.device_map is None:
        return load_model(model.model_id, device=model.device, dtype=dtype)
    return load_model(
        model.model_id, dtype=dtype, device_map=model.device_map, offload_dir=model.offload_dir
    )


def load_model_spec(spec: ModelSpec) -> LoadedModel:
    """Returns the model a `ModelSpec` names, on its device (or dispatched by its device map)
    and in its dtype."""
    return load_model(
        spec.name,
        device=spec.device,
        dtype=DTYPES[spec.dtype],
        device_map=spec.device_map,
        offload_dir=spec.offload_dir,
    )


def wrap_hf_model(
    hf_model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    model_id: str,
    checkpoint: str,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> LoadedModel:
    """Returns an HF model wrapped in a `TransformerBridge`, its canonical names recorded first.

    `checkpoint` is the dir or hub name the bridge reads the config from. A dispatched model
    stays where its device map put it (`device` is not read).
    """
    model: Any = hf_model
    dispatched = is_dispatched(model)
    model = (model if dispatched else model.to(device)).eval()
    architecture = architecture_of(model)
    parameter_names = tuple(name for name, _ in model.named_parameters())
    state_dict_keys = tuple(model.state_dict().keys())
    bridge = TransformerBridge.boot_transformers(
        checkpoint,
        hf_model=model,
        tokenizer=tokenizer,
        device=None if dispatched else device,
        dtype=dtype,
    )
    bridge.eval()
    return LoadedModel(
        bridge=bridge,
        hf_model=model,
        tokenizer=tokenizer,
        chat=ChatFormatter(tokenizer),
        model_id=model_id,
        architecture=architecture,
        parameter_names=parameter_names,
        state_dict_keys=state_dict_keys,
        config_json=str(model.config.to_json_string()),
    )


def _tensor_named(module: torch.nn.Module, name: str) -> torch.Tensor:
    """Returns the parameter or buffer at the dotted canonical `name`."""
    try:
        return module.get_parameter(name)
    except AttributeError:
        return module.get_buffer(name)
