"""Attribution patching: every head's total effect at once, to first order, by TransformerLens.

`transformer_lens.tools.analysis.attribution_patching.attribution_patch` (TransformerLens 4.3,
on the bridge) linearises activation patching: for a clean/corrupt pair it runs the clean
prompt for its activations and the corrupt one forward and backward for the gradient of the
metric, and scores each head's output `z` at each position by (z_clean - z_corrupt) . dLD/dz.
sycolens passes the counterfactual prompt as TransformerLens's "clean" and the reference as its
"corrupt", so that estimate (TransformerLens's denoising sign) is the change in the reference
run's label logit difference LD when the head takes its counterfactual value: what `total` mode
computes exactly, with the same sign. At the answer position (`positions="last"`) a head's
estimate is its node at the last position; over every position (`"all"`) the sum of its nodes
(a linearisation adds). The run is TransformerLens's own, not a copy.

Cost: one clean forward and one forward and backward per pair, whatever the head count, plus
TransformerLens's scoring of every (head, position) node one by one; exact total patching costs
a patched copy per head. Its inputs are bare token rows, compared position by position with no
attention mask, so each pair runs alone and unpadded and both prompts must tokenize to the same
length (`sycolens.prompts.alignment` proposes agreeing challenges that do).

Being first-order it errs where LD bends in a head's output (a head that switches another
on): `attribution_check` measures the error on a sample of heads (`heads_to_check`: the
estimate's largest half, the rest spread over the others) against the exact total on the
same pairs, and the ranking records it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor
from transformer_lens.tools.analysis.attribution_patching import attribution_patch

from sycolens.heads import Head
from sycolens.models.load import LoadedModel
from sycolens.patching.config import PatchPositions
from sycolens.patching.metrics import label_logit_diff
from sycolens.patching.scores import HeadScores, heads_in
from sycolens.prompts.labels import LabelTokens
from sycolens.prompts.pairs import TokenizedPairs


def attribution_logit_diff_changes(
    model: LoadedModel,
    pairs: TokenizedPairs,
    labels: LabelTokens,
    *,
    positions: PatchPositions = "last",
) -> Float[Tensor, "batch n_heads_total"]:
    """Returns TransformerLens's first-order estimate of LD_patched - LD_reference for every
    head (layer-major), one pair at a time."""
    rows: list[Tensor] = []
    for row, question_id in enumerate(pairs.question_ids):
        n_tokens = pairs.reference.lengths[row]
        if pairs.counterfactual.lengths[row] != n_tokens:
            raise ValueError(
                f"Prompt pair {question_id!r} is not position-aligned: reference has {n_tokens} "
                f"tokens, counterfactual {pairs.counterfactual.lengths[row]}, and attribution "
                "patching compares the two runs position by position. Fix: a counterfactual "
                "that tokenizes like the reference (sycolens.prompts.alignment."
                "aligned_counterfactuals), or mode 'total' (exact, any pair)."
            )
        reference = pairs.reference.tokens[row : row + 1, -n_tokens:].to(model.device)
        counterfactual = pairs.counterfactual.tokens[row : row + 1, -n_tokens:].to(model.device)
        rows.append(_one_pair(model, reference, counterfactual, labels, positions))
    return torch.stack(rows)


def _one_pair(
    model: LoadedModel,
    reference: Tensor,
    counterfactual: Tensor,
    labels: LabelTokens,
    positions: PatchPositions,
) -> Float[Tensor, " n_heads_total"]:
    """Returns one pair's estimate per head: its answer-position node, or all its nodes summed."""

    def metric(logits: Tensor) -> Tensor:
        return label_logit_diff(logits[0, -1], labels)

    embeddings = model.hf_model.get_input_embeddings()
    # Frozen weights (a tuned model, a user's) would leave no graph for the gradient to follow.
    handle = embeddings.register_forward_hook(lambda _module, _inputs, out: out.requires_grad_())
    try:
        with torch.enable_grad():
            result = attribution_patch(model.bridge, counterfactual, reference, metric)
    finally:
        handle.remove()
    answer = reference.shape[1] - 1
    estimate = torch.zeros(model.n_layers, model.n_heads, dtype=torch.float64)
    for node, score in result.node_scores.items():
        if node.kind != "attn_head_out" or (positions == "last" and node.position != answer):
            continue
        assert node.layer is not None and node.head is not None  # set for attn_head_out
        estimate[node.layer, node.head] += score
    return estimate.flatten().float()


def heads_to_check(scores: HeadScores, n: int) -> list[Head]:
    """Returns `n` heads to check: the estimate's ceil(n/2) largest |logit-difference change|,
    then the rest of the heads in layer-major order, evenly spaced."""
    effect = scores.effect("logit_diff")
    n = min(n, len(effect))
    by_size = effect.assign(size=effect["mean"].abs()).sort_values("size", ascending=False)
    largest = heads_in(by_size.head((n + 1) // 2))
    others = [head for head in heads_in(effect) if head not in largest]
    spread = np.linspace(0, len(others) - 1, n - len(largest)).round().astype(int)
    return sorted(largest + [others[i] for i in spread])


@dataclass(frozen=True)
class AttributionCheck:
    """Attribution patching against the exact total on a sample of heads, in logit difference.

    `spearman` ranks the checked heads' mean estimates against their mean exact changes;
    `max_abs_error` is the largest |estimate - exact| of those means, `max_abs_exact` the
    largest |exact| (its scale).
    """

    heads: tuple[Head, ...]
    n_pairs: int
    spearman: float
    max_abs_error: float
    max_abs_exact: float

    def summary(self) -> dict[str, Any]:
        return {
            "n_heads_checked": len(self.heads),
            "n_pairs_checked": self.n_pairs,
            "heads": [list(head) for head in self.heads],
            "spearman": self.spearman,
            "max_abs_error": self.max_abs_error,
            "max_abs_exact": self.max_abs_exact,
        }


def attribution_check(
    heads: Sequence[Head],
    estimated: Float[Tensor, "n_pairs n_checked"],
    exact: Float[Tensor, "n_pairs n_checked"],
) -> AttributionCheck:
    """Returns how far the estimated logit-difference changes of `heads` are from the exact
    ones, per head averaged over pairs."""
    estimate_mean = estimated.double().mean(0)
    exact_mean = exact.double().mean(0)
    is_ranked = len(heads) > 1 and bool(estimate_mean.std() > 0) and bool(exact_mean.std() > 0)
    rho = (
        float(pd.Series(estimate_mean.numpy()).corr(pd.Series(exact_mean.numpy()), "spearman"))
        if is_ranked
        else float("nan")  # constant or a single head: no ranking to compare
    )
    return AttributionCheck(
        heads=tuple(heads),
        n_pairs=estimated.shape[0],
        spearman=rho,
        max_abs_error=float((estimate_mean - exact_mean).abs().max()),
        max_abs_exact=float(exact_mean.abs().max()),
    )
