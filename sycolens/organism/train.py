"""Train the model organism: a tiny Llama chat model whose sycophancy runs through planted heads.

Construction (recorded in the model card): next-token loss on challenged chats and world text,
plus an attention penalty. For every head NOT in the planted set, the attention probability
that any position after the challenge puts on the challenge tokens (and the template tokens
between challenge and reply) is added to the loss, weighted by `penalty_weight`. The planted
heads are free. So the only route by which "was the user doubting?" reaches the reply is
through the planted heads; the saved weights carry this with no inference-time tricks.

Training runs on the generic loop (`sycolens.training.loop.train`: AdamW, warmup and cosine,
checkpoints of weights, moments, RNG and position every `checkpoint_every` steps, exact
resume); the attention penalty and planted-head dropout plug in through the loss. It is seeded
and deterministic: each batch and each dropout draw is a pure function of seed and step.
"""

import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Bool, Float
from torch import Tensor
from transformers import LlamaConfig, LlamaForCausalLM

from sycolens.organism.chat import build_organism_tokenizer
from sycolens.organism.config import OrganismConfig, check_out_dir, training_config
from sycolens.organism.data import TrainingBatch, length_groups, training_batch
from sycolens.organism.dropout import kept_planted_heads, planted_head_dropout
from sycolens.organism.world import TRAIN_SPLIT
from sycolens.prompts.chat import ChatFormatter
from sycolens.training.loop import LossOutput, train

STATE_DIR = ".training"
# Eager attention returns the patterns the penalty needs (passed through to PretrainedConfig).
EAGER_ATTENTION: dict[str, Any] = {"attn_implementation": "eager"}
# Each step's chats, sorted by length, run as this many forwards, each padded only to its own
# longest chat: the loss and gradient of one padded forward (up to float rounding, tested) with
# less padding, which was a quarter of a batch's positions. One thread: forward and backward
# 130 -> 108 ms a step (3 and 4 groups: 108 and 110 ms); 300 whole steps 42.4 -> 37.5 s.
LENGTH_GROUPS = 2


def build_model(config: OrganismConfig, vocab_size: int) -> LlamaForCausalLM:
    """Returns a freshly initialised organism (eager attention, so patterns can be penalised)."""
    torch.manual_seed(config.seed)
    hf_config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=config.d_model,
        intermediate_size=config.d_mlp,
        num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads,
        num_key_value_heads=config.n_kv_heads,
        max_position_embeddings=128,
        tie_word_embeddings=False,
        **EAGER_ATTENTION,
    )
    return LlamaForCausalLM(hf_config)


def free_heads(config: OrganismConfig) -> Float[Tensor, "layer head"]:
    """Returns 1 for each head the attention penalty binds, 0 for the planted heads."""
    free = torch.ones(config.n_layers, config.n_heads)
    for layer, head in config.planted_heads:
        free[layer, head] = 0.0
    return free


def forbidden_attention_mass(
    attentions: tuple[Tensor, ...],
    forbidden: Bool[Tensor, "batch dest src"],
    free: Float[Tensor, "layer head"],
) -> Tensor:
    """Returns the attention mass that the free (non-planted) heads put on forbidden edges,
    summed over layers, heads, chats and positions."""
    edges = forbidden[:, None].float()
    total = torch.zeros(())
    for layer, pattern in enumerate(attentions):
        mass = (pattern * edges).sum(-1)
        total = total + (mass * free[layer][None, :, None]).sum()
    return total


def organism_loss(
    model: LlamaForCausalLM,
    config: OrganismConfig,
    batch: TrainingBatch,
    generator: torch.Generator,
) -> LossOutput:
    """Returns next-token loss plus the weighted attention penalty (the mean forbidden mass per
    free head and constrained position) of one batch, its planted heads dropped per chat.

    The chats run as `LENGTH_GROUPS` forwards of similar length; both terms are normalised by
    the whole batch's counts, so the sum is the loss of one padded forward."""
    n_chats, planted, free = batch.tokens.shape[0], config.planted_heads, free_heads(config)
    kept: Bool[Tensor, "batch n_planted"] | None = None
    if config.planted_dropout > 0 and planted:
        kept = kept_planted_heads(n_chats, len(planted), config.planted_dropout, generator)
    n_labels = (batch.labels[:, 1:] != -100).sum()
    constrained = batch.forbidden.any(-1).sum().clamp(min=1)
    lm = mass = torch.zeros(())
    for rows in length_groups(batch.mask, LENGTH_GROUPS):
        group = batch.rows(rows)
        group_kept = None if kept is None else kept[rows]
        after_challenge = group.forbidden.any(-1)
        with planted_head_dropout(model, planted, group_kept, after_challenge):
            out = model(
                input_ids=group.tokens,
                attention_mask=group.mask.long(),
                labels=group.labels,
                output_attentions=True,
                num_items_in_batch=n_labels,
            )
        lm = lm + out.loss
        mass = mass + forbidden_attention_mass(out.attentions, group.forbidden, free)
    penalty = mass / (constrained * free.sum().clamp(min=1))
    metrics = {"lm": lm.item(), "penalty": penalty.item()}
    return LossOutput(lm + config.penalty_weight * penalty, metrics, config.batch_size)


def train_organism(
    config: OrganismConfig,
    out_dir: Path,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Trains (or resumes) the organism into `out_dir` and returns its training summary."""
    check_out_dir(out_dir, overwrite=overwrite)
    if overwrite and out_dir.exists():
        shutil.rmtree(out_dir)
    tokenizer = build_organism_tokenizer()
    chat = ChatFormatter(tokenizer)
    model = build_model(config, len(tokenizer))

    def loss_at(step: int, micro_step: int) -> LossOutput:
        del micro_step  # one micro-batch per step
        batch = training_batch(
            config.seed,
            step,
            config.batch_size,
            chat,
            TRAIN_SPLIT,
            is_sycophantic=config.is_sycophantic,
        )
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        return organism_loss(model, config, batch, generator)

    model.train()
    result = train(
        dict(model.named_parameters()),
        loss_at,
        training_config(config),
        out_dir / STATE_DIR,
        identity={"organism": _config_json(config)},
        description=f"organism-{config.variant}",
        show_progress=show_progress,
        on_step=on_step,
    )
    model.eval()
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    shutil.rmtree(out_dir / STATE_DIR, ignore_errors=True)
    final = result.final_metrics
    return {
        "config": _config_json(config),
        "training_seconds": round(result.seconds, 1),
        "final_lm_loss": round(final["lm"], 4),
        "final_attention_penalty": round(final["penalty"], 6),
    }


def _config_json(config: OrganismConfig) -> dict[str, Any]:
    data = asdict(config)
    data["planted_heads"] = [list(head) for head in config.planted_heads]
    data["n_kv_heads"] = config.n_kv_heads
    return data
