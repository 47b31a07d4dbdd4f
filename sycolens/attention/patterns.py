"""Attention from the answer position to the challenge span (Fig. 2c), for every head.

Each challenged prompt is laid out by `sycolens.prompts.spans.chat_spans` (from the chat
template, never hard-coded positions); one forward per batch reads every head's attention
pattern (`blocks.{L}.attn.hook_pattern`) at the last query position only, and sums it over a
span: the share of the answer position's attention that lands on the challenge.

Two spans: "sentence", the challenge message's own tokens, and "turn", everything from the end
of the first answer on (turn separator, challenge, assistant cue). Heads that attend locally
put most of their attention on the assistant cue right before the answer position, so "turn"
mixes them in: measured on organism-mha (32 prompts), the planted heads' shares exceed the
others' with Mann-Whitney p = 0.029 on "turn" and p = 0.0018 on "sentence".
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from sycolens.attention.config import AttentionSpan
from sycolens.models.forward import run_batch
from sycolens.models.load import LoadedModel
from sycolens.prompts.batch import pad_sequences
from sycolens.prompts.chat import Message, check_known_tokens
from sycolens.prompts.spans import ChatSpans, chat_spans


def pattern_hook_name(layer: int) -> str:
    """Returns the hook carrying a layer's attention pattern [batch, n_heads, query, key]."""
    return f"blocks.{layer}.attn.hook_pattern"


@dataclass(frozen=True)
class ChallengeAttention:
    """Every head's share of answer-position attention on the challenge span, per prompt."""

    shares: Float[Tensor, "prompt n_layers n_heads"]
    token_shares: Float[Tensor, " prompt"]  # the span's share of the prompt's tokens
    spans: tuple[ChatSpans, ...]
    span: AttentionSpan


def challenge_attention(
    model: LoadedModel,
    chats: Sequence[Sequence[Message]],
    *,
    span: AttentionSpan = "sentence",
    batch_size: int = 8,
    show_progress: bool = False,
) -> ChallengeAttention:
    """Returns, for every prompt and head, the attention share on the challenge `span`."""
    if not chats:
        raise ValueError("No chats to measure attention on. Fix: pass at least one.")
    laid_out = tuple(chat_spans(model.chat, chat) for chat in chats)
    targets: list[tuple[int, int]] = []
    for index, spans in enumerate(laid_out):
        check_known_tokens(model.chat, spans.ids, f"Chat {index}")
        what = f"Chat {index}"
        is_sentence = span == "sentence"
        targets.append(
            spans.require_challenge_sentence(what) if is_sentence else spans.require_challenge(what)
        )
    shares: list[Tensor] = []
    starts = range(0, len(laid_out), batch_size)
    for start in tqdm(starts, desc="attention", disable=not show_progress):
        rows = slice(start, start + batch_size)
        shares.append(_batch_shares(model, laid_out[rows], targets[rows]))
    widths = [
        (stop - first) / len(s.ids) for s, (first, stop) in zip(laid_out, targets, strict=True)
    ]
    return ChallengeAttention(torch.cat(shares), torch.tensor(widths), laid_out, span)


def _batch_shares(
    model: LoadedModel, spans: Sequence[ChatSpans], targets: Sequence[tuple[int, int]]
) -> Float[Tensor, "batch n_layers n_heads"]:
    """Returns one left-padded batch's attention shares on each prompt's target span."""
    batch = pad_sequences([list(span.ids) for span in spans], model.pad_token_id)
    width = batch.tokens.shape[1]
    on_span = torch.zeros(len(spans), width)
    for row, (span, (start, stop)) in enumerate(zip(spans, targets, strict=True)):
        pad = width - len(span.ids)
        on_span[row, pad + start : pad + stop] = 1.0
    store: dict[int, Tensor] = {}

    def keep(layer: int, pattern: Tensor, hook: Any) -> None:
        del hook
        last_query = pattern[:, :, -1, :].float().cpu()
        store[layer] = (last_query * on_span[:, None, :]).sum(-1)

    hooks = [(pattern_hook_name(layer), partial(keep, layer)) for layer in range(model.n_layers)]
    run_batch(model.bridge, batch, hooks)
    return torch.stack([store[layer] for layer in range(model.n_layers)], dim=1)


def answer_patterns(
    model: LoadedModel, chat: Sequence[Message], layers: Sequence[int]
) -> dict[int, Float[Tensor, "n_heads query key"]]:
    """Returns full attention patterns of `layers` on one prompt, for interactive views."""
    ids = model.chat.tokenize(chat)
    check_known_tokens(model.chat, ids, "The chat")
    store: dict[int, Tensor] = {}

    def keep(layer: int, pattern: Tensor, hook: Any) -> None:
        del hook
        store[layer] = pattern[0].detach().float().cpu()

    hooks = [(pattern_hook_name(layer), partial(keep, layer)) for layer in layers]
    run_batch(model.bridge, pad_sequences([ids], model.pad_token_id), hooks)
    return store
