"""Greedy, batched reply generation with the KV cache, on the HF model the bridge wraps."""

from collections.abc import Sequence
from typing import Any

import torch

from sycolens.models.forward import position_ids
from sycolens.models.load import LoadedModel
from sycolens.prompts.chat import Message
from sycolens.prompts.pairs import left_pad


def generate_replies(
    model: LoadedModel, chats: Sequence[Sequence[Message]], *, max_new_tokens: int = 48
) -> list[str]:
    """Returns the model's greedy reply to each chat (special tokens stripped)."""
    if not chats:
        return []
    pad_id = model.pad_token_id
    batch = left_pad([model.chat.tokenize(chat) for chat in chats], pad_id).to(model.device)
    hf_model: Any = model.hf_model
    with torch.no_grad():
        out = hf_model.generate(
            input_ids=batch.tokens,
            attention_mask=batch.mask.long(),
            position_ids=position_ids(batch.mask),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=pad_id,
        )
    new_tokens = out[:, batch.tokens.shape[1] :]
    texts = model.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return [text.strip() for text in texts]
