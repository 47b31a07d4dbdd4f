"""Direct path patching of every head at once, exactly, from two cached forwards.

Algorithm 1 swaps head n's output for its counterfactual value while every other component
keeps its reference value, so only head n's direct path to the logits changes. With all
other components frozen, the final residual at the answer position becomes

    resid_ref + (z_cf[n] - z_ref[n]) @ W_O[n]

and everything after it is the final norm (recomputed exactly on the patched residual) and two
rows of the unembedding. So all L*H heads are scored with batched tensor algebra, no per-head
forward. `sycolens.patching.reference.literal_path_patching` is the slow, hooked original.

Families differ only in what lies between a head and the logits, and each step is exact:
a norm on the attention output before the residual add (Gemma-2/3, OLMo-2) is recomputed on
each patched head's attention output, all heads of a layer in one batched call; a residual
multiplier (Granite) scales the write; the label logits are scaled (Granite, Cohere) and
soft-capped (Gemma-2) as the model's own head does.

On a model dispatched across devices (`sycolens.models.dispatch`), each layer's W_O and the
unembedding's two label rows are read where they live, one module at a time
(`sycolens.models.placement.weights_at_hand`), and each layer's product is formed on its own
device: scoring never gathers the weights on one device.
"""

from collections.abc import Iterable, Iterator

import torch
from einops import einsum
from jaxtyping import Float
from torch import Tensor

from sycolens.models.architecture import Architecture
from sycolens.models.head_access import HeadLayout
from sycolens.models.load import LoadedModel
from sycolens.models.placement import execution_device, weights_at_hand
from sycolens.patching.capture import AnswerActivations
from sycolens.prompts.labels import LabelTokens


def output_weights(model: LoadedModel) -> Iterator[Float[Tensor, "n_heads d_head d_model"]]:
    """Yields each layer's output projection as per-head W_O, views of the weights themselves,
    layer by layer: an offloaded layer's weights are at hand until the next one is asked for.

    Views, not a stack: the bridge's `W_O` restacks every layer on every call (19-22 ms for
    SmolLM2 on this CPU, most of scoring 32 pairs), and a cached stack would cost a second
    copy of the weights and go stale when they are tuned in place.
    """
    layout = HeadLayout.of(model.hf_model)
    for layer in range(layout.n_layers):
        module = model.hf_model.get_submodule(layout.module_name(layer, "output"))
        with weights_at_hand(module):
            weight: Tensor = getattr(module, "weight")  # noqa: B009
            # nn.Linear stores [d_model, n_heads * d_head], GPT-2's Conv1D the transpose.
            rows = weight if layout.architecture.is_conv1d else weight.T
            yield rows.unflatten(0, (layout.n_heads, layout.d_head))


def head_output_deltas(
    z_reference: Float[Tensor, "batch n_layers n_heads d_head"],
    z_counterfactual: Float[Tensor, "batch n_layers n_heads d_head"],
    W_O: Iterable[Float[Tensor, "n_heads d_head d_model"]],
    d_model: int,
) -> Float[Tensor, "batch n_layers n_heads d_model"]:
    """Returns how much each head's write to the residual changes when patched: one batched
    matrix product per layer, written straight into the result (no per-call einsum planning
    or stacking copy; these dominate scoring on a GPU), or, for a layer whose weights live on
    another device, formed there and copied back."""
    change = (z_counterfactual - z_reference).permute(1, 2, 0, 3)  # layer head batch d_head
    n_layers, n_heads, batch, _ = change.shape
    deltas = change.new_empty(n_layers, n_heads, batch, d_model)
    for layer, weights in enumerate(W_O):
        if weights.device == deltas.device:
            torch.matmul(change[layer], weights.to(change.dtype), out=deltas[layer])
        else:
            there = torch.matmul(change[layer].to(weights.device), weights.to(change.dtype))
            deltas[layer].copy_(there)
    return deltas.permute(2, 0, 1, 3)


def label_unembedding(
    model: LoadedModel, labels: LabelTokens
) -> tuple[Float[Tensor, "2 d_model"], Float[Tensor, " 2"]]:
    """Returns the unembedding rows (and biases) of the syco and anti label tokens, copies on
    the device the unembedding runs on."""
    # The bridge wraps HF's lm_head in place, so read its weight/bias, not its Python type.
    head = model.hf_model.get_output_embeddings()
    assert head is not None, "every causal LM has an unembedding"
    with weights_at_hand(head):
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
    norm = model.hf_model.get_submodule(model.architecture.final_norm)
    return label_logit_diff_from_normed(
        model, model.bridge.ln_final(residual.to(execution_device(norm))), labels
    )


def label_logit_diff_from_normed(
    model: LoadedModel,
    normed: Float[Tensor, "*batch d_model"],
    labels: LabelTokens,
) -> Float[Tensor, "*batch"]:
    """Returns logit(syco) - logit(anti) from final-norm outputs: two unembedding rows only."""
    rows, bias = (tensor.to(normed.device) for tensor in label_unembedding(model, labels))
    logits = einsum(normed, rows, "... d_model, label d_model -> ... label") + bias
    logits = finish_logits(model.architecture, logits)
    return logits[..., 0] - logits[..., 1]


def finish_logits(architecture: Architecture, logits: Float[Tensor, "*shape"]) -> Tensor:
    """Returns unembedding outputs as the model's head finishes them: times its logit scale,
    then soft-capped where the family caps them (cap * tanh(logits / cap))."""
    if architecture.logit_scale != 1.0:
        logits = logits * architecture.logit_scale
    cap = architecture.logit_softcap
    return logits if cap is None else torch.tanh(logits / cap) * cap


def residual_writes(
    model: LoadedModel,
    deltas: Float[Tensor, "batch n_layers n_heads d_model"],
    attention_out: Float[Tensor, "batch n_normed d_model"],
) -> Float[Tensor, "batch n_layers n_heads d_model"]:
    """Returns how much each patched head changes the residual: its change to the attention
    output, passed through the layer's norm on that output where there is one (recomputed on
    the patched output, minus the reference's), times the family's residual multiplier."""
    architecture = model.architecture
    if architecture.attention_output_norm:
        changed: list[Tensor] = []
        for layer in range(deltas.shape[1]):
            norm = model.bridge.blocks[layer].ln1_post
            reference = attention_out[:, layer, None, :]  # batch 1 d_model
            reference = reference.to(execution_device(norm))
            patched = reference + deltas[:, layer].to(reference.device)
            changed.append((norm(patched) - norm(reference)).to(deltas.device))
        deltas = torch.stack(changed, dim=1)
    if architecture.residual_scale != 1.0:
        deltas = deltas * architecture.residual_scale
    return deltas


def direct_patched_logit_diffs(
    model: LoadedModel,
    reference: AnswerActivations,
    counterfactual: AnswerActivations,
    labels: LabelTokens,
) -> Float[Tensor, "batch n_layers n_heads"]:
    """Returns the label logit difference with each head's direct path patched, all heads."""
    with torch.no_grad():
        d_model = reference.final_residual.shape[-1]
        deltas = head_output_deltas(reference.z, counterfactual.z, output_weights(model), d_model)
        writes = residual_writes(model, deltas, reference.attention_out)
        patched = reference.final_residual[:, None, None, :] + writes
        return label_logit_diff_from_residual(model, patched, labels)
