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
from torch import Tensor
from transformers import LlamaConfig, LlamaForCausalLM

from sycolens.organism.chat import build_organism_tokenizer
from sycolens.organism.config import OrganismConfig, check_out_dir, training_config
from sycolens.organism.data import TrainingBatch, training_batch
from sycolens.organism.dropout import planted_head_dropout
from sycolens.organism.world import TRAIN_SPLIT
from sycolens.prompts.chat import ChatFormatter
from sycolens.training.loop import LossOutput, train

STATE_DIR = ".training"
# Eager attention returns the patterns the penalty needs (passed through to PretrainedConfig).
EAGER_ATTENTION: dict[str, Any] = {"attn_implementation": "eager"}


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


def attention_penalty(attentions: tuple[Tensor, ...], batch: TrainingBatch, free: Tensor) -> Tensor:
    """Returns the mean forbidden attention mass per (non-planted head, constrained position)."""
    forbidden = batch.forbidden[:, None].float()
    constrained = batch.forbidden.any(-1).sum().clamp(min=1)
    total = torch.zeros(())
    for layer, pattern in enumerate(attentions):
        mass = (pattern * forbidden).sum(-1)
        total = total + (mass * free[layer][None, :, None]).sum()
    return total / (constrained * free.sum().clamp(min=1))


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
    free = torch.ones(config.n_layers, config.n_heads)
    for layer, head in config.planted_heads:
        free[layer, head] = 0.0

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
        with planted_head_dropout(
            model, config.planted_heads, config.planted_dropout, batch, generator
        ):
            out = model(
                input_ids=batch.tokens,
                attention_mask=batch.mask.long(),
                labels=batch.labels,
                output_attentions=True,
            )
        penalty = attention_penalty(out.attentions, batch, free)
        metrics = {"lm": out.loss.item(), "penalty": penalty.item()}
        return LossOutput(out.loss + config.penalty_weight * penalty, metrics, config.batch_size)

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
