"""Where a family keeps each head, read from TransformerLens's adapter for the checkpoint.

TransformerLens bridges 100+ families. Its adapter for a checkpoint (`component_mapping`) names
the decoder layers, each layer's attention and its query/key/value/output projections (or the
one fused QKV projection), the norm on the attention output before the residual add
(`ln1_post`: Gemma-2/3, OLMo-2), the final norm and the unembedding. `architecture_of` reads
those names from the adapter the bridge itself would pick, so a family the bridge supports
needs no row in sycolens. `sycolens.models.registry.FAMILY_TRAITS` holds only what the adapter
does not say: a weight stored [in, out] (GPT-2's Conv1D), the config fields of the scales
between a head and the logits, and the families it refuses, with the reason.
"""

import difflib
import weakref
from dataclasses import dataclass
from typing import Any

from sycolens.models.registry import FAMILY_TRAITS, FamilyTraits


@dataclass(frozen=True, kw_only=True)
class Architecture:
    """Where a Hugging Face family keeps each layer's attention projections, and their layout.

    Module names are relative to the attention module `{layers_path}.{L}.{attention_attr}`.
    `fused_qkv` names the one projection that holds queries, keys and values, laid out
    [Q | K | V] (GPT-2's `c_attn`, Phi-3's `qkv_proj`); otherwise `query`, `key` and `value`
    are separate. `is_conv1d` marks GPT-2's Conv1D, whose weight is stored [in, out] where
    `nn.Linear` stores [out, in]. `attention_output_norm` is the layer's norm on the attention
    output before the residual add (relative to the layer; "" where there is none).
    `final_norm` is the norm after the last layer (its input is the final residual).
    `residual_scale` multiplies the attention output before the residual add (Granite);
    the label logits are `logit_scale` times the unembedding, soft-capped at `logit_softcap`
    when it is set (Gemma-2). `sycolens.models.head_access` reads this to reach any head.
    """

    model_type: str
    layers_path: str
    attention_attr: str
    query: str = ""
    key: str = ""
    value: str = ""
    fused_qkv: str = ""
    output: str
    final_norm: str
    attention_output_norm: str = ""
    is_conv1d: bool = False
    residual_scale: float = 1.0
    logit_scale: float = 1.0
    logit_softcap: float | None = None


_BY_MODEL: "weakref.WeakKeyDictionary[Any, Architecture]" = weakref.WeakKeyDictionary()


def architecture_of(hf_model: Any) -> Architecture:
    """Returns the architecture of a Hugging Face causal LM (plain or wrapped by the bridge),
    read once per model from its config."""
    found = _BY_MODEL.get(hf_model)
    if found is None:
        config = hf_model.config
        found = architecture_for_config(
            config, str(config.name_or_path), class_name=type(hf_model).__name__
        )
        _BY_MODEL[hf_model] = found
    return found


def architecture_for_config(config: Any, source: str, *, class_name: str = "") -> Architecture:
    """Returns the architecture of a checkpoint from its HF config alone (no weights), or
    raises naming why sycolens cannot patch it and the nearest family it can.

    `class_name` is the model's class, for a model built in memory, whose config names no
    architecture until it is saved.
    """
    traits = FAMILY_TRAITS.get(str(config.model_type), FamilyTraits())
    if traits.refused:
        raise ValueError(
            f"Model {source!r} has model_type {config.model_type!r}, which sycolens refuses: "
            f"{traits.refused} Fix: pick a checkpoint of another family."
        )
    mapping = _adapter_mapping(config, source, class_name)
    blocks = mapping["blocks"]
    block_parts = blocks.submodules
    attention = block_parts.get("attn")
    parts = attention.submodules if attention is not None else {}
    output = parts.get("o") or parts.get("out")
    if attention is None or output is None or "ln_final" not in mapping:
        raise ValueError(
            f"Model {source!r} ({config.model_type!r}): TransformerLens's adapter names no "
            "attention output projection or final norm in every layer, so a head's write to "
            "the residual cannot be read. Fix: pick a checkpoint of a decoder-only family "
            "with one attention per layer (llama, qwen3, gemma2, phi3, gpt2, ...)."
        )
    post_norm = block_parts.get("ln1_post")
    fused = parts.get("qkv")  # the bridge lists its split q/k/v copies beside it
    return Architecture(
        model_type=str(config.model_type),
        layers_path=blocks.name,
        attention_attr=attention.name,
        query="" if fused else _name(parts.get("q")),
        key="" if fused else _name(parts.get("k")),
        value="" if fused else _name(parts.get("v")),
        fused_qkv=_name(fused),
        output=output.name,
        final_norm=mapping["ln_final"].name,
        attention_output_norm=_name(post_norm),
        is_conv1d=traits.is_conv1d,
        residual_scale=float(_field(config, traits.residual_scale_field, 1.0)),
        logit_scale=_logit_scale(config, traits),
        logit_softcap=_field(config, traits.logit_softcap_field, None),
    )


def _name(component: Any) -> str:
    return "" if component is None else str(component.name)


def _field(config: Any, name: str, default: Any) -> Any:
    value = getattr(config, name, None) if name else None
    return default if value is None else value


def _logit_scale(config: Any, traits: FamilyTraits) -> float:
    scale = float(_field(config, traits.logit_scale_field, 1.0))
    divisor = float(_field(config, traits.logit_divisor_field, 1.0))
    return scale / divisor


def _adapter_mapping(config: Any, source: str, class_name: str) -> dict[str, Any]:
    """Returns the component mapping of the adapter TransformerLens picks for `config`."""
    import torch
    from transformer_lens.factories.architecture_adapter_factory import (
        SUPPORTED_ARCHITECTURES,
        ArchitectureAdapterFactory,
    )
    from transformer_lens.model_bridge.sources._bridge_builder import (
        build_bridge_config_from_hf,
    )
    from transformer_lens.model_bridge.sources._hf_format import (
        determine_architecture_from_hf_config,
    )

    try:
        name = determine_architecture_from_hf_config(config)
    except ValueError:
        name = class_name
    if name not in SUPPORTED_ARCHITECTURES:
        named = name or f"model_type {config.model_type!r}"
        nearest = difflib.get_close_matches(name or str(config.model_type), SUPPORTED_ARCHITECTURES)
        hint = f" The nearest it bridges: {', '.join(nearest)}." if nearest else ""
        raise ValueError(
            f"Model {source!r} is a {named}, which TransformerLens does not bridge, so "
            f"sycolens cannot hook its heads.{hint} Fix: pick a checkpoint of a family "
            "TransformerLens supports."
        )
    bridge_config = build_bridge_config_from_hf(config, name, source, torch.float32)
    adapter = ArchitectureAdapterFactory.select_architecture_adapter(bridge_config)
    return dict(adapter.component_mapping or {})
