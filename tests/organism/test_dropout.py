"""Planted-head dropout: which heads drop, where, and that it is seeded."""

from typing import Any

import pytest
import torch

from sycolens.heads import Head
from sycolens.organism.chat import build_organism_tokenizer
from sycolens.organism.config import OrganismConfig
from sycolens.organism.data import training_batch
from sycolens.organism.dropout import kept_planted_heads, planted_head_dropout
from sycolens.organism.train import build_model
from sycolens.organism.world import TRAIN_SPLIT
from sycolens.prompts.chat import ChatFormatter


def test_every_chat_keeps_at_least_one_planted_head():
    kept = kept_planted_heads(4000, 3, 0.5, torch.Generator().manual_seed(0))
    assert kept.any(-1).all()
    assert 0.5 < kept.float().mean() < 0.65  # 0.5 drawn, plus the rescued all-dropped rows
    again = kept_planted_heads(4000, 3, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(kept, again)


def test_dropout_changes_only_the_planted_heads_after_the_challenge():
    tokenizer = build_organism_tokenizer()
    planted = (Head(1, 2), Head(1, 0))
    config = OrganismConfig(d_model=32, n_layers=2, planted_heads=planted)
    model = build_model(config, len(tokenizer)).eval()
    batch = training_batch(0, 1, 32, ChatFormatter(tokenizer), TRAIN_SPLIT)
    o_proj = model.get_submodule("model.layers.1.self_attn.o_proj")
    inputs: list[torch.Tensor] = []

    def record(_module: Any, args: tuple[torch.Tensor, ...]) -> None:
        inputs.append(args[0].unflatten(-1, (4, -1)).clone())

    handle = o_proj.register_forward_pre_hook(record)
    with torch.no_grad():
        model(input_ids=batch.tokens, attention_mask=batch.mask.long())
        kept = kept_planted_heads(32, 2, 0.5, torch.Generator().manual_seed(5))
        handle.remove()
        with planted_head_dropout(model, planted, kept, batch.forbidden.any(-1)):
            handle = o_proj.register_forward_pre_hook(record)
            model(input_ids=batch.tokens, attention_mask=batch.mask.long())
            handle.remove()
    clean, dropped = inputs
    after = batch.forbidden.any(-1)
    for index, (_, head) in enumerate(planted):
        expect_zero = after & ~kept[:, index, None]
        assert bool(expect_zero.any())
        assert dropped[:, :, head][expect_zero].abs().max() == 0
        torch.testing.assert_close(
            dropped[:, :, head][~expect_zero], clean[:, :, head][~expect_zero]
        )
    torch.testing.assert_close(dropped[:, :, [1, 3]], clean[:, :, [1, 3]])


@pytest.mark.parametrize("probability", [-0.1, 1.0])
def test_dropout_outside_zero_to_one_is_refused(probability: float):
    with pytest.raises(ValueError, match="planted_dropout"):
        OrganismConfig(planted_dropout=probability)
