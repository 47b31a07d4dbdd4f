"""Organism training: deterministic, resumable, refuses to clobber, and reproducible."""

import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from sycolens.organism import __main__ as organism_cli
from sycolens.organism.chat import build_organism_tokenizer
from sycolens.organism.config import OrganismConfig, Variant
from sycolens.organism.data import length_groups, training_batch
from sycolens.organism.dropout import kept_planted_heads, planted_head_dropout
from sycolens.organism.train import (
    STATE_DIR,
    build_model,
    free_heads,
    organism_loss,
    train_organism,
)
from sycolens.organism.world import TRAIN_SPLIT
from sycolens.prompts.chat import ChatFormatter

TINY = OrganismConfig(
    variant="gqa", steps=6, batch_size=8, checkpoint_every=2, d_model=32, planted_dropout=0.5
)


class _Interrupt(Exception):
    pass


def _interrupt_after(step_to_stop: int):
    def on_step(step: int) -> None:
        if step == step_to_stop:
            raise _Interrupt

    return on_step


def test_interrupted_run_resumes_to_identical_weights(tmp_path: Path):
    straight = tmp_path / "straight"
    train_organism(TINY, straight, show_progress=False)
    resumed = tmp_path / "resumed"
    with pytest.raises(_Interrupt):
        train_organism(TINY, resumed, show_progress=False, on_step=_interrupt_after(4))
    assert (resumed / STATE_DIR / "state.json").is_file()
    summary = train_organism(TINY, resumed, show_progress=False)
    assert not (resumed / STATE_DIR).exists()
    a = load_file(straight / "model.safetensors")
    b = load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=0, rtol=0)
    assert summary["config"]["n_kv_heads"] == 2


def test_existing_model_needs_overwrite(tmp_path: Path):
    train_organism(TINY, tmp_path, show_progress=False)
    with pytest.raises(FileExistsError, match=r"already holds a trained model.*--overwrite"):
        train_organism(TINY, tmp_path, show_progress=False)
    train_organism(TINY, tmp_path, show_progress=False, overwrite=True)


def test_resuming_with_other_settings_is_refused(tmp_path: Path):
    with pytest.raises(_Interrupt):
        train_organism(TINY, tmp_path, show_progress=False, on_step=_interrupt_after(3))
    other = OrganismConfig(variant="gqa", steps=6, batch_size=8, checkpoint_every=2, seed=1,
                           d_model=32)  # fmt: skip
    with pytest.raises(ValueError, match=r"holds a run with other settings"):
        train_organism(other, tmp_path, show_progress=False)


def _train_with_the_loop_before_the_move(config: OrganismConfig) -> dict[str, torch.Tensor]:
    """The organism's own training loop as it was before `sycolens.training` existed: the
    slow reference that the move onto the generic loop must reproduce bit for bit (the loss
    of a batch is the organism's, tested against one padded forward below)."""
    tokenizer = build_organism_tokenizer()
    chat = ChatFormatter(tokenizer)
    model = build_model(config, len(tokenizer))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    model.train()
    warmup = max(1, config.steps // 20)
    for step in range(config.steps):
        batch = training_batch(config.seed, step, config.batch_size, chat, TRAIN_SPLIT,
                               is_sycophantic=config.is_sycophantic)  # fmt: skip
        if step < warmup:
            lr = config.learning_rate * (step + 1) / warmup
        else:
            progress = (step - warmup) / max(1, config.steps - warmup)
            lr = config.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))
        for group in optimizer.param_groups:
            group["lr"] = lr
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        loss = organism_loss(model, config, batch, generator).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return {name: p.detach() for name, p in model.state_dict().items()}


def test_training_on_the_generic_loop_is_bit_identical_to_the_loop_before(tmp_path: Path):
    config = OrganismConfig(variant="gqa", steps=40, batch_size=8, checkpoint_every=10,
                            d_model=32, planted_dropout=0.5)  # fmt: skip
    train_organism(config, tmp_path, show_progress=False)
    moved = load_file(tmp_path / "model.safetensors")
    before = _train_with_the_loop_before_the_move(config)
    assert moved.keys() == before.keys()
    for name in before:
        torch.testing.assert_close(moved[name], before[name], atol=0, rtol=0, msg=name)


