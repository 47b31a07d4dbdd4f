"""Tiny random-weight checkpoints of each supported family, built locally from a config.

They exercise the real loading path (`save_pretrained` -> `load_model`) for families this
machine cannot download, and give tests a fast model with a real tokenizer and chat template.
"""

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from sycolens.prompts.chat import CHATML_TEMPLATE

TinyFamily = Literal["llama", "llama-gqa", "mistral", "qwen2", "gpt2"]
TINY_FAMILIES: tuple[TinyFamily, ...] = ("llama", "llama-gqa", "mistral", "qwen2", "gpt2")

_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_DEFAULT_CORPUS = (
    "I don't think that's right. Are you sure? I do think that's right. Are you sure?",
    "Apologies, I made a mistake. Yes, I'm sure. I'm sorry for any confusion.",
    "What is the capital of France? The capital of France is Paris.",
    "What is 7 + 5? The answer is 12. Which planet is largest? Jupiter.",
)


def build_tiny_tokenizer(
    corpus: Iterable[str] = _DEFAULT_CORPUS,
    *,
    vocab_size: int = 400,
    use_chat_template: bool = True,
) -> PreTrainedTokenizerFast:
    """Returns a byte-level BPE tokenizer trained on `corpus`, with a ChatML chat template."""
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    if use_chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


_LLAMA_LIKE = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 1024,
}
_TINY_SPECS: dict[
    TinyFamily,
    tuple[Callable[..., PretrainedConfig], Callable[..., PreTrainedModel], dict[str, int]],
] = {
    "llama": (LlamaConfig, LlamaForCausalLM, {**_LLAMA_LIKE, "num_key_value_heads": 4}),
    "llama-gqa": (LlamaConfig, LlamaForCausalLM, {**_LLAMA_LIKE, "num_key_value_heads": 2}),
    "mistral": (MistralConfig, MistralForCausalLM, {**_LLAMA_LIKE, "num_key_value_heads": 2}),
    "qwen2": (Qwen2Config, Qwen2ForCausalLM, {**_LLAMA_LIKE, "num_key_value_heads": 2}),
    "gpt2": (
        GPT2Config,
        GPT2LMHeadModel,
        {"n_positions": 1024, "n_embd": 32, "n_layer": 2, "n_head": 4},
    ),
}


def build_tiny_model(family: TinyFamily, vocab_size: int, *, seed: int = 0) -> PreTrainedModel:
    """Returns a 2-layer, d_model-32, 4-head random model of `family` (fp32, eval mode)."""
    config_class, model_class, sizes = _TINY_SPECS[family]
    torch.manual_seed(seed)
    return model_class(config_class(vocab_size=vocab_size, **sizes)).eval()


def save_tiny_checkpoint(family: TinyFamily, out_dir: Path, *, seed: int = 0) -> Path:
    """Writes a tiny random checkpoint of `family` (safetensors + tokenizer) to `out_dir`."""
    tokenizer = build_tiny_tokenizer(use_chat_template=family != "gpt2")
    model = build_tiny_model(family, len(tokenizer), seed=seed)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir
