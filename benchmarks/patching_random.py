"""Diagnosis on a random-weight Llama of any shape (default: Llama-2-7B), B x T tokens, against
the plain model and the peer library, side by side in one run.

The baseline is one forward of an unwrapped plain-HF copy of the same weights with SDPA
attention (what a user's model runs; the copy shares the weight tensors). Each row is a
multiple of it: the same weights wrapped by TransformerBridge; the whole `direct` diagnosis
(two forwards + scoring); scoring all heads after the forwards; the exact total effect of every
head at the answer position from the key/value cache (counterfactual capture included); one
head per forward; TransformerLens's `generic_activation_patch`; the literal per-head
Algorithm 1; and TransformerLens's attribution patching (`attribution_patch`, the first-order
estimate of the total effect that sycolens's attribution mode runs), with its error against the
exact total on the same pairs (Spearman raw and sign-corrected, top-10 overlap; called as
sycolens calls it and with the paper's names, see benchmarks/patching.py). The per-head loops
are timed on a sample of heads and multiplied by the head count, attribution patching (one
forward and backward per pair, and a Python loop over every head at every position) on
`--attribution-pairs` pairs and multiplied by B (as printed). Meant for a GPU:

    python benchmarks/patching_random.py --device cuda --dtype bfloat16      # 7B shape, B=8 T=256

and runs on the CPU with a small shape to check the script itself:

    python benchmarks/patching_random.py --layers 4 --d-model 256 --heads 8 --kv-heads 8 \
        --d-mlp 512 --vocab 1000 --batch 4 --seq 64
"""

import argparse
import tempfile
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from patching import attribution_as_named, compare_with_exact
from peers import plain_forward, transformer_lens_answer_patch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from sycolens.models.load import DTYPES, LoadedModel, wrap_hf_model
from sycolens.models.tiny import build_tiny_tokenizer
from sycolens.patching.attribution import attribution_logit_diff_changes
from sycolens.patching.capture import capture_answer_activations
from sycolens.patching.diagnose import DiagnoseConfig, all_heads, diagnose_heads
from sycolens.patching.direct import direct_patched_logit_diffs
from sycolens.patching.metrics import label_logit_diff
from sycolens.patching.reference import literal_path_patching, one_head_total_patching
from sycolens.patching.total import total_patched_logit_diffs
from sycolens.prompts.batch import TokenBatch
from sycolens.prompts.labels import LabelTokens
from sycolens.prompts.pairs import TokenizedPairs


def random_llama(args: argparse.Namespace) -> tuple[LoadedModel, Any]:
    """Returns the random model wrapped by the bridge, and an unwrapped SDPA copy that shares
    its weight tensors (no second copy in memory)."""
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
    with torch.device("meta"):
        plain: Any = LlamaForCausalLM._from_config(config, attn_implementation="sdpa")  # pyright: ignore[reportPrivateUsage]
    plain.load_state_dict(hf_model.state_dict(), assign=True)
    for name, buffer in hf_model.named_buffers():  # rotary frequencies are not in the state
        module, _, attribute = name.rpartition(".")
        setattr(plain.get_submodule(module), attribute, buffer)
    plain.eval()
    # Saved and reloaded: TransformerBridge reads the tokenizer's `name_or_path`.
    folder = tempfile.mkdtemp(prefix="sycolens-bench-")
    build_tiny_tokenizer().save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    wrapped = wrap_hf_model(hf_model, tokenizer, model_id="random-llama",
                            checkpoint="random-llama", device=args.device,
                            dtype=DTYPES[args.dtype])  # fmt: skip
    return wrapped, plain


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


