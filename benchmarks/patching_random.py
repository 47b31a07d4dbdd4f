"""Direct path patching on a random-weight Llama of any shape (default: Llama-2-7B), B x T tokens.

Times, in one run: one plain forward; the whole `direct` diagnosis (two forwards + scoring);
scoring all heads after the two cached forwards; and the literal per-head Algorithm 1 (timed on
a sample of heads, per-head time x head count, as printed). Meant for a GPU:

    python benchmarks/patching_random.py --device cuda --dtype bfloat16      # 7B shape, B=8 T=256

and runs on the CPU with a small shape to check the script itself:

    python benchmarks/patching_random.py --layers 4 --d-model 256 --heads 8 --kv-heads 8 \
        --d-mlp 512 --vocab 1000 --batch 4 --seq 64
"""

import argparse
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from sycolens.models.load import DTYPES, LoadedModel, wrap_hf_model
from sycolens.models.tiny import build_tiny_tokenizer
from sycolens.patching.capture import capture_answer_activations
from sycolens.patching.diagnose import DiagnoseConfig, all_heads, diagnose_heads
from sycolens.patching.direct import direct_patched_logit_diffs
from sycolens.patching.reference import literal_path_patching
from sycolens.prompts.batch import TokenBatch
from sycolens.prompts.labels import LabelTokens
from sycolens.prompts.pairs import TokenizedPairs


def random_llama(args: argparse.Namespace) -> LoadedModel:
    config = LlamaConfig(
        vocab_size=args.vocab,
        hidden_size=args.d_model,
        intermediate_size=args.d_mlp,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        max_position_embeddings=max(4096, args.seq),
    )
    with torch.device(args.device):
        hf_model: Any = LlamaForCausalLM(config)
    hf_model = hf_model.to(DTYPES[args.dtype]).eval()
    # Saved and reloaded: TransformerBridge reads the tokenizer's `name_or_path`.
    folder = tempfile.mkdtemp(prefix="sycolens-bench-")
    build_tiny_tokenizer().save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return wrap_hf_model(hf_model, tokenizer, model_id="random-llama", checkpoint="random-llama",
                         device=args.device, dtype=DTYPES[args.dtype])  # fmt: skip


def random_pairs(args: argparse.Namespace) -> TokenizedPairs:
    """Reference and counterfactual prompts that differ in a few tokens, all of length T."""
    generator = torch.Generator().manual_seed(0)
    reference = torch.randint(10, args.vocab, (args.batch, args.seq), generator=generator)
    counterfactual = reference.clone()
    counterfactual[:, -12:-8] = torch.randint(10, args.vocab, (args.batch, 4), generator=generator)
    mask = torch.ones_like(reference, dtype=torch.bool)
    lengths = (args.seq,) * args.batch
    ids = tuple(f"random-{i}" for i in range(args.batch))
    return TokenizedPairs(ids, TokenBatch(reference, mask, lengths),
                          TokenBatch(counterfactual, mask, lengths))  # fmt: skip


def timed(fn: Callable[[], Any], device: str, repeats: int = 3) -> float:
    """Returns the best of `repeats` wall times, synchronising CUDA around each."""
    best = float("inf")
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name, default in [("layers", 32), ("d-model", 4096), ("heads", 32), ("kv-heads", 32),
                          ("d-mlp", 11008), ("vocab", 32000), ("batch", 8), ("seq", 256),
                          ("literal-heads", 8)]:  # fmt: skip
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    model = random_llama(args)
    pairs = random_pairs(args)
    labels = LabelTokens(syco_word="a", anti_word="b", syco_id=11, anti_id=12,
                         syco_token="a", anti_token="b")  # fmt: skip
    heads = all_heads(model)
    batch = pairs.reference.to(args.device)
    print(
        f"random Llama: {args.layers} layers x {args.heads} heads ({args.kv_heads} KV), "
        f"d_model {args.d_model}, B={args.batch}, T={args.seq}, {args.device} {args.dtype}"
    )
    forward_s = timed(lambda: model.hf_model(input_ids=batch.tokens), args.device)
    config = DiagnoseConfig(mode="direct", batch_size=args.batch)
    diagnose_s = timed(
        lambda: diagnose_heads(model, pairs, labels, config, show_progress=False), args.device
    )
    reference = capture_answer_activations(model, pairs.reference)
    counterfactual = capture_answer_activations(model, pairs.counterfactual)
    scoring_s = timed(
        lambda: direct_patched_logit_diffs(model, reference, counterfactual, labels), args.device
    )
    sample = heads[:: max(1, len(heads) // args.literal_heads)]
    literal_sample_s = timed(
        lambda: literal_path_patching(model, pairs, labels, sample), args.device, repeats=1
    )
    literal_s = literal_sample_s / len(sample) * len(heads)
    print(f"  one plain HF forward:                 {forward_s * 1e3:10.1f} ms")
    print(
        f"  direct diagnosis, end to end:         {diagnose_s * 1e3:10.1f} ms "
        f"({diagnose_s / forward_s:.2f}x one forward)"
    )
    print(f"  scoring all {len(heads)} heads after forwards: {scoring_s * 1e3:10.1f} ms")
    print(
        f"  literal Algorithm 1, {len(heads)} heads:      {literal_s * 1e3:10.1f} ms "
        f"(per-head time from {len(sample)} heads x {len(heads)})"
    )
    print(f"  speed-up direct vs literal:           {literal_s / diagnose_s:10.1f}x")
    if args.device.startswith("cuda"):
        print(f"  peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
