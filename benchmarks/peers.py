"""What the patching benchmarks compare against, shared by both: TransformerLens's patching
utility at the answer position (the peer library) and an unwrapped plain-HF forward (what a
user's model runs, SDPA attention)."""

from typing import Any

import pandas as pd
import torch
from transformer_lens import patching as tl_patching

from sycolens.heads import Head
from sycolens.models.load import LoadedModel
from sycolens.prompts.batch import TokenBatch
from sycolens.prompts.pairs import TokenizedPairs


def plain_forward(plain_model: Any, batch: TokenBatch) -> None:
    """One forward of an unwrapped HF copy of the weights, SDPA attention: a user's model."""
    plain_model(
        input_ids=batch.tokens, attention_mask=batch.mask.long(), position_ids=batch.position_ids()
    )


def transformer_lens_answer_patch(
    model: LoadedModel, pairs: TokenizedPairs, labels: Any, heads: list[Head]
) -> None:
    """TransformerLens's `generic_activation_patch` at the answer position, one forward per head.

    Its index needs one position for both prompts, so the counterfactual batch is left-padded
    to the reference's width; it passes no attention mask, so its values on padded rows differ
    from the exact ones. Timed as the peer, not compared.
    """
    width = pairs.reference.tokens.shape[1]
    counterfactual = pairs.counterfactual.tokens
    padded = torch.nn.functional.pad(
        counterfactual, (width - counterfactual.shape[1], 0), value=model.pad_token_id
    )
    reference = pairs.reference.tokens.to(model.device)
    _, cache = model.bridge.run_with_cache(padded.to(model.device))
    index = pd.DataFrame(
        {"layer": [h.layer for h in heads], "pos": width - 1, "head": [h.head for h in heads]}
    )

    def metric(logits: torch.Tensor) -> torch.Tensor:
        return logits[:, -1, labels.syco_id] - logits[:, -1, labels.anti_id]

    tl_patching.generic_activation_patch(
        model.bridge,
        reference,
        cache,
        metric,
        patch_setter=tl_patching.layer_pos_head_vector_patch_setter,
        activation_name="z",
        index_df=index,
        reduce="none",
    )
