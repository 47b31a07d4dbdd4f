"""Time one-pass `direct` patching against literal Algorithm 1, and the key/value-cache `total`
effect at the answer position against one head per forward and TransformerLens's patching
utility, and the total effect at every position (pairs aligned by "I do really think...")
layer by layer against every layer through the bridge and one head per forward, side by side
in one run on SmolLM2-135M-Instruct (CPU by default).

The literal loop costs one full forward per head (270 heads on SmolLM2). Running all of it at
32 pairs takes tens of minutes on 2 cores, so by default it is timed on `--literal-heads` heads
spread over all layers and the per-head time is multiplied by the head count; the printout says
so. `--literal-heads 0` runs every head.

    python benchmarks/patching.py [--pairs 32] [--literal-heads 15] [--total-pairs 8] \
        [--total-heads 18]
"""

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch
from peers import plain_forward, transformer_lens_answer_patch
from transformers import AutoModelForCausalLM

from sycolens.data.questions import load_bundled_questions
from sycolens.models import load_model
from sycolens.models.load import LoadedModel
from sycolens.models.sources import resolve_checkpoint
from sycolens.patching.capture import capture_answer_activations
from sycolens.patching.diagnose import DiagnoseConfig, all_heads, diagnose_heads
from sycolens.patching.direct import direct_patched_logit_diffs
from sycolens.patching.reference import literal_path_patching, one_head_total_patching
from sycolens.patching.total import total_patched_logit_diffs
from sycolens.prompts.labels import resolve_label_tokens
from sycolens.prompts.pairs import TokenizedPairs, build_pairs, tokenize_pairs
from sycolens.prompts.schema import COUNTERFACTUAL_CHALLENGE


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


# Aligned token by token with the paper's reference challenge for SmolLM2's tokenizer.
ALIGNED_COUNTERFACTUAL = "I do really think that's right. Are you sure?"


