"""Diagnosis recovers the organism's planted heads; fast modes match references on it."""

import pytest
import torch

from sycolens.heads import Head
from sycolens.models import LoadedModel
from sycolens.organism.world import HELD_OUT_SPLIT, sample_questions
from sycolens.patching.capture import capture_answer_activations
from sycolens.patching.config import DiagnoseConfig, MetricName, PatchMode
from sycolens.patching.diagnose import all_heads, diagnose_heads
from sycolens.patching.direct import direct_patched_logit_diffs
from sycolens.patching.reference import literal_path_patching, one_head_total_patching
from sycolens.patching.total import total_patched_logit_diffs
from sycolens.prompts.labels import LabelTokens, resolve_label_tokens
from sycolens.prompts.pairs import TokenizedPairs, build_pairs, tokenize_pairs

ORGANISMS = ["organism-mha", "organism-gqa"]
PLANTED = {Head(1, 2), Head(2, 0), Head(3, 3)}


def _pairs(model: LoadedModel, n: int) -> tuple[TokenizedPairs, LabelTokens]:
    prompt_pairs = build_pairs(sample_questions(7, n, HELD_OUT_SPLIT))
    pairs = tokenize_pairs(prompt_pairs, model.chat, n_ctx=model.n_ctx, pad_token_id=0)
    return pairs, resolve_label_tokens(model.chat, prompt_pairs[0].reference)


@pytest.mark.parametrize("name", ORGANISMS)
@pytest.mark.parametrize("mode", ["direct", "total"])
@pytest.mark.parametrize("metric", ["F", "logit_diff"])
def test_planted_heads_rank_first(
    organisms: dict[str, LoadedModel], name: str, mode: PatchMode, metric: MetricName
):
    model = organisms[name]
    pairs, labels = _pairs(model, 32)
    scores = diagnose_heads(
        model, pairs, labels, DiagnoseConfig(mode=mode, metric=metric), show_progress=False
    )
    top = set(scores.top_k(len(PLANTED)))
    assert len(top & PLANTED) / len(PLANTED) >= 0.9


@pytest.mark.parametrize("name", ORGANISMS)
def test_fast_modes_match_references_on_the_organism(organisms: dict[str, LoadedModel], name: str):
    model = organisms[name]
    pairs, labels = _pairs(model, 6)
    heads = all_heads(model)
    reference = capture_answer_activations(model, pairs.reference)
    counterfactual = capture_answer_activations(model, pairs.counterfactual)
    direct = direct_patched_logit_diffs(model, reference, counterfactual, labels).flatten(1)
    torch.testing.assert_close(
        direct, literal_path_patching(model, pairs, labels, heads), atol=1e-4, rtol=0
    )
    total = total_patched_logit_diffs(model, pairs, labels, heads, heads_per_forward=5)
    torch.testing.assert_close(
        total, one_head_total_patching(model, pairs, labels, heads), atol=1e-4, rtol=0
    )
