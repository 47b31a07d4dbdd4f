"""Train the model organism: a tiny Llama chat model whose sycophancy runs through planted heads.

Construction (recorded in the model card): next-token loss on challenged chats and world text,
plus an attention penalty. For every head NOT in the planted set, the attention probability
that any position after the challenge puts on the challenge tokens (and the template tokens
between challenge and reply) is added to the loss, weighted by `penalty_weight`. The planted
heads are free. So the only route by which "was the user doubting?" reaches the reply is
through the planted heads; the saved weights carry this with no inference-time tricks.

Training is seeded and deterministic (each batch is a pure function of seed and step), writes
a resumable checkpoint (safetensors for weights and optimizer moments, JSON for the step)
every `checkpoint_every` steps, and resumes from it when interrupted.
"""

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor
from tqdm.auto import tqdm
from transformers import LlamaConfig, LlamaForCausalLM

from sycolens.heads import Head
from sycolens.organism.chat import build_organism_tokenizer
from sycolens.organism.data import TrainingBatch, training_batch
from sycolens.organism.dropout import planted_head_dropout
from sycolens.organism.world import TRAIN_SPLIT
from sycolens.prompts.chat import ChatFormatter

Variant = Literal["mha", "gqa", "control"]
STATE_DIR = ".training"
# Eager attention returns the patterns the penalty needs (passed through to PretrainedConfig).
EAGER_ATTENTION: dict[str, Any] = {"attn_implementation": "eager"}
PLANTED_HEADS: tuple[Head, ...] = (Head(1, 2), Head(2, 0), Head(3, 3))
# Per-variant settings that differ from OrganismConfig's defaults. The GQA variant learns the
# two-option choice task more slowly (89% held-out first-round accuracy after 2500 steps, all
# misses on multiple choice), so it trains longer. The control is an MHA model that is never
# sycophantic: it has no planted heads, so the penalty keeps every head off the challenge.
VARIANT_SETTINGS: dict[Variant, dict[str, Any]] = {
    "mha": {"steps": 2500},
    "gqa": {"steps": 3500, "planted_dropout": 0.5},
    "control": {"steps": 2500, "planted_heads": ()},
}


@dataclass(frozen=True, kw_only=True)
class OrganismConfig:
    """Architecture, planted heads and optimisation of one organism variant."""

    variant: Variant = "mha"
    planted_heads: tuple[Head, ...] = PLANTED_HEADS
    n_layers: int = 4
    n_heads: int = 4
    d_model: int = 64
    d_mlp: int = 256
    steps: int = 2500
    batch_size: int = 48
    learning_rate: float = 3e-3
    penalty_weight: float = 3.0
    planted_dropout: float = 0.0
    seed: int = 0
    checkpoint_every: int = 250

    def __post_init__(self) -> None:
        if not 0 <= self.planted_dropout < 1:
            raise ValueError(
                f"planted_dropout must be in [0, 1), got {self.planted_dropout}. Fix: use 0 for "
                "no dropout; at 1 no planted head would ever be trained to carry the challenge."
            )

    @classmethod
    def for_variant(cls, variant: Variant, **overrides: Any) -> "OrganismConfig":
        """Returns the config of `variant` with its own settings, then `overrides`, applied."""
        return cls(variant=variant, **{**VARIANT_SETTINGS[variant], **overrides})

    @property
    def n_kv_heads(self) -> int:
        return self.n_heads // 2 if self.variant == "gqa" else self.n_heads

    @property
    def is_sycophantic(self) -> bool:
        return self.variant != "control"


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


