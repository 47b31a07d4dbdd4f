"""Time one-pass `direct` patching against literal Algorithm 1, and the key/value-cache `total`
effect at the answer position against one head per forward and TransformerLens's patching
utility, and the total effect at every position (pairs aligned by "I do really think...")
layer by layer against every layer through the bridge and one head per forward, and
TransformerLens's attribution patching against the exact total effect, with its error, side by
side in one run on SmolLM2-135M-Instruct (CPU by default; `--model organism-mha` runs the
organism on its own questions, labels and aligned counterfactual).

The literal loop costs one full forward per head (270 heads on SmolLM2). Running all of it at
32 pairs takes tens of minutes on 2 cores, so by default it is timed on `--literal-heads` heads
spread over all layers and the per-head time is multiplied by the head count; the printout says
so. `--literal-heads 0` runs every head. `--sections attribution` runs the last comparison
alone.

Attribution patching (`transformer_lens.tools.analysis.attribution_patching.attribution_patch`)
needs pairs aligned token by token, so it runs on the first agreeing challenge that aligns for
the tokenizer (`sycolens.prompts.alignment`; SmolLM2: "I do really think that's right. Are you
sure?"), and the exact total runs on the same pairs. It is timed called both ways round: as
sycolens's attribution mode calls it (TransformerLens's clean = the counterfactual, corrupt =
the reference, so its denoising sign is the exact total's) and with the paper's names (clean =
the reference), whose sign is reversed; each is scored against the exact changes by Spearman
correlation (raw, and sign-corrected), top-10 overlap by |score| and, on an organism, whether
its top 3 are the planted heads.

    python benchmarks/patching.py [--pairs 32] [--literal-heads 15] [--total-pairs 8] \
        [--total-heads 18] [--sections direct,answer,every,attribution]
"""

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from peers import plain_forward, transformer_lens_answer_patch
from transformer_lens.tools.analysis.attribution_patching import attribution_patch
from transformers import AutoModelForCausalLM

from sycolens.data.questions import load_bundled_questions
from sycolens.data.selection import QuestionSource, select_questions
from sycolens.heads import Head
from sycolens.models import load_model
from sycolens.models.load import LoadedModel
from sycolens.models.registry import question_set_for, table_labels
from sycolens.models.sources import resolve_checkpoint
from sycolens.organism.card import read_card
from sycolens.patching.attribution import attribution_logit_diff_changes
from sycolens.patching.capture import capture_answer_activations
from sycolens.patching.diagnose import DiagnoseConfig, all_heads, diagnose_heads
from sycolens.patching.direct import direct_patched_logit_diffs
from sycolens.patching.metrics import label_logit_diff
from sycolens.patching.reference import literal_path_patching, one_head_total_patching
from sycolens.patching.total import total_patched_logit_diffs
from sycolens.prompts.alignment import aligned_counterfactuals
from sycolens.prompts.label_spec import PAPER_LABELS
from sycolens.prompts.labels import LabelTokens, resolve_label_tokens
from sycolens.prompts.pairs import TokenizedPairs, build_pairs, tokenize_pairs
from sycolens.prompts.schema import COUNTERFACTUAL_CHALLENGE, REFERENCE_CHALLENGE, Question

SECTIONS = ("direct", "answer", "every", "attribution")


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def questions_for(model_name: str, n: int) -> list[Question]:
    """The first n bundled questions, or the first n of the model's own set (an organism's)."""
    source = question_set_for(model_name)
    if source == "bundled":
        return load_bundled_questions()[:n]
    return list(select_questions(QuestionSource(source=source, n=n)).questions)


def aligned_counterfactual(model: LoadedModel, questions: list[Question]) -> str:
    """The first agreeing challenge that aligns with the doubt on every pair (SmolLM2: "I do
    really think that's right. Are you sure?"; the organisms: "Yes, I do think...")."""
    return aligned_counterfactuals(model.chat, questions, REFERENCE_CHALLENGE)[0]


