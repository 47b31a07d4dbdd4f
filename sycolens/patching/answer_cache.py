"""Exact total effect of many heads at the answer position, from the reference key/value cache.

Patching head h of layer l at the last position changes nothing at earlier positions (causal
attention), so every layer's keys and values there stay the reference's. The reference prompt
minus its answer token therefore runs once, filling the cache; each patched copy then re-runs
only the answer token against that cache. The copies ride as extra positions of one forward:
all carry the answer position's id, and a 4D mask lets each see the cached prompt and itself
alone, so all copies share one cache instead of copying it per head. A forward of n copies
costs n tokens, not n prompts, and only the two label logits are formed.

Below its head's layer a copy would only recompute the reference's values. When nothing is
hooked into the model, the copies run through the plain network (SDPA, sharing the weights;
`sycolens.models.plain`) layer by layer, with the family's own per-layer arguments recorded
from its forward (`sycolens.models.layer_calls`): each copy joins at its head's layer as a copy
of the unpatched answer token there, which runs alongside, so a copy of a head in layer l costs
L - l layers instead of L, about half on average. Otherwise (a knockout, a user's hook) every
copy runs through every layer in one forward of the bridge, which runs the hooks and applies
the 4D mask whatever kernel the model was loaded with.
`sycolens.patching.reference.one_head_total_patching` is the slow, obviously correct reference.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Bool, Float
from torch import Tensor
from transformers import DynamicCache

from sycolens.heads import Head
from sycolens.models.architecture import Architecture
from sycolens.models.head_access import HeadLayout, HeadOutputHook, hooked_head_outputs
from sycolens.models.layer_calls import record_layer_calls
from sycolens.models.load import LoadedModel
from sycolens.models.plain import plain_network, runs_as_plain
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
    is_stepped = runs_as_plain(model)
    network: Any = plain_network(model) if is_stepped else model.hf_model
    order = layer_order(heads)
    ordered = [heads[i] for i in order]
    batch = reference.to(model.device)
    z_source = z_counterfactual.to(model.device)
    columns: list[Tensor] = []
    with torch.no_grad():
        cache = _prompt_cache(network, batch)
        for start in range(0, len(ordered), copies_per_forward):
            chunk = ordered[start : start + copies_per_forward]
            copies = _CopiesRun(network, batch, cache, chunk, z_source, _dtype(model))
            normed = copies.stepped(model.architecture) if is_stepped else copies.stacked()
            columns.append(label_logit_diff_from_normed(model, normed, labels))
    return in_given_order(torch.cat(columns, dim=1), order)


def layer_order(heads: Sequence[Head]) -> list[int]:
    """Returns the indices of `heads` sorted by layer: copies that start at their own layer
    (layer-by-layer runs) then join a chunk in layer order."""
    return sorted(range(len(heads)), key=lambda i: heads[i].layer)


def in_given_order(
    diffs: Float[Tensor, "batch n_patched"], order: list[int]
) -> Float[Tensor, "batch n_patched"]:
    """Returns the columns of `diffs`, computed in `order`, back in the heads' given order."""
    return diffs[:, torch.tensor(order).argsort().to(diffs.device)]


def _prompt_cache(network: Any, batch: TokenBatch) -> DynamicCache:
    """Returns the key/value cache of the reference prompts minus their answer token."""
    # A config-free cache: a sliding-window layer would refuse the crops below.
    cache = DynamicCache()
    network.base_model(
        input_ids=batch.tokens[:, :-1],
        attention_mask=batch.mask[:, :-1].long(),
        position_ids=batch.position_ids()[:, :-1],
        past_key_values=cache,
        use_cache=True,
    )
    return cache


@dataclass(frozen=True)
class _CopiesRun:
    """One chunk of patched copies of the answer token against the shared prompt cache."""

    network: Any
    batch: TokenBatch
    cache: DynamicCache
    chunk: list[Head]
    z_source: Float[Tensor, "batch n_layers n_heads d_head"]
    dtype: torch.dtype

    def stacked(self) -> Float[Tensor, "batch n_copies d_model"]:
        """Every copy through every layer in one forward of the model (the bridge's path,
        which runs whatever is hooked into it)."""
        n_copies = len(self.chunk)
        with hooked_head_outputs(self.network, _patch_hooks(self.chunk, self.z_source)):
            normed = self._forward(n_copies).last_hidden_state
        self.cache.crop(-n_copies)
        return normed

    def stepped(self, architecture: Architecture) -> Float[Tensor, "batch n_copies d_model"]:
        """Layer by layer, each copy joining at its head's layer as a copy of the unpatched
        answer token there (row 0, run alongside): below it, a copy would only recompute the
        reference's values. Needs the chunk sorted by layer."""
        layers = self.network.get_submodule(architecture.layers_path)
        calls = record_layer_calls(layers, lambda: self._forward(len(self.chunk) + 1))
        prompt_width = self.batch.tokens.shape[1] - 1
        hidden = calls[0].hidden_states[:, :1]
        for layer, (module, call) in enumerate(zip(layers, calls, strict=True)):
            joining = [copy.head for copy in self.chunk if copy.layer == layer]
            first = hidden.shape[1]
            if joining:
                hidden = torch.cat([hidden, hidden[:, :1].expand(-1, len(joining), -1)], dim=1)
            rows = list(range(first, first + len(joining)))
            hook = _rows_patch(layer, rows, joining, self.z_source)
            with hooked_head_outputs(self.network, [hook] if joining else []):
                hidden = call.run_on_first_positions(
                    module, hidden, n_keys=prompt_width + hidden.shape[1]
                )
            layer_cache: Any = self.cache.layers[layer]  # a DynamicLayer: config-free cache
            layer_cache.crop(-hidden.shape[1])
        final_norm = self.network.get_submodule(architecture.final_norm)
        return final_norm(hidden[:, 1:])

    def _forward(self, n_rows: int) -> Any:
        """The model's forward of `n_rows` answer tokens, each seeing the prompt and itself."""
        positions = self.batch.position_ids()[:, -1:]
        return self.network.base_model(
            input_ids=self.batch.tokens[:, -1:].expand(-1, n_rows),
            attention_mask=_copies_mask(self.batch.mask[:, :-1], n_rows, self.dtype),
            position_ids=positions.expand(-1, n_rows),
            past_key_values=self.cache,
            use_cache=True,
        )


def _rows_patch(
    layer: int,
    rows: list[int],
    heads: list[int],
    z_source: Float[Tensor, "batch n_layers n_heads d_head"],
) -> tuple[int, HeadOutputHook]:
    """Returns the hook giving row rows[k] head heads[k]'s counterfactual z in `layer`."""
    device = z_source.device
    row_index = torch.tensor(rows, device=device)
    head_index = torch.tensor(heads, device=device)

    def patch(
        z: Float[Tensor, "batch n_rows n_heads d_head"],
    ) -> Float[Tensor, "batch n_rows n_heads d_head"]:
        device = z.device  # a dispatched model's layer may run on another device
        value = z_source[:, layer, head_index].to(device, z.dtype)
        z[:, row_index.to(device), head_index.to(device)] = value
        return z

    return layer, patch


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
    return [
        _rows_patch(layer, [copy for copy, _ in pairs], [head for _, head in pairs], z_source)
        for layer, pairs in by_layer.items()
    ]


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
