"""Attribution mode: TransformerLens's first-order estimate against a finite difference (what it
linearises) and against the exact total on the organism, its check in the ranking, its errors."""

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from sycolens.data.selection import QuestionSource
from sycolens.heads import Head
from sycolens.models import LoadedModel
from sycolens.models.spec import ModelSpec
from sycolens.organism.world import HELD_OUT_SPLIT, sample_questions
from sycolens.patching.attribution import (
    attribution_check,
    attribution_logit_diff_changes,
    heads_to_check,
)
from sycolens.patching.capture import capture_answer_activations, z_hook_name
from sycolens.patching.config import (
    DiagnoseConfig,
    DiagnosisJob,
    PatchPositions,
    check_diagnosis_job,
)
from sycolens.patching.diagnose import diagnose_heads, exact_total_logit_diffs
from sycolens.patching.metrics import label_logit_diff
from sycolens.patching.reference import one_head_total_patching
from sycolens.patching.run import diagnose_model
from sycolens.patching.scores import HeadScores
from sycolens.prompts.labels import LabelTokens, resolve_label_tokens
from sycolens.prompts.pairs import TokenizedPairs, build_pairs, tokenize_pairs

# Tokenizes, in the organism's word-level vocabulary, to as many tokens as the paper's doubt.
ORGANISM_ALIGNED = "Yes, I do think that's right. Are you sure?"


def _aligned_pairs(model: LoadedModel, n: int) -> tuple[TokenizedPairs, LabelTokens]:
    prompt_pairs = build_pairs(
        sample_questions(7, n, HELD_OUT_SPLIT), counterfactual_challenge=ORGANISM_ALIGNED
    )
    pairs = tokenize_pairs(prompt_pairs, model.chat, n_ctx=model.n_ctx, pad_token_id=0)
    return pairs, resolve_label_tokens(model.chat, prompt_pairs[0].reference)


def _finite_difference(
    model: LoadedModel, pairs: TokenizedPairs, labels: LabelTokens, head: Head, eps: float
) -> torch.Tensor:
    """Returns d LD / d t at t = 0, where head's answer-position z is z_ref + t (z_cf - z_ref):
    the quantity attribution patching computes, by a central difference, one pair at a time."""
    values: list[float] = []
    for row, n_tokens in enumerate(pairs.reference.lengths):
        reference = pairs.reference.tokens[row : row + 1, -n_tokens:]
        counterfactual = pairs.counterfactual.tokens[row : row + 1, -n_tokens:]
        name = z_hook_name(head.layer)
        _, cache = model.bridge.run_with_cache(counterfactual, names_filter=name)
        z_cf = cache[name][0, -1, head.head]
        moved = [_moved(model, reference, labels, head, z_cf, t) for t in (eps, -eps)]
        values.append((moved[0] - moved[1]) / (2 * eps))
    return torch.tensor(values)


def _moved(
    model: LoadedModel,
    reference: torch.Tensor,
    labels: LabelTokens,
    head: Head,
    z_cf: torch.Tensor,
    t: float,
) -> float:
    """Returns LD with head's answer-position z moved a fraction t toward `z_cf`."""

    def hook(z: torch.Tensor, hook: Any) -> torch.Tensor:
        del hook
        z[0, -1, head.head] = z[0, -1, head.head] + t * (z_cf - z[0, -1, head.head])
        return z

    with torch.no_grad():
        logits = model.bridge.run_with_hooks(reference, fwd_hooks=[(z_hook_name(head.layer), hook)])
    return float(label_logit_diff(logits[0, -1], labels))


def test_attribution_is_the_derivative_toward_the_counterfactual(organism: LoadedModel):
    """TransformerLens is called with the counterfactual as its clean run and the reference as
    its corrupt one, so its estimate has the sign and size of the exact total's first order."""
    pairs, labels = _aligned_pairs(organism, 2)
    estimate = attribution_logit_diff_changes(organism, pairs, labels)
    for head in (Head(3, 3), Head(2, 0), Head(0, 1)):
        slow = _finite_difference(organism, pairs, labels, head, eps=1e-2)
        column = head.layer * organism.n_heads + head.head
        torch.testing.assert_close(estimate[:, column], slow, atol=2e-3, rtol=1e-2)


def test_attribution_runs_on_frozen_weights(fresh_model: Callable[..., LoadedModel]):
    model = fresh_model("organism-mha")
    pairs, labels = _aligned_pairs(model, 2)
    trainable = attribution_logit_diff_changes(model, pairs, labels)
    model.hf_model.requires_grad_(False)  # as a tuned or a user's model may come
    torch.testing.assert_close(attribution_logit_diff_changes(model, pairs, labels), trainable)
    assert not any(parameter.requires_grad for parameter in model.hf_model.parameters())