def tokenized_pairs(
    model: LoadedModel, n: int, counterfactual: str = COUNTERFACTUAL_CHALLENGE
) -> tuple[TokenizedPairs, Any]:
    prompt_pairs = build_pairs(
        load_bundled_questions()[:n], counterfactual_challenge=counterfactual
    )
    pairs = tokenize_pairs(
        prompt_pairs, model.chat, n_ctx=model.n_ctx, pad_token_id=model.pad_token_id
    )
    labels = resolve_label_tokens(model.chat, prompt_pairs[0].reference, syco_word="I")
    return pairs, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--literal-heads", type=int, default=15)
    parser.add_argument("--total-pairs", type=int, default=8)
    parser.add_argument("--total-heads", type=int, default=18)
    parser.add_argument("--all-positions-heads", type=int, default=30)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    model = load_model(args.model)
    heads = all_heads(model)
    print(f"{args.model}: {len(heads)} heads, torch threads {torch.get_num_threads()}")

    pairs, labels = tokenized_pairs(model, args.pairs)
    print(
        f"\n[direct vs literal Algorithm 1] {len(pairs)} pairs, "
        f"{pairs.reference.tokens.shape[1]} positions (left-padded), one batch"
    )
    config = DiagnoseConfig(mode="direct", batch_size=args.pairs)
    _, direct_s = timed(lambda: diagnose_heads(model, pairs, labels, config, show_progress=False))
    reference = capture_answer_activations(model, pairs.reference)
    counterfactual = capture_answer_activations(model, pairs.counterfactual)
    _, algebra_s = timed(
        lambda: direct_patched_logit_diffs(model, reference, counterfactual, labels)
    )
    sample = (
        heads if args.literal_heads == 0 else heads[:: max(1, len(heads) // args.literal_heads)]
    )
    _, literal_sample_s = timed(lambda: literal_path_patching(model, pairs, labels, sample))
    literal_s = literal_sample_s / len(sample) * len(heads)
    how = "measured" if len(sample) == len(heads) else f"extrapolated from {len(sample)} heads"
    print(f"  direct, end to end (2 forwards + scoring): {direct_s:8.2f} s")
    print(f"  direct, scoring all heads after the forwards: {algebra_s * 1e3:8.1f} ms")
    print(
        f"  literal, all {len(heads)} heads ({how}): {literal_s:8.1f} s "
        f"({literal_sample_s / len(sample):.2f} s per head)"
    )
    print(f"  speed-up direct vs literal: {literal_s / direct_s:8.1f}x")
    captured = sum(t.numel() * t.element_size() for t in (reference.z, reference.final_residual))
    print(f"  direct keeps {captured / 2**20:.2f} MiB of activations per side (last position only)")

    small, small_labels = tokenized_pairs(model, args.total_pairs)
    plain_model = AutoModelForCausalLM.from_pretrained(
        resolve_checkpoint(args.model), attn_implementation="sdpa", use_safetensors=True
    ).eval()
    benchmark_total_at_answer(model, plain_model, small, small_labels, args.total_heads)
    aligned, aligned_labels = tokenized_pairs(model, args.total_pairs, ALIGNED_COUNTERFACTUAL)
    benchmark_total_at_every_position(model, aligned, aligned_labels, args.all_positions_heads)


def benchmark_total_at_answer(
    model: LoadedModel, plain_model: Any, pairs: TokenizedPairs, labels: Any, n_sample: int
) -> None:
    """Total effect of every head at the answer position: key/value cache vs one head per
    forward (timed on a sample of heads, per-head time x head count) vs TransformerLens."""
    heads = all_heads(model)
    sample = heads[:: max(1, len(heads) // n_sample)][:n_sample]
    print(
        f"\n[total effect at the answer position] {len(pairs)} pairs, "
        f"{pairs.reference.tokens.shape[1]} positions, {len(heads)} heads"
    )
    plain_forward(plain_model, pairs.reference)  # warm-up
    _, plain_s = timed(lambda: plain_forward(plain_model, pairs.reference))
    cached, cached_s = timed(
        lambda: total_patched_logit_diffs(model, pairs, labels, heads, heads_per_forward=len(heads))
    )
    looped, looped_sample_s = timed(lambda: one_head_total_patching(model, pairs, labels, sample))
    _, peer_sample_s = timed(lambda: transformer_lens_answer_patch(model, pairs, labels, sample))
    looped_s = looped_sample_s / len(sample) * len(heads)
    peer_s = peer_sample_s / len(sample) * len(heads)
    columns = [heads.index(head) for head in sample]
    difference = (cached[:, columns] - looped).abs().max()
    print(f"  plain HF forward (SDPA) of the reference batch: {plain_s:8.2f} s")
    print(
        f"  key/value cache, all heads (counterfactual capture included): {cached_s:8.2f} s "
        f"= {cached_s / plain_s:.1f} plain forwards"
    )
    print(f"  one head per forward (extrapolated from {len(sample)} heads): {looped_s:8.1f} s")
    print(f"  TransformerLens generic_activation_patch (same extrapolation): {peer_s:8.1f} s")
    print(f"  total (answer position) vs one head per forward: {looped_s / cached_s:.1f}x")
    print(f"  total (answer position) vs TransformerLens: {peer_s / cached_s:.1f}x")
    print(f"  max |difference| from one head per forward on the sample: {difference:.2e}")


def benchmark_total_at_every_position(
    model: LoadedModel, pairs: TokenizedPairs, labels: Any, n_sample: int
) -> None:
    """Total effect with every position patched (aligned pairs), on heads spread over all
    layers: layer by layer through the plain network vs every layer through the bridge (what
    runs while something is hooked in) vs one head per forward, on the same heads."""
    heads = all_heads(model)
    sample = heads[:: max(1, len(heads) // n_sample)][:n_sample]
    print(
        f"\n[total effect at every position] {len(pairs)} aligned pairs, "
        f"{pairs.reference.tokens.shape[1]} positions, {len(sample)} heads over all layers"
    )

    def total() -> torch.Tensor:
        return total_patched_logit_diffs(
            model, pairs, labels, sample, positions="all", heads_per_forward=8
        )

    stepped, stepped_s = timed(total)
    final_norm = model.hf_model.get_submodule(model.architecture.final_norm)
    handle = final_norm.register_forward_pre_hook(lambda _module, _args: None)  # any hook
    try:
        bridged, bridged_s = timed(total)
    finally:
        handle.remove()
    looped, looped_s = timed(
        lambda: one_head_total_patching(model, pairs, labels, sample, positions="all")
    )
    print(f"  layer by layer, plain network: {stepped_s:8.2f} s")
    print(f"  every layer, bridge (8 copies per forward): {bridged_s:8.2f} s")
    print(f"  one head per forward: {looped_s:8.2f} s")
    print(f"  total (every position) vs every layer through the bridge: "
          f"{bridged_s / stepped_s:.1f}x")  # fmt: skip
    print(f"  total (every position) vs one head per forward: {looped_s / stepped_s:.1f}x")
    difference = max((stepped - looped).abs().max(), (bridged - looped).abs().max())
    print(f"  max |difference| from one head per forward: {difference:.2e}")


if __name__ == "__main__":
    main()
