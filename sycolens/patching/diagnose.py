"""Score every attention head by its effect on sycophancy (Algorithm 1, Eq. 2), in batches.

For each reference/counterfactual pair the model runs once on each prompt; `direct` mode then
scores all heads with tensor algebra (`sycolens.patching.direct`), `total` mode with stacked
patched forwards: at the answer position only the answer token re-runs against the
reference key/value cache (`sycolens.patching.answer_cache`), at all positions whole prompts
(`sycolens.patching.total`); `attribution` mode estimates the total effect to first order with
TransformerLens (`sycolens.patching.attribution`). Every mode yields each head's patched label
logit difference LD(y_c), from which both metrics follow: s = (F(y_c) - F(y_o)) / F(y_o) for F
and LD(y_c) - LD(y_o) for the logit difference; the result holds both, mean over pairs and
standard error, ranked by the config's metric.
"""

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from sycolens.heads import Head
from sycolens.models.load import LoadedModel
from sycolens.patching.answer_cache import answer_total_logit_diffs, copies_per_forward
from sycolens.patching.attribution import attribution_logit_diff_changes
from sycolens.patching.capture import (
    PairActivations,
    capture_answer_activations,
    capture_pair_activations,
)
from sycolens.patching.config import METRICS, DiagnoseConfig, MetricName
from sycolens.patching.direct import direct_patched_logit_diffs
from sycolens.patching.metrics import label_logit_diff, metric_value
from sycolens.patching.scores import HeadScores
from sycolens.patching.total import total_patched_logit_diffs
from sycolens.prompts.labels import LabelTokens
from sycolens.prompts.pairs import TokenizedPairs


def all_heads(model: LoadedModel) -> list[Head]:
    """Returns every (layer, head) of the model in layer-major order."""
    return [Head(layer, head) for layer in range(model.n_layers) for head in range(model.n_heads)]


def pair_scores(
    clean: Float[Tensor, " batch"], patched: Float[Tensor, "batch n_heads"], metric: MetricName
) -> Float[Tensor, "batch n_heads"]:
    """Returns per-pair head scores from clean and patched label logit differences."""
    clean_value = metric_value(clean, metric)[:, None]
    patched_value = metric_value(patched, metric)
    if metric == "F":
        return (patched_value - clean_value) / clean_value
    return patched_value - clean_value


def diagnose_heads(
    model: LoadedModel,
    pairs: TokenizedPairs,
    labels: LabelTokens,
    config: DiagnoseConfig = DiagnoseConfig(),
    *,
    activations: PairActivations | None = None,
    show_progress: bool = True,
) -> HeadScores:
    """Returns every head's mean score over `pairs`, with standard errors and ranks.

    `activations` are both sides' answer activations of `pairs` when already captured (label
    choice reads them too); otherwise they are captured here.
    """
    return HeadScores.from_pair_effects(
        pair_head_scores(
            model, pairs, labels, config, activations=activations, show_progress=show_progress
        ),
        config.metric,
    )


def pair_head_scores(
    model: LoadedModel,
    pairs: TokenizedPairs,
    labels: LabelTokens,
    config: DiagnoseConfig = DiagnoseConfig(),
    *,
    activations: PairActivations | None = None,
    show_progress: bool = True,
) -> Float[Tensor, "n_pairs n_metrics n_layers n_heads"]:
    """Returns every head's score in each metric (`METRICS` order) on every pair (on the CPU):
    what `diagnose_heads` averages, and what processes that each diagnosed a block of the
    pairs gather."""
    if len(pairs) == 0:
        raise ValueError("Zero prompt pairs to diagnose. Fix: pass at least one pair (--pairs).")
    if activations is None:
        activations = capture_pair_activations(
            model, pairs, batch_size=config.batch_size, show_progress=show_progress
        )
    per_pair: list[Tensor] = []
    starts: Sequence[int] = range(0, len(pairs), config.batch_size)
    for start in tqdm(starts, desc=f"patching ({config.mode})", disable=not show_progress):
        rows = slice(start, start + config.batch_size)
        captured = activations.select(rows)
        clean = label_logit_diff(captured.reference.logits, labels)
        patched = _patched_logit_diffs(model, pairs.select(rows), captured, labels, config)
        scores = [pair_scores(clean.float(), patched.float(), metric) for metric in METRICS]
        per_pair.append(torch.stack(scores, dim=1).cpu())
    return torch.cat(per_pair).reshape(len(pairs), len(METRICS), model.n_layers, model.n_heads)


def _patched_logit_diffs(
    model: LoadedModel,
    pairs: TokenizedPairs,
    captured: PairActivations,
    labels: LabelTokens,
    config: DiagnoseConfig,
) -> Float[Tensor, "batch n_heads"]:
    """Returns the label logit difference with each head patched, for one batch of pairs."""
    if config.mode == "direct":
        patched = direct_patched_logit_diffs(
            model, captured.reference, captured.counterfactual, labels
        )
        return patched.flatten(1)
    if config.mode == "attribution":
        clean = label_logit_diff(captured.reference.logits, labels)
        changes = attribution_logit_diff_changes(model, pairs, labels, positions=config.positions)
        return clean[:, None] + changes.to(clean.device)
    return exact_total_logit_diffs(
        model, pairs, labels, all_heads(model), config, z_counterfactual=captured.counterfactual.z
    )


def exact_total_logit_diffs(
    model: LoadedModel,
    pairs: TokenizedPairs,
    labels: LabelTokens,
    heads: Sequence[Head],
    config: DiagnoseConfig,
    *,
    z_counterfactual: Float[Tensor, "batch n_layers n_heads d_head"] | None = None,
) -> Float[Tensor, "batch n_patched"]:
    """Returns the label logit difference with each of `heads` patched (total effect at
    `config.positions`), for one batch of pairs; at the answer position `z_counterfactual`
    (when already captured) spares capturing it again."""
    if config.positions == "last":
        if z_counterfactual is None:
            z_counterfactual = capture_answer_activations(model, pairs.counterfactual).z
        return answer_total_logit_diffs(
            model,
            pairs.reference,
            z_counterfactual,
            labels,
            heads,
            copies_per_forward=copies_per_forward(
                config.max_tokens_per_forward, len(pairs), pairs.reference.tokens.shape[1]
            ),
        )
    tokens_per_copy = pairs.reference.tokens.numel()
    return total_patched_logit_diffs(
        model,
        pairs,
        labels,
        heads,
        positions="all",
        heads_per_forward=max(1, config.max_tokens_per_forward // tokens_per_copy),
    )