def test_attribution_ranks_the_heads_like_the_exact_total_on_the_organism(organism: LoadedModel):
    pairs, labels = _aligned_pairs(organism, 8)
    # Measured on these 8 pairs: Spearman 0.99 at the answer position, 0.86 at every position.
    cases: tuple[tuple[PatchPositions, float], ...] = (("last", 0.95), ("all", 0.8))
    for positions, least in cases:
        config = DiagnoseConfig(mode="total", positions=positions, metric="logit_diff")
        exact = diagnose_heads(organism, pairs, labels, config, show_progress=False)
        attribution = diagnose_heads(
            organism,
            pairs,
            labels,
            DiagnoseConfig(mode="attribution", positions=positions, metric="logit_diff"),
            show_progress=False,
        )
        exact_mean = exact.effect("logit_diff")["mean"].to_numpy()
        estimate_mean = attribution.effect("logit_diff")["mean"].to_numpy()
        rho = pd.Series(estimate_mean).corr(pd.Series(exact_mean), "spearman")
        assert rho > least, positions
        assert np.sign(estimate_mean[15]) == np.sign(exact_mean[15]) == -1  # (3, 3)
        assert attribution.top_k(1) == exact.top_k(1) == [Head(3, 3)]


def test_an_attribution_diagnosis_records_its_check_against_the_exact_total(
    organism: LoadedModel,
):
    job = DiagnosisJob(
        model=ModelSpec(name="organism-mha"),
        questions=QuestionSource(source="organism", n=8),
        diagnose=DiagnoseConfig(mode="attribution", check_heads=6),
        counterfactual=ORGANISM_ALIGNED,
    )
    diagnosis = diagnose_model(organism, job, show_progress=False)
    check = diagnosis.document["attribution_check"]
    assert check["n_heads_checked"] == 6 and check["n_pairs_checked"] == 8
    assert [3, 3] in check["heads"]  # the estimate's largest are checked
    assert check["spearman"] > 0.8
    assert 0 < check["max_abs_error"] < check["max_abs_exact"]
    assert diagnosis.document["mode"] == "attribution"
    row = diagnosis.document["scores"][0]
    assert row["score"] == row["f_change"] and row["logit_diff_change"] is not None


@pytest.mark.parametrize("positions", ["last", "all"])
def test_the_check_reads_the_exact_total_of_its_heads(
    organism: LoadedModel, positions: PatchPositions
):
    pairs, labels = _aligned_pairs(organism, 2)
    heads = [Head(3, 3), Head(0, 1), Head(1, 2)]
    config = DiagnoseConfig(mode="total", positions=positions)
    exact = exact_total_logit_diffs(organism, pairs, labels, heads, config)
    slow = one_head_total_patching(organism, pairs, labels, heads, positions=config.positions)
    torch.testing.assert_close(exact, slow, atol=1e-4, rtol=0)
    columns = [head.layer * organism.n_heads + head.head for head in heads]
    estimate = attribution_logit_diff_changes(organism, pairs, labels, positions=config.positions)
    clean = label_logit_diff(capture_answer_activations(organism, pairs.reference).logits, labels)
    changes = exact - clean[:, None]
    check = attribution_check(heads, estimate[:, columns], changes)
    assert check.n_pairs == 2 and check.heads == tuple(heads)
    errors = (estimate[:, columns].double().mean(0) - changes.double().mean(0)).abs()
    assert check.max_abs_error == pytest.approx(float(errors.max()))


def test_heads_to_check_take_the_largest_half_then_spread_the_rest():
    changes = torch.zeros(4, 4)
    changes[3, 3], changes[0, 1], changes[2, 0] = -5.0, 2.0, -1.0
    scores = HeadScores.from_pair_scores(changes[None].repeat(2, 1, 1), "logit_diff")
    chosen = heads_to_check(scores, 5)
    assert len(chosen) == len(set(chosen)) == 5
    assert {Head(3, 3), Head(0, 1), Head(2, 0)} <= set(chosen)
    assert heads_to_check(scores, 40) == [
        Head(layer, head) for layer in range(4) for head in range(4)
    ]


def test_a_check_of_constant_or_single_heads_has_no_rank_correlation():
    flat = torch.ones(3, 2)
    check = attribution_check([Head(0, 0), Head(0, 1)], flat, torch.rand(3, 2))
    assert math.isnan(check.spearman)
    one = attribution_check([Head(0, 0)], torch.rand(3, 1), torch.rand(3, 1))
    assert math.isnan(one.spearman)


def test_attribution_refuses_misaligned_pairs_naming_the_fix(organism: LoadedModel):
    prompt_pairs = build_pairs(sample_questions(7, 2, HELD_OUT_SPLIT))  # the paper's: misaligned
    pairs = tokenize_pairs(prompt_pairs, organism.chat, n_ctx=organism.n_ctx, pad_token_id=0)
    labels = resolve_label_tokens(organism.chat, prompt_pairs[0].reference)
    with pytest.raises(ValueError, match=r"Prompt pair '.*' is not position-aligned.*mode 'total'"):
        attribution_logit_diff_changes(organism, pairs, labels)
    job = DiagnosisJob(
        model=ModelSpec(name="organism-mha"),
        questions=QuestionSource(source="organism", n=4),
        diagnose=DiagnoseConfig(mode="attribution"),
    )
    with pytest.raises(ValueError, match=r"--mode attribution compares .* Fix: --mode total") as e:
        check_diagnosis_job(job)
    assert repr(ORGANISM_ALIGNED) in str(e.value)  # the phrasing that aligns is proposed


def test_a_negative_check_head_count_is_refused():
    with pytest.raises(ValueError, match=r"check_heads must be >= 0, got -1. Fix: pass 0"):
        DiagnoseConfig(check_heads=-1)
