"""Training batches for the organism: challenged chats and world text, with challenge spans.

Each chat records where its challenge (the last user message's content) sits in the token
sequence and where the final reply starts, so training can forbid non-planted heads to read
the challenge from any later position (see `sycolens.organism.train`).
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from sycolens.organism.chat import CHALLENGES, challenged_chat, organism_reply
from sycolens.organism.world import WorldSplit, general_text, sample_question
from sycolens.prompts.batch import pad_sequences
from sycolens.prompts.chat import ChatFormatter, Message, Role
from sycolens.prompts.schema import COUNTERFACTUAL_CHALLENGE

GENERAL_TEXT_SHARE = 0.2


@dataclass(frozen=True)
class Example:
    """Token ids of one training sequence; span/reply bounds are -1 for plain text."""

    ids: list[int]
    span_start: int
    span_end: int
    reply_start: int


@dataclass(frozen=True)
class TrainingBatch:
    """Right-padded ids, mask, LM labels and the attention positions forbidden to other heads."""

    tokens: Int[Tensor, "batch pos"]
    mask: Bool[Tensor, "batch pos"]
    labels: Int[Tensor, "batch pos"]
    forbidden: Bool[Tensor, "batch dest_pos src_pos"]

    def rows(self, indices: Int[Tensor, " rows"]) -> "TrainingBatch":
        """Returns the chats at `indices`, their padding cut to the longest of them."""
        width = int(self.mask[indices].sum(-1).max())
        return TrainingBatch(
            self.tokens[indices, :width],
            self.mask[indices, :width],
            self.labels[indices, :width],
            self.forbidden[indices, :width, :width],
        )


def chat_example(chat: ChatFormatter, messages: list[Message]) -> Example:
    """Returns the full chat's ids with the challenge span and reply start located."""
    history, challenge = messages[:2], messages[2]["content"]
    before = chat.render(history, add_generation_prompt=False) + "<|im_start|>user\n"
    span_start = len(chat.encode(before))
    span_end = span_start + len(chat.encode(challenge))
    reply_start = len(chat.tokenize(messages[:3], add_generation_prompt=True))
    ids = chat.tokenize(messages, add_generation_prompt=False)
    return Example(ids, span_start, span_end, reply_start)


def sample_example(
    rng: random.Random, chat: ChatFormatter, split: WorldSplit, *, is_sycophantic: bool = True
) -> Example:
    """Returns a challenged chat (doubt or counterfactual, equally likely) or world text."""
    if rng.random() < GENERAL_TEXT_SHARE:
        return Example(chat.encode(general_text(rng, split)), -1, -1, -1)
    question = sample_question(rng, split, 0)
    is_doubt = rng.random() < 0.5
    challenge = rng.choice(CHALLENGES[:-1]) if is_doubt else COUNTERFACTUAL_CHALLENGE
    reply = organism_reply(question, challenge, is_sycophantic=is_sycophantic)
    reply_message = Message(role="assistant", content=reply)
    return remembered_chat_example(chat, [*challenged_chat(question, challenge), reply_message])


def remembered_chat_example(chat: ChatFormatter, messages: list[Message]) -> Example:
    """`chat_example`, without tokenizing a chat seen before again: training draws the same few
    thousand chats over and over, and tokenizing them was a third of each step."""
    return _chat_example_of_turns(chat, tuple((m["role"], m["content"]) for m in messages))


@lru_cache(maxsize=1 << 16)
def _chat_example_of_turns(chat: ChatFormatter, turns: tuple[tuple[Role, str], ...]) -> Example:
    return chat_example(chat, [Message(role=role, content=content) for role, content in turns])


def forbidden_sources(examples: Sequence[Example], width: int) -> Bool[Tensor, "batch dest src"]:
    """Returns, per example, which (destination, source) attention edges non-planted heads
    must not use.

    From every position after the challenge, the challenge tokens and the template tokens
    between it and the reply are off limits (a position may still attend to itself). Built
    for the whole batch at once: per example and position it was 2 ms of each training step.
    """
    bounds = torch.tensor([[e.span_start, e.span_end, e.reply_start, len(e.ids)] for e in examples])
    start, end, reply, length = (bounds[:, i, None, None] for i in range(4))
    dest = torch.arange(width)[None, :, None]
    src = torch.arange(width)[None, None, :]
    after_challenge = (dest >= end) & (dest < length) & (start >= 0)
    return after_challenge & (src >= start) & (src < dest) & (src < reply)


def length_groups(mask: Bool[Tensor, "batch pos"], n_groups: int) -> list[Int[Tensor, " rows"]]:
    """Returns the batch's rows sorted by length and cut into `n_groups` groups of nearly equal
    size (fewer when the batch has fewer rows), so each group can be padded to its own longest."""
    order = mask.sum(-1).argsort(stable=True)
    return [rows for rows in order.tensor_split(n_groups) if rows.numel()]


def collate(examples: list[Example], pad_token_id: int) -> TrainingBatch:
    """Returns the examples right-padded, with next-token labels (-100 on padding)."""
    batch = pad_sequences([e.ids for e in examples], pad_token_id, side="right")
    labels = batch.tokens.masked_fill(~batch.mask, -100)
    forbidden = forbidden_sources(examples, batch.tokens.shape[1])
    return TrainingBatch(batch.tokens, batch.mask, labels, forbidden)


def training_batch(
    seed: int,
    step: int,
    batch_size: int,
    chat: ChatFormatter,
    split: WorldSplit,
    *,
    is_sycophantic: bool = True,
) -> TrainingBatch:
    """Returns batch number `step`: a pure function of (seed, step), so resuming is exact."""
    rng = random.Random(seed * 1_000_003 + step)
    examples = [
        sample_example(rng, chat, split, is_sycophantic=is_sycophantic) for _ in range(batch_size)
    ]
    pad = chat.tokenizer.pad_token_id
    assert isinstance(pad, int)
    return collate(examples, pad)
