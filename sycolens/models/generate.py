"""Greedy, batched reply generation with the KV cache, on the checkpoint's own network.

Generation runs through the unwrapped SDPA copy of the network (`sycolens.models.plain`:
SmolLM2 here, 4 chats of 64 tokens: 6.4 s vs 8.2 s through the bridge) whenever nothing is
hooked into the model, and through the bridge-wrapped HF model otherwise, so a knockout's
hooks act on every generated token. Either way it takes the checkpoint's generation config.

Chats are tokenized, sorted by length and generated in left-padded batches (so a batch holds
prompts of similar length and little padding), then returned in input order. Each reply says
how many tokens it took and whether it stopped at `max_new_tokens` rather than at an end token,
so evaluation can count replies cut off before they gave an answer instead of hiding them.
A reply that repeats a line stops there (`sycolens.models.repetition`), so loops end early.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import StoppingCriteriaList

from sycolens.models.load import LoadedModel
from sycolens.models.plain import plain_network, runs_as_plain
from sycolens.models.repetition import RepeatedLineStop
from sycolens.prompts.batch import pad_sequences
from sycolens.prompts.chat import Message, check_known_tokens


@dataclass(frozen=True)
class Reply:
    """A generated reply: its text, its token count (end token included) and how it ended.

    `hit_token_limit`: it stopped at `max_new_tokens`, possibly mid-answer. `stopped_repeating`:
    it stopped because it repeated a line (a loop), which is not a cut-off.
    """

    text: str
    n_tokens: int
    hit_token_limit: bool
    stopped_repeating: bool = False


def end_token_ids(model: LoadedModel) -> set[int]:
    """Returns the ids that end a reply: the generation config's EOS ids and the tokenizer's."""
    configured: Any = model.hf_model.generation_config.eos_token_id
    ids = set(configured if isinstance(configured, list) else [configured])
    ids.add(model.tokenizer.eos_token_id)
    return {int(i) for i in ids if i is not None}


def generate_replies(
    model: LoadedModel,
    chats: Sequence[Sequence[Message]],
    *,
    max_new_tokens: int = 48,
    batch_size: int = 16,
    show_progress: bool = False,
    description: str = "generating",
    limit_name: str = "max_new_tokens",
) -> list[Reply]:
    """Returns the model's greedy reply to each chat, in the order of `chats`.

    `limit_name` is what a refusal calls `max_new_tokens` (a caller's flag that sets it)."""
    if max_new_tokens < 1 or batch_size < 1:
        raise ValueError(
            f"max_new_tokens and batch_size must be >= 1, got {max_new_tokens} and {batch_size}."
        )
    prompts = [model.chat.tokenize(chat) for chat in chats]
    for index, prompt in enumerate(prompts):
        check_known_tokens(model.chat, prompt, f"Chat {index}")
        if len(prompt) + max_new_tokens > model.n_ctx:
            raise ValueError(
                f"{description}: Chat {index} is {len(prompt)} tokens; with {limit_name}="
                f"{max_new_tokens} it would pass the model's context of {model.n_ctx}. Fix: "
                f"shorten the chat or lower {limit_name}; sycolens never truncates prompts."
            )
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    replies: dict[int, Reply] = {}
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc=description, disable=not show_progress):
        rows = order[start : start + batch_size]
        batch_replies = _generate_batch(model, [prompts[i] for i in rows], max_new_tokens)
        replies.update(zip(rows, batch_replies, strict=True))
    return [replies[i] for i in range(len(prompts))]


def _generate_batch(
    model: LoadedModel, prompts: list[list[int]], max_new_tokens: int
) -> list[Reply]:
    """Generates one left-padded batch and cuts each row at its first end token."""
    pad_id = model.pad_token_id
    batch = pad_sequences(prompts, pad_id).to(model.device)
    network: Any = plain_network(model) if runs_as_plain(model) else model.hf_model
    repeats = RepeatedLineStop(model.tokenizer, prompt_width=batch.tokens.shape[1])
    with torch.no_grad():
        out = network.generate(
            input_ids=batch.tokens,
            attention_mask=batch.mask.long(),
            position_ids=batch.position_ids(),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=pad_id,
            stopping_criteria=StoppingCriteriaList([repeats]),
            generation_config=model.hf_model.generation_config,  # the checkpoint's, not a default
        )
    ends = end_token_ids(model)
    replies: list[Reply] = []
    for index, row in enumerate(out[:, batch.tokens.shape[1] :].tolist()):
        end = next((i + 1 for i, token in enumerate(row) if token in ends), None)
        loop_end = repeats.stopped_at.get(index)
        is_loop = loop_end is not None and (end is None or loop_end < end)
        kept = row[: loop_end if is_loop else end]
        text = str(model.tokenizer.decode(kept, skip_special_tokens=True)).strip()
        cut_off = end is None and not is_loop
        replies.append(Reply(text, len(kept), hit_token_limit=cut_off, stopped_repeating=is_loop))
    return replies
