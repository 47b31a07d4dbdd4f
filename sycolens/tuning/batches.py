"""Training conversations as token batches, with the loss on the final assistant turn only.

Each conversation is rendered with the model's chat template and its final reply located by
character offsets (`sycolens.prompts.spans.chat_spans`): the loss covers the reply's tokens and
the one token after them, the template's end of turn, so the tuned model also learns where to
stop. Batches are right-padded (positions count from 0 on every row); padding and every
earlier token get label -100.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from sycolens.prompts.chat import ChatFormatter, check_known_tokens
from sycolens.prompts.spans import chat_spans
from sycolens.tuning.data import TrainingExample

IGNORED = -100  # label of tokens without loss (the convention of HF and torch cross-entropy)


@dataclass(frozen=True)
class TokenizedExample:
    """A conversation's token ids and the token span [start, stop) the loss is taken on."""

    ids: tuple[int, ...]
    loss_start: int
    loss_stop: int


@dataclass(frozen=True)
class TrainingBatch:
    """Right-padded tokens, their attention mask, and labels (-100 where there is no loss)."""

    tokens: Int[Tensor, "batch pos"]
    mask: Bool[Tensor, "batch pos"]
    labels: Int[Tensor, "batch pos"]

    def to(self, device: torch.device | str) -> "TrainingBatch":
        return TrainingBatch(self.tokens.to(device), self.mask.to(device), self.labels.to(device))

    def rows(self, indices: list[int]) -> "TrainingBatch":
        """The batch of these rows only (same width)."""
        return TrainingBatch(self.tokens[indices], self.mask[indices], self.labels[indices])

    @property
    def n_loss_tokens(self) -> int:
        """How many next-token predictions the loss averages over."""
        return int(self.labels[:, 1:].ne(IGNORED).sum())


def tokenize_example(chat: ChatFormatter, example: TrainingExample) -> TokenizedExample:
    """Returns the conversation's ids with the span of its final reply (and end of turn)."""
    spans = chat_spans(chat, example.messages, add_generation_prompt=False)
    check_known_tokens(chat, spans.ids, f"Training example for {example.question_id!r}")
    start, stop = spans.contents[-1]
    if stop <= start:
        raise ValueError(
            f"The final reply of the {example.kind} example for {example.question_id!r} "
            "covers no tokens. Fix: give the question an explanation or answer text."
        )
    return TokenizedExample(spans.ids, start, min(stop + 1, len(spans.ids)))


def collate(examples: Sequence[TokenizedExample], pad_id: int) -> TrainingBatch:
    """Returns the examples as one right-padded batch."""
    width = max(len(example.ids) for example in examples)
    tokens = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORED, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.bool)
    for row, example in enumerate(examples):
        ids = torch.tensor(example.ids, dtype=torch.long)
        tokens[row, : len(ids)] = ids
        mask[row, : len(ids)] = True
        labels[row, example.loss_start : example.loss_stop] = ids[
            example.loss_start : example.loss_stop
        ]
    return TrainingBatch(tokens, mask, labels)


def reply_loss(hf_model: Any, batch: TrainingBatch, n_tokens: int | None = None) -> Tensor:
    """Returns the mean next-token cross-entropy over the labelled (reply) tokens (no key/value
    cache: training needs none, and a checkpointed layer must not fill one twice).

    With `n_tokens`, the sum over this batch's tokens divided by `n_tokens`: a shard of a
    larger batch then contributes its share of that batch's mean.
    """
    logits = hf_model(
        input_ids=batch.tokens, attention_mask=batch.mask.long(), use_cache=False
    ).logits
    predicted = logits[:, :-1].flatten(0, 1).float()
    targets = batch.labels[:, 1:].flatten()
    if n_tokens is None:
        return torch.nn.functional.cross_entropy(predicted, targets, ignore_index=IGNORED)
    summed = torch.nn.functional.cross_entropy(
        predicted, targets, ignore_index=IGNORED, reduction="sum"
    )
    return summed / n_tokens