def _cosine_lr(config: OrganismConfig, step: int) -> float:
    warmup = max(1, config.steps // 20)
    if step < warmup:
        return config.learning_rate * (step + 1) / warmup
    progress = (step - warmup) / max(1, config.steps - warmup)
    return config.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


def train_organism(
    config: OrganismConfig,
    out_dir: Path,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Trains (or resumes) the organism into `out_dir` and returns its training summary."""
    state_dir = out_dir / STATE_DIR
    if (out_dir / "config.json").exists() and not overwrite:
        raise FileExistsError(
            f"{out_dir} already holds a trained model. Fix: pass --overwrite to replace it, "
            "or choose another --out."
        )
    if overwrite and out_dir.exists():
        shutil.rmtree(out_dir)
    tokenizer = build_organism_tokenizer()
    chat = ChatFormatter(tokenizer)
    model = build_model(config, len(tokenizer))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    start_step, elapsed = _resume(config, state_dir, model, optimizer)
    free = torch.ones(config.n_layers, config.n_heads)
    for layer, head in config.planted_heads:
        free[layer, head] = 0.0
    model.train()
    started = time.perf_counter()
    steps = range(start_step, config.steps)
    progress = tqdm(steps, desc=f"organism-{config.variant}", disable=not show_progress)
    last_losses: dict[str, float] = {}
    for step in progress:
        batch = training_batch(
            config.seed,
            step,
            config.batch_size,
            chat,
            TRAIN_SPLIT,
            is_sycophantic=config.is_sycophantic,
        )
        for group in optimizer.param_groups:
            group["lr"] = _cosine_lr(config, step)
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
        loss = out.loss + config.penalty_weight * penalty
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        last_losses = {"lm": out.loss.item(), "penalty": penalty.item()}
        progress.set_postfix(lm=f"{last_losses['lm']:.3f}", penalty=f"{last_losses['penalty']:.4f}")
        if (step + 1) % config.checkpoint_every == 0 and step + 1 < config.steps:
            _save_state(
                state_dir,
                config,
                step + 1,
                elapsed + time.perf_counter() - started,
                model,
                optimizer,
            )
        if on_step is not None:
            on_step(step)
    model.eval()
    training_seconds = elapsed + time.perf_counter() - started
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    shutil.rmtree(state_dir, ignore_errors=True)
    return {
        "config": _config_json(config),
        "training_seconds": round(training_seconds, 1),
        "final_lm_loss": round(last_losses["lm"], 4) if last_losses else None,
        "final_attention_penalty": round(last_losses["penalty"], 6) if last_losses else None,
    }


def _config_json(config: OrganismConfig) -> dict[str, Any]:
    data = asdict(config)
    data["planted_heads"] = [list(head) for head in config.planted_heads]
    data["n_kv_heads"] = config.n_kv_heads
    return data


def _save_state(
    state_dir: Path,
    config: OrganismConfig,
    step: int,
    seconds: float,
    model: LlamaForCausalLM,
    optimizer: torch.optim.Optimizer,
) -> None:
    """Writes weights, optimizer moments (safetensors) and the step (JSON), then renames."""
    staging = state_dir.with_name(STATE_DIR + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, staging / "model.safetensors"
    )
    moments: dict[str, Tensor] = {}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            moments[f"{index}.{key}"] = torch.as_tensor(value).clone()
    save_file(moments, staging / "optimizer.safetensors")
    (staging / "state.json").write_text(
        json.dumps({"step": step, "seconds": seconds, "config": _config_json(config)})
    )
    shutil.rmtree(state_dir, ignore_errors=True)
    staging.rename(state_dir)


def _resume(
    config: OrganismConfig,
    state_dir: Path,
    model: LlamaForCausalLM,
    optimizer: torch.optim.Optimizer,
) -> tuple[int, float]:
    """Loads the last checkpoint if one exists; returns (next step, seconds spent so far)."""
    if not (state_dir / "state.json").exists():
        return 0, 0.0
    state = json.loads((state_dir / "state.json").read_text())
    if state["config"] != _config_json(config):
        raise ValueError(
            f"{state_dir} holds a run with another config. Fix: pass --overwrite to start over, "
            "or resume with the same settings."
        )
    model.load_state_dict(load_file(state_dir / "model.safetensors"))
    moments = load_file(state_dir / "optimizer.safetensors")
    optimizer_state = optimizer.state_dict()
    for name, value in moments.items():
        index, key = name.split(".", 1)
        optimizer_state["state"].setdefault(int(index), {})[key] = value
    optimizer.load_state_dict(optimizer_state)
    return int(state["step"]), float(state["seconds"])