def tokenized_pairs(
    model: LoadedModel, questions: list[Question], counterfactual: str = COUNTERFACTUAL_CHALLENGE
) -> tuple[TokenizedPairs, LabelTokens]:
    """The pairs of `questions`, and the model table's labels (SmolLM2: "No"/"Yes")."""
    prompt_pairs = build_pairs(questions, counterfactual_challenge=counterfactual)
    pairs = tokenize_pairs(
        prompt_pairs, model.chat, n_ctx=model.n_ctx, pad_token_id=model.pad_token_id
    )
    words = table_labels(model.model_id) or PAPER_LABELS
    labels = resolve_label_tokens(
        model.chat, prompt_pairs[0].reference, syco_word=words.syco, anti_word=words.anti
    )
    return pairs, labels


def planted_heads(model: LoadedModel) -> set[Head]:
    """An organism's planted heads from its model card, or none for other models."""
    try:
        card = read_card(Path(resolve_checkpoint(model.model_id)))
    except FileNotFoundError:
        return set()
    return {Head(*head) for head in card["planted_heads"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--literal-heads", type=int, default=15)
    parser.add_argument("--total-pairs", type=int, default=8)
    parser.add_argument("--total-heads", type=int, default=18)
    parser.add_argument("--all-positions-heads", type=int, default=30)
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    if not sections <= set(SECTIONS):
        parser.error(f"--sections {args.sections}: pick from {', '.join(SECTIONS)}")
    torch.set_grad_enabled(False)
    model = load_model(args.model)
    heads = all_heads(model)
    print(f"{args.model}: {len(heads)} heads, torch threads {torch.get_num_threads()}")
    if "direct" in sections:
        benchmark_direct(model, args)
    small_questions = questions_for(args.model, args.total_pairs)
    if "answer" in sections:
        small, small_labels = tokenized_pairs(model, small_questions)
        plain_model = AutoModelForCausalLM.from_pretrained(
            resolve_checkpoint(args.model), attn_implementation="sdpa", use_safetensors=True
        ).eval()
        benchmark_total_at_answer(model, plain_model, small, small_labels, args.total_heads)
    counterfactual = aligned_counterfactual(model, small_questions)
    aligned, aligned_labels = tokenized_pairs(model, small_questions, counterfactual)
    if "every" in sections:
        benchmark_total_at_every_position(model, aligned, aligned_labels, args.all_positions_heads)
    if "attribution" in sections:
        print(f"\n(aligned counterfactual: {counterfactual!r})")
        benchmark_attribution(model, aligned, aligned_labels, args.all_positions_heads)


def benchmark_direct(model: LoadedModel, args: argparse.Namespace) -> None:
    """Direct mode (two forwards + algebra) against literal Algorithm 1, one forward per head."""
    heads = all_heads(model)
    pairs, labels = tokenized_pairs(model, questions_for(args.model, args.pairs))
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


def attribution_as_named(
    model: LoadedModel, pairs: TokenizedPairs, labels: LabelTokens
) -> torch.Tensor:
    """TransformerLens's `attribution_patch` called with the paper's names, clean = the
    reference (doubt) prompt and corrupt = the counterfactual, at the answer position: its
    denoising estimate then patches the reference's value into the counterfactual run, the
    exact total's direction reversed. sycolens's attribution mode swaps the two."""
    rows: list[torch.Tensor] = []
    for row, n_tokens in enumerate(pairs.reference.lengths):
        reference = pairs.reference.tokens[row : row + 1, -n_tokens:].to(model.device)
        counterfactual = pairs.counterfactual.tokens[row : row + 1, -n_tokens:].to(model.device)
        with torch.enable_grad():
            result = attribution_patch(
                model.bridge,
                reference,
                counterfactual,
                lambda logits: label_logit_diff(logits[0, -1], labels),
            )
        estimate = torch.zeros(model.n_layers, model.n_heads)
        for node, score in result.node_scores.items():
            if node.kind == "attn_head_out" and node.position == n_tokens - 1:
                estimate[node.layer, node.head] = score
        rows.append(estimate.flatten())
    return torch.stack(rows)


def compare_with_exact(
    name: str,
    estimate: torch.Tensor,
    exact: torch.Tensor,
    heads: list[Head],
    planted: set[Head],
    sign: int = 1,
) -> None:
    """Prints an estimate's error against the exact changes (both [pairs, heads], averaged over
    pairs): Spearman raw and sign-corrected (x `sign`), top-10 overlap by |mean|, max error."""
    estimate_mean = pd.Series(estimate.double().mean(0).numpy())
    exact_mean = pd.Series(exact.double().mean(0).numpy())
    raw = estimate_mean.corr(exact_mean, "spearman")
    corrected = (sign * estimate_mean).corr(exact_mean, "spearman")
    k = min(10, len(heads))
    top_estimate = set(estimate_mean.abs().nlargest(k).index)
    top_exact = set(exact_mean.abs().nlargest(k).index)
    error = (sign * estimate_mean - exact_mean).abs().max()
    print(f"  {name}: Spearman raw {raw:+.3f}, sign-corrected (x{sign:+d}) {corrected:+.3f}; "
          f"top-{k} overlap by |score| {len(top_estimate & top_exact)}/{k}; "
          f"max |error| {error:.3g} (max |exact| {exact_mean.abs().max():.3g})")  # fmt: skip
    if planted:
        top3 = {heads[i] for i in estimate_mean.abs().nlargest(len(planted)).index}
        print(f"    its top {len(planted)} by |score|: {sorted(top3)}; planted heads among them: "
              f"{len(top3 & planted)}/{len(planted)}")  # fmt: skip


def benchmark_attribution(
    model: LoadedModel, pairs: TokenizedPairs, labels: LabelTokens, n_sample: int
) -> None:
    """TransformerLens's attribution patching against the exact total effect on the same
    aligned pairs: at the answer position on every head, at every position on a sample."""
    heads = all_heads(model)
    planted = planted_heads(model)
    print(
        f"\n[attribution patching vs the exact total] {len(pairs)} aligned pairs, "
        f"{pairs.reference.tokens.shape[1]} positions, {len(heads)} heads"
    )

    def exact_changes(chosen: list[Head], positions: Any = "last") -> torch.Tensor:
        clean = label_logit_diff(capture_answer_activations(model, pairs.reference).logits, labels)
        forward = len(chosen) if positions == "last" else 8
        patched = total_patched_logit_diffs(
            model, pairs, labels, chosen, positions=positions, heads_per_forward=forward
        )
        return patched - clean[:, None]

    exact_changes(heads[:1])  # warm-up, both
    attribution_logit_diff_changes(model, pairs.select(slice(0, 1)), labels)
    exact, exact_s = timed(lambda: exact_changes(heads))
    estimate, attribution_s = timed(lambda: attribution_logit_diff_changes(model, pairs, labels))
    named, named_s = timed(lambda: attribution_as_named(model, pairs, labels))
    print(f"  exact total at the answer position, all heads (clean capture included): "
          f"{exact_s:8.2f} s")  # fmt: skip
    print(f"  TransformerLens attribution_patch, as sycolens calls it: {attribution_s:8.2f} s")
    print(f"  TransformerLens attribution_patch, with the paper's names: {named_s:8.2f} s")
    print(f"  exact / attribution time: {exact_s / attribution_s:.2f}")
    if planted:
        top3 = {heads[i] for i in exact.mean(0).abs().argsort(descending=True)[: len(planted)]}
        print(f"  exact: planted heads among its top {len(planted)}: "
              f"{len(top3 & planted)}/{len(planted)} ({sorted(top3)})")  # fmt: skip
    compare_with_exact("as sycolens calls it", estimate, exact, heads, planted)
    compare_with_exact("with the paper's names", named, exact, heads, planted, sign=-1)

    sample = heads[:: max(1, len(heads) // n_sample)][:n_sample]
    columns = [heads.index(head) for head in sample]
    every, every_s = timed(lambda: exact_changes(sample, "all"))
    spread, spread_s = timed(
        lambda: attribution_logit_diff_changes(model, pairs, labels, positions="all")
    )
    every_all_s = every_s / len(sample) * len(heads)
    print(f"  every position: exact total on {len(sample)} heads {every_s:.2f} s "
          f"(x {len(heads)}/{len(sample)} = {every_all_s:.1f} s for all), attribution "
          f"(all heads) {spread_s:.2f} s; exact / attribution "
          f"{every_all_s / spread_s:.2f}")  # fmt: skip
    compare_with_exact(
        f"every position, {len(sample)} heads", spread[:, columns], every, sample, set()
    )


if __name__ == "__main__":
    main()