def _timed_once(fn: Callable[[], Any], device: str) -> tuple[Any, float]:
    """Returns fn's result and its wall time, synchronising CUDA around it."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name, default in [("layers", 32), ("d-model", 4096), ("heads", 32), ("kv-heads", 32),
                          ("d-mlp", 11008), ("vocab", 32000), ("batch", 8), ("seq", 256),
                          ("literal-heads", 8), ("total-heads", 16),
                          ("attribution-pairs", 2)]:  # fmt: skip
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    model, plain = random_llama(args)
    pairs = random_pairs(args)
    labels = LabelTokens(syco_word="a", anti_word="b", syco_id=11, anti_id=12,
                         syco_token="a", anti_token="b")  # fmt: skip
    heads = all_heads(model)
    batch = pairs.reference.to(args.device)
    print(
        f"random Llama: {args.layers} layers x {args.heads} heads ({args.kv_heads} KV), "
        f"d_model {args.d_model}, B={args.batch}, T={args.seq}, {args.device} {args.dtype}"
    )
    same = plain(input_ids=batch.tokens).logits - model.hf_model(input_ids=batch.tokens).logits
    print(f"  plain copy vs bridged model, max |logit difference|: {same.abs().max():.2e}")
    plain_s = timed(lambda: plain_forward(plain, batch), args.device)
    bridged_s = timed(lambda: model.hf_model(input_ids=batch.tokens), args.device)
    config = DiagnoseConfig(mode="direct", batch_size=args.batch)
    diagnose_s = timed(
        lambda: diagnose_heads(model, pairs, labels, config, show_progress=False), args.device
    )
    reference = capture_answer_activations(model, pairs.reference)
    counterfactual = capture_answer_activations(model, pairs.counterfactual)
    scoring_s = timed(
        lambda: direct_patched_logit_diffs(model, reference, counterfactual, labels), args.device
    )
    total = total_patched_logit_diffs(model, pairs, labels, heads, heads_per_forward=len(heads))
    total_s = timed(
        lambda: total_patched_logit_diffs(
            model, pairs, labels, heads, heads_per_forward=len(heads)
        ),
        args.device,
    )
    per_head = {
        "one head per forward (total)": (
            lambda sample: one_head_total_patching(model, pairs, labels, sample),
            args.total_heads,
        ),
        "TransformerLens generic_activation_patch": (
            lambda sample: transformer_lens_answer_patch(model, pairs, labels, sample),
            args.total_heads,
        ),
        "literal Algorithm 1 (direct)": (
            lambda sample: literal_path_patching(model, pairs, labels, sample),
            args.literal_heads,
        ),
    }
    looped: dict[str, float] = {}
    for name, (run, n_sample) in per_head.items():
        sample = heads[:: max(1, len(heads) // n_sample)][:n_sample]
        seconds = timed(partial(run, sample), args.device, repeats=1)
        looped[name] = seconds / len(sample) * len(heads)
    rows = [
        ("plain HF forward, SDPA (the baseline)", plain_s),
        ("the same weights under TransformerBridge", bridged_s),
        ("direct diagnosis, end to end", diagnose_s),
        (f"direct scoring of all {len(heads)} heads after the forwards", scoring_s),
        ("total at the answer position, key/value cache, all heads", total_s),
        *((f"{name}, all heads (extrapolated)", seconds) for name, seconds in looped.items()),
    ]
    n_attributed = min(args.attribution_pairs, args.batch)
    attributed = pairs.select(slice(0, n_attributed))
    attribution_logit_diff_changes(model, pairs.select(slice(0, 1)), labels)  # warm-up
    estimate, attribution_s = _timed_once(
        lambda: attribution_logit_diff_changes(model, attributed, labels), args.device
    )
    named, named_s = _timed_once(
        lambda: attribution_as_named(model, attributed, labels), args.device
    )
    attribution_s, named_s = (t * args.batch / n_attributed for t in (attribution_s, named_s))
    rows += [
        ("TransformerLens attribution_patch, as sycolens calls it (x B)", attribution_s),
        ("TransformerLens attribution_patch, the paper's names (x B)", named_s),
    ]
    for name, seconds in rows:
        print(f"  {name:<66} {seconds * 1e3:11.1f} ms = {seconds / plain_s:9.2f}x plain")
    sample = heads[:: max(1, len(heads) // args.total_heads)][: args.total_heads]
    difference = total[:, [heads.index(head) for head in sample]] - one_head_total_patching(
        model, pairs, labels, sample
    )
    print(f"  total vs one head per forward, max |difference| on the sample: "
          f"{difference.abs().max():.2e} ({args.dtype})")  # fmt: skip
    literal_s = looped["literal Algorithm 1 (direct)"]
    print(f"  direct vs literal Algorithm 1: {literal_s / diagnose_s:.1f}x")
    for name in ("one head per forward (total)", "TransformerLens generic_activation_patch"):
        print(f"  total (answer position) vs {name}: {looped[name] / total_s:.1f}x")
    print(f"  exact total / attribution patching time: {total_s / attribution_s:.3f} (attribution "
          f"timed on {n_attributed} of {args.batch} pairs, x {args.batch})")  # fmt: skip
    clean = label_logit_diff(reference.logits, labels)[:n_attributed, None]
    exact = (total[:n_attributed] - clean).float().cpu()
    compare_with_exact("as sycolens calls it", estimate, exact, heads, set())
    compare_with_exact("with the paper's names", named, exact, heads, set(), sign=-1)
    if args.device.startswith("cuda"):
        print(f"  peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