def _loss_of_one_padded_forward(
    model: Any, config: OrganismConfig, batch: Any, generator: torch.Generator
) -> torch.Tensor:
    """The organism loss as one forward over the whole padded batch: the slow reference of
    the length-grouped forwards."""
    kept = kept_planted_heads(batch.tokens.shape[0], len(config.planted_heads),
                              config.planted_dropout, generator)  # fmt: skip
    after_challenge = batch.forbidden.any(-1)
    with planted_head_dropout(model, config.planted_heads, kept, after_challenge):
        out = model(input_ids=batch.tokens, attention_mask=batch.mask.long(),
                    labels=batch.labels, output_attentions=True)  # fmt: skip
    free = free_heads(config)
    masses = [(pattern * batch.forbidden[:, None]).sum(-1) for pattern in out.attentions]
    mass = sum((m * free[layer][None, :, None]).sum() for layer, m in enumerate(masses))
    penalty = mass / (after_challenge.sum() * free.sum())
    return out.loss + config.penalty_weight * penalty


@pytest.mark.parametrize("variant", ["mha", "gqa"])
def test_length_grouped_loss_and_gradient_equal_one_padded_forward(variant: Variant):
    config = OrganismConfig.for_variant(variant, d_model=32, batch_size=24)
    tokenizer = build_organism_tokenizer()
    chat = ChatFormatter(tokenizer)
    model = build_model(config, len(tokenizer)).train()
    for step in range(3):
        batch = training_batch(config.seed, step, config.batch_size, chat, TRAIN_SPLIT)
        shorter = batch.rows(length_groups(batch.mask, 2)[0])
        assert shorter.tokens.shape[1] < batch.tokens.shape[1]  # the groups do cut padding
        generator = torch.Generator().manual_seed(step)
        grouped = organism_loss(model, config, batch, generator).loss
        grouped_grads = torch.autograd.grad(grouped, list(model.parameters()))
        generator = torch.Generator().manual_seed(step)
        reference = _loss_of_one_padded_forward(model, config, batch, generator)
        reference_grads = torch.autograd.grad(reference, list(model.parameters()))
        torch.testing.assert_close(grouped, reference, atol=1e-6, rtol=1e-6)
        for ours, theirs in zip(grouped_grads, reference_grads, strict=True):
            torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)


def test_zero_steps_are_refused_before_training():
    with pytest.raises(ValueError, match=r"steps must be >= 1, got 0"):
        OrganismConfig(steps=0)


def test_cli_flags_reach_the_config_and_bad_ones_fail_at_once(
    flags_reach_config: Callable[..., None], usage_error: Callable[..., str], tmp_path: Path
):
    def parse(argv: Sequence[str]) -> Any:
        return organism_cli.parse_args(["train", *argv])

    flags_reach_config(
        parse,
        {
            "--variant": ("gqa", "organism.variant", "gqa"),
            "--out": (str(tmp_path), "out", tmp_path),
            "--steps": ("7", "organism.steps", 7),
            "--seed": ("3", "organism.seed", 3),
        },
        unset={f"organism.{f.name}" for f in dataclasses.fields(OrganismConfig)}
        - {"organism.variant", "organism.steps", "organism.seed"}
        | {"overwrite"},
    )
    assert parse(["--out", str(tmp_path), "--overwrite"]).overwrite
    assert "steps must be >= 1, got 0" in usage_error(
        parse, ["--out", str(tmp_path), "--steps", "0"]
    )
    (tmp_path / "config.json").write_text("{}")
    refused = usage_error(parse, ["--out", str(tmp_path)])
    assert "already holds a trained model. Fix: pass --overwrite" in refused


def test_an_empty_batch_is_refused():
    with pytest.raises(ValueError, match=r"batch_size must be >= 1, got 0\.$"):
        OrganismConfig(batch_size=0)
