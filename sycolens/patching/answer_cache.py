"""Exact total effect of many heads at the answer position, from the reference key/value cache.

Patching head h of layer l at the last position changes nothing at earlier positions (causal
attention), so every layer's keys and values there stay the reference's. The reference prompt
minus its answer token therefore runs once, filling the cache; each patched copy then re-runs
only the answer token against that cache. The copies ride as extra positions of one forward:
all carry the answer position's id, and a 4D mask lets each see the cached prompt and itself
alone, so all copies share one cache instead of copying it per head. A forward of n copies
costs n tokens, not n prompts. Layers below the patched one recompute reference values (exact,
and every family runs through its own forward), and only the two label logits are formed. The
bridge's attention applies the 4D mask whatever kernel the model was loaded with.
`sycolens.patching.reference.one_head_total_patching` is the slow, obviously correct reference.
"""

import math
from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Bool, Float
from torch import Tensor
from transformers import DynamicCache

from sycolens.heads import Head
from sycolens.models.head_access import HeadLayout, HeadOutputHook, hooked_head_outputs
from sycolens.models.load import LoadedModel
from sycolens.patching.direct import label_logit_diff_from_normed
from sycolens.prompts.batch import TokenBatch
from sycolens.prompts.labels import LabelTokens

# A chunk's attention scores are held to what a forward of whole 256-token prompts holds.
SCORES_PER_TOKEN = 256


def copies_per_forward(max_tokens: int, n_rows: int, prompt_width: int) -> int:
    """Returns how many patched copies one forward carries: the most n with
    n_rows * n * (prompt_width + n) <= max_tokens * SCORES_PER_TOKEN, and at least 1."""
    budget = max_tokens * SCORES_PER_TOKEN / n_rows
    return max(1, int((-prompt_width + math.sqrt(prompt_width**2 + 4 * budget)) / 2))


def answer_total_logit_diffs(
    model: LoadedModel,
    reference: TokenBatch,
    z_counterfactual: Float[Tensor, "batch n_layers n_heads d_head"],
    labels: LabelTokens,
    heads: Sequence[Head],
    *,
    copies_per_forward: int,
) -> Float[Tensor, "batch n_patched"]:
    """Returns the label logit difference with each head's answer-position `z` patched.

    `z_counterfactual` is every head's output at the counterfactual prompt's answer position.
    """
    _check_inputs(model, reference, z_counterfactual, heads, copies_per_forward)
    hf_model: Any = model.hf_model
    batch = reference.to(model.device)
    positions = batch.position_ids()
    z_source = z_counterfactual.to(model.device)
    columns: list[Tensor] = []
    with torch.no_grad():
        # A config-free cache: a sliding-window layer would refuse the crops below.
        cache = DynamicCache()
        hf_model.base_model(
            input_ids=batch.tokens[:, :-1],
            attention_mask=batch.mask[:, :-1].long(),
            position_ids=positions[:, :-1],
            past_key_values=cache,
            use_cache=True,
        )
        for start in range(0, len(heads), copies_per_forward):
            chunk = list(heads[start : start + copies_per_forward])
            n_copies = len(chunk)
            mask = _copies_mask(batch.mask[:, :-1], n_copies, _dtype(model))
            with hooked_head_outputs(hf_model, _patch_hooks(chunk, z_source)):
                hidden = hf_model.base_model(
                    input_ids=batch.tokens[:, -1:].expand(-1, n_copies),
                    attention_mask=mask,
                    position_ids=positions[:, -1:].expand(-1, n_copies),
                    past_key_values=cache,
                    use_cache=True,
                ).last_hidden_state
            cache.crop(-n_copies)
            columns.append(label_logit_diff_from_normed(model, hidden, labels))
    return torch.cat(columns, dim=1)


def _copies_mask(
    prefix_mask: Bool[Tensor, "batch prefix_pos"], n_copies: int, dtype: torch.dtype
) -> Float[Tensor, "batch 1 n_copies src_pos"]:
    """Returns the additive mask letting copy k see the prompt's real tokens and itself only."""
    batch, prefix = prefix_mask.shape
    sees_prompt = prefix_mask[:, None, None, :].expand(batch, 1, n_copies, prefix)
    sees_itself = torch.eye(n_copies, dtype=torch.bool, device=prefix_mask.device)
    allowed = torch.cat([sees_prompt, sees_itself.expand(batch, 1, n_copies, n_copies)], dim=-1)
    blocked = torch.zeros(allowed.shape, dtype=dtype, device=prefix_mask.device)
    return blocked.masked_fill(~allowed, torch.finfo(dtype).min)


def _patch_hooks(
    chunk: list[Head], z_source: Float[Tensor, "batch n_layers n_heads d_head"]
) -> list[tuple[int, HeadOutputHook]]:
    """Returns one hook per patched layer: copy k takes head chunk[k]'s counterfactual `z`."""
    by_layer: dict[int, list[tuple[int, int]]] = {}
    for copy, (layer, head) in enumerate(chunk):
        by_layer.setdefault(layer, []).append((copy, head))

    def patch(
        z: Float[Tensor, "batch n_copies n_heads d_head"], layer: int
    ) -> Float[Tensor, "batch n_copies n_heads d_head"]:
        for copy, head in by_layer[layer]:
            z[:, copy, head] = z_source[:, layer, head].to(z.dtype)
        return z

    return [(layer, lambda z, layer=layer: patch(z, layer)) for layer in by_layer]


def _dtype(model: LoadedModel) -> torch.dtype:
    """Returns the weights' dtype, which the additive mask must match."""
    return next(model.hf_model.parameters()).dtype


def _check_inputs(
    model: LoadedModel,
    reference: TokenBatch,
    z_counterfactual: Tensor,
    heads: Sequence[Head],
    copies: int,
) -> None:
    """Refuses inputs that would fail deep inside the forward, naming the fix."""
    if copies < 1:
        raise ValueError(f"copies_per_forward must be >= 1, got {copies}.")
    if not heads:
        raise ValueError("No heads to patch. Fix: pass at least one (layer, head).")
    layout = HeadLayout.of(model.hf_model)
    for head in heads:
        layout.check_head(head)
    expected = (reference.tokens.shape[0], layout.n_layers, layout.n_heads, layout.d_head)
    if tuple(z_counterfactual.shape) != expected:
        raise ValueError(
            f"z_counterfactual has shape {tuple(z_counterfactual.shape)}, expected {expected} "
            "(one row per reference prompt). Fix: pass the counterfactual prompts' "
            "answer-position z of the same pairs (capture_answer_activations(...).z)."
        )
    config: Any = model.hf_model.config
    longest = reference.tokens.shape[1]
    window = getattr(config, "sliding_window", None)
    # Mistral slides in every layer when `sliding_window` is set; Qwen2 lists its layer types.
    layer_types = getattr(config, "layer_types", None) or ("sliding_attention",)
    if window is not None and "sliding_attention" in layer_types and longest > window:
        raise ValueError(
            f"{model.model_id} attends over a sliding window of {window} tokens and a prompt "
            f"here is {longest}: the shared-cache mask covers whole prompts. Fix: diagnose "
            f"prompts of at most {window} tokens."
        )
    if longest < 2:
        raise ValueError(
            "Every prompt is one token long, so there is no earlier position to cache. "
            "Fix: patch prompts that hold a chat."
        )
