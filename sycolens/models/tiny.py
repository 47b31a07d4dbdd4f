"""Tiny random-weight checkpoints of each family sycolens supports, built locally from a config.

They exercise the real loading path (`save_pretrained` -> `load_model`) for families this
machine cannot download, and give tests a fast model with a real tokenizer and chat template.
"""

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, get_args

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from sycolens.prompts.chat import CHATML_TEMPLATE

TinyFamily = Literal[
    "llama", "llama-gqa", "llama3", "mistral", "mixtral", "qwen2", "qwen3", "qwen3_moe",
    "gemma", "gemma2", "gemma3_text", "phi3", "phi", "olmo2", "granite", "cohere", "smollm3",
    "stablelm", "gpt2",
]  # fmt: skip
TINY_FAMILIES: tuple[TinyFamily, ...] = get_args(TinyFamily)

# The families' chat templates, in their real formats (their special tokens are in the vocab).
# Gemma has no system role (its template raises on one) and calls the assistant "model".
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)
LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}"
)
# Meta's Llama-2 chat template: BOS/EOS wrap each exchange, a system message joins the first.
LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = '<<SYS>>\n' + messages[0]['content'] + '\n<</SYS>>\n\n' %}"
    "{% else %}{% set loop_messages = messages %}{% set system_message = '' %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if loop.index0 == 0 %}{% set content = system_message + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}"
    "{% endif %}{% endfor %}"
)
# Mistral-Instruct's: one BOS, [INST] turns, each reply ended by EOS.
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] + eos_token }}{% endif %}{% endfor %}"
)
PHI3_TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + "
    "'<|end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",  # pad, BOS, EOS: ids 0, 1, 2
    "<start_of_turn>", "<end_of_turn>", "<|start_header_id|>", "<|end_header_id|>",
    "<|eot_id|>", "[INST]", "[/INST]", "<|user|>", "<|assistant|>", "<|end|>",
]  # fmt: skip
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
    chat_template: str | None = CHATML_TEMPLATE,
) -> PreTrainedTokenizerFast:
    """Returns a byte-level BPE tokenizer trained on `corpus`, with `chat_template` (ChatML by
    default; None: no template, so chats fall back to HUMAN/ASSISTANT)."""
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
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer


# Every family at one size: d_model 32, 2 layers, 4 heads of 8 (2 key/value heads where the
# family has grouped-query attention), vocabulary of the tiny tokenizer.
_BASE: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 1024,
}
_GQA: dict[str, Any] = {**_BASE, "num_key_value_heads": 2}
_HEAD_DIM: dict[str, Any] = {"head_dim": 8}
_SLIDING_THEN_GLOBAL: dict[str, Any] = {
    **_GQA,
    **_HEAD_DIM,
    "query_pre_attn_scalar": 8,
    "sliding_window": 128,  # longer than test prompts: total mode refuses cropped windows
    "layer_types": ["sliding_attention", "full_attention"],
}
# family -> (transformers model_type, config fields). Each exercises a structural variant:
_TINY_SPECS: dict[TinyFamily, tuple[str, dict[str, Any]]] = {
    "llama": ("llama", {**_BASE, "num_key_value_heads": 4}),
    "llama-gqa": ("llama", _GQA),
    "llama3": (  # Llama-3.x rope scaling
        "llama",
        {
            **_GQA,
            "rope_parameters": {
                "rope_type": "llama3",
                "rope_theta": 500000.0,
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64,
            },
        },
    ),  # fmt: skip
    "mistral": ("mistral", _GQA),
    "mixtral": ("mixtral", {**_GQA, "num_local_experts": 4, "num_experts_per_tok": 2}),
    "qwen2": ("qwen2", _GQA),  # biased q/k/v
    "qwen3": ("qwen3", {**_GQA, **_HEAD_DIM}),  # per-head query/key norms
    "qwen3_moe": (
        "qwen3_moe",
        {
            **_GQA,
            **_HEAD_DIM,
            "num_experts": 4,
            "num_experts_per_tok": 2,
            "moe_intermediate_size": 16,
            "decoder_sparse_step": 1,
            "mlp_only_layers": [],
        },
    ),  # fmt: skip
    "gemma": ("gemma", {**_GQA, **_HEAD_DIM}),  # scaled embeddings, (1 + w) norms
    "gemma2": (  # norm on the attention output, soft-capped logits and attention scores
        "gemma2",
        {**_SLIDING_THEN_GLOBAL, "final_logit_softcapping": 30.0, "attn_logit_softcapping": 50.0},
    ),
    "gemma3_text": ("gemma3_text", _SLIDING_THEN_GLOBAL),  # and query/key norms
    "phi3": ("phi3", _GQA),  # fused [Q | K | V] qkv_proj
    "phi": ("phi", _BASE),  # attention and MLP in parallel, partial rotary, biased projections
    "olmo2": ("olmo2", _GQA),  # norms after attention and MLP only, query/key norms
    "granite": (  # residual and logit multipliers
        "granite",
        {
            **_GQA,
            "embedding_multiplier": 1.0,
            "residual_multiplier": 0.22,
            "attention_multiplier": 0.125,
            "logits_scaling": 8.0,
        },
    ),  # fmt: skip
    "cohere": ("cohere", {**_GQA, "logit_scale": 0.0625, "use_qk_norm": True}),  # parallel
    "smollm3": ("smollm3", {**_GQA, "no_rope_layer_interval": 2}),  # layers without rotary
    "stablelm": (
        "stablelm",
        {**_BASE, "num_key_value_heads": 4, "use_qkv_bias": True},
    ),  # partial rotary, LayerNorm
    "gpt2": ("gpt2", {"n_positions": 1024, "n_embd": 32, "n_layer": 2, "n_head": 4}),
}


# Each family's own format; the rest use ChatML (Qwen, SmolLM; "llama" as SmolLM2, a Llama
# that speaks ChatML), GPT-2 none (Table 9).
FAMILY_TEMPLATES: dict[TinyFamily, str | None] = {
    "llama-gqa": LLAMA2_TEMPLATE,
    "mistral": MISTRAL_TEMPLATE,
    "mixtral": MISTRAL_TEMPLATE,
    "llama3": LLAMA3_TEMPLATE,
    "gemma": GEMMA_TEMPLATE,
    "gemma2": GEMMA_TEMPLATE,
    "gemma3_text": GEMMA_TEMPLATE,
    "phi3": PHI3_TEMPLATE,
    "gpt2": None,
}


def build_tiny_model(family: TinyFamily, vocab_size: int, *, seed: int = 0) -> PreTrainedModel:
    """Returns a 2-layer, d_model-32, 4-head random model of `family` (fp32, eval mode).

    Norm weights are moved off their initial value so that a norm read as `w` where the family
    computes `1 + w` (Gemma) shows.
    """
    model_type, fields = _TINY_SPECS[family]
    ids = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}  # the tiny tokenizer's
    config = AutoConfig.for_model(model_type, vocab_size=vocab_size, **ids, **fields)
    torch.manual_seed(seed)
    model: Any = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name or ".ln_" in name:
                parameter.add_(0.1 * torch.randn_like(parameter))
    return model.eval()


def save_tiny_checkpoint(family: TinyFamily, out_dir: Path, *, seed: int = 0) -> Path:
    """Writes a tiny random checkpoint of `family` (safetensors + tokenizer) to `out_dir`."""
    tokenizer = build_tiny_tokenizer(chat_template=FAMILY_TEMPLATES.get(family, CHATML_TEMPLATE))
    model = build_tiny_model(family, len(tokenizer), seed=seed)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir
