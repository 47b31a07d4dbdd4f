"""Slow, obviously correct knockouts for tests: one prompt at a time, activations edited by hand.

Independent of the fast path in every part that could go wrong: spans come from character
offsets (`chat_spans`), not the token-id locator; `z` is edited by plain PyTorch pre-hooks on
the output projection (`hooked_head_outputs`), not TransformerLens hook points; prompts run
unpadded, one by one; generation recomputes the whole sequence at every step, without a cache.
Prompt positions take the mean at their offset from the prompt's last token, generated tokens
the answer position's (offset 0), as `sycolens.ablation.knockout` documents.
"""

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from sycolens.ablation.config import AblationPositions
from sycolens.heads import Head
from sycolens.models.head_access import HeadOutputHook, HeadOutputs, hooked_head_outputs
from sycolens.models.load import LoadedModel
from sycolens.prompts.chat import Message
from sycolens.prompts.spans import chat_spans

Means = dict[int, Float[Tensor, "depth n_heads d_head"]]


def _first_replaced(
    model: LoadedModel, chat: Sequence[Message], positions: AblationPositions
) -> int:
    if positions == "all":
        return 0
    return chat_spans(model.chat, chat).require_challenge("Reference chat")[0]


def _run_z(model: LoadedModel, ids: list[int], layers: Sequence[int]) -> dict[int, Tensor]:
    """Returns each layer's z [pos, n_heads, d_head] of one unpadded prompt."""
    seen: dict[int, Tensor] = {}

    def keeper(layer: int) -> HeadOutputHook:
        def keep(z: HeadOutputs) -> None:
            seen[layer] = z[0]

        return keep

    hooks = [(layer, keeper(layer)) for layer in layers]
    with hooked_head_outputs(model.hf_model, hooks), torch.no_grad():
        model.hf_model(input_ids=torch.tensor([ids]))
    return seen


def reference_means(
    model: LoadedModel,
    layers: Sequence[int],
    counterfactual_chats: Sequence[Sequence[Message]],
    positions: AblationPositions,
) -> Means:
    """Returns per-layer mean `z` by offset from the end, one counterfactual prompt at a time."""
    runs: list[dict[int, Tensor]] = []
    depths: list[int] = []
    for chat in counterfactual_chats:
        ids = model.chat.tokenize(chat)
        depths.append(len(ids) - _first_replaced(model, chat, positions))
        runs.append(_run_z(model, ids, layers))
    depth = min(depths)
    means: Means = {}
    for layer in layers:
        per_prompt = [
            torch.stack([run[layer][len(run[layer]) - 1 - k] for k in range(depth)]) for run in runs
        ]
        means[layer] = torch.stack(per_prompt).mean(0)
    return means


def _editing_hooks(
    heads: Sequence[Head], means: Means | None, first: int, prompt_length: int
) -> list[tuple[int, HeadOutputHook]]:
    """Returns hooks that overwrite each head's z from `first` on, position by position."""

    def editor(layer: int, head: int) -> HeadOutputHook:
        def edit(z: HeadOutputs) -> HeadOutputs:
            for position in range(first, z.shape[1]):
                if means is None:
                    z[0, position, head] = 0.0
                    continue
                offset = max(prompt_length - 1 - position, 0)
                depth = means[layer].shape[0]
                z[0, position, head] = means[layer][min(offset, depth - 1), head]
            return z

        return edit

    return [(layer, editor(layer, head)) for layer, head in heads]


def reference_knockout_logits(
    model: LoadedModel,
    heads: Sequence[Head],
    chats: Sequence[Sequence[Message]],
    *,
    means: Means | None,
    positions: AblationPositions,
) -> Float[Tensor, "batch d_vocab"]:
    """Returns each chat's last-position logits with `heads` knocked out, one chat at a time."""
    rows: list[Tensor] = []
    for chat in chats:
        ids = model.chat.tokenize(chat)
        first = _first_replaced(model, chat, positions)
        hooks = _editing_hooks(heads, means, first, len(ids))
        with hooked_head_outputs(model.hf_model, hooks), torch.no_grad():
            rows.append(model.hf_model(input_ids=torch.tensor([ids])).logits[0, -1])
    return torch.stack(rows)


def reference_knockout_generation(
    model: LoadedModel,
    heads: Sequence[Head],
    chat: Sequence[Message],
    *,
    means: Means | None,
    positions: AblationPositions,
    max_new_tokens: int,
) -> list[int]:
    """Returns greedy token ids with `heads` knocked out, recomputing the sequence each step."""
    prompt = model.chat.tokenize(chat)
    first = _first_replaced(model, chat, positions)
    hooks = _editing_hooks(heads, means, first, len(prompt))
    generated: list[int] = []
    with hooked_head_outputs(model.hf_model, hooks), torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model.hf_model(input_ids=torch.tensor([prompt + generated])).logits
            generated.append(int(logits[0, -1].argmax()))
    return generated
