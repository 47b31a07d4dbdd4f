"""Direct path patching of every head at once, exactly, from two cached forwards.

Algorithm 1 swaps head n's output for its counterfactual value while every other component
keeps its reference value, so only head n's direct path to the logits changes. With all
other components frozen, the final residual at the answer position becomes

    resid_ref + (z_cf[n] - z_ref[n]) @ W_O[n]

and everything after it is the final norm (recomputed exactly on the patched residual) and two
rows of the unembedding. So all L*H heads are scored with batched tensor algebra, no per-head
forward. `sycolens.patching.reference.literal_path_patching` is the slow, hooked original.
"""

import torch
from einops import einsum
from jaxtyping import Float
from torch import Tensor

from sycolens.models.load import LoadedModel
from sycolens.patching.capture import AnswerActivations
from sycolens.prompts.labels import LabelTokens


def head_output_deltas(
    z_reference: Float[Tensor, "batch n_layers n_heads d_head"],
    z_counterfactual: Float[Tensor, "batch n_layers n_heads d_head"],
    W_O: Float[Tensor, "n_layers n_heads d_head d_model"],
) -> Float[Tensor, "batch n_layers n_heads d_model"]:
    """Returns how much each head's write to the residual changes when patched."""
    return einsum(
        z_counterfactual - z_reference,
        W_O,
        "batch layer head d_head, layer head d_head d_model -> batch layer head d_model",
    )


def label_unembedding(
    model: LoadedModel, labels: LabelTokens
) -> tuple[Float[Tensor, "2 d_model"], Float[Tensor, " 2"]]:
    """Returns the unembedding rows (and biases) of the syco and anti label tokens."""
    # The bridge wraps HF's lm_head in place, so read its weight/bias, not its Python type.
    head = model.hf_model.get_output_embeddings()
    weight: Tensor = getattr(head, "weight")  # noqa: B009
    bias: Tensor | None = getattr(head, "bias", None)
    ids = torch.tensor([labels.syco_id, labels.anti_id], device=weight.device)
    return weight[ids], (bias[ids] if bias is not None else weight.new_zeros(2))


def label_logit_diff_from_residual(
    model: LoadedModel,
    residual: Float[Tensor, "*batch d_model"],
    labels: LabelTokens,
) -> Float[Tensor, "*batch"]:
    """Returns logit(syco) - logit(anti) after the model's own final norm and unembedding."""
    rows, bias = label_unembedding(model, labels)
    normed = model.bridge.ln_final(residual)
    logits = einsum(normed, rows, "... d_model, label d_model -> ... label") + bias
    return logits[..., 0] - logits[..., 1]


def direct_patched_logit_diffs(
    model: LoadedModel,
    reference: AnswerActivations,
    counterfactual: AnswerActivations,
    labels: LabelTokens,
) -> Float[Tensor, "batch n_layers n_heads"]:
    """Returns the label logit difference with each head's direct path patched, all heads."""
    with torch.no_grad():
        W_O = model.bridge.W_O.to(reference.z.dtype)
        deltas = head_output_deltas(reference.z, counterfactual.z, W_O)
        patched = reference.final_residual[:, None, None, :] + deltas
        return label_logit_diff_from_residual(model, patched, labels)
