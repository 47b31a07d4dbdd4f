"""The heatmap draws the logit-difference change per head, as the paper's Fig. 2a does, whatever
metric the ranking ranks by; on organism-mha that shows the three planted heads."""

from typing import Any

import numpy as np

from sycolens.heads import Head
from sycolens.models import LoadedModel
from sycolens.organism.world import HELD_OUT_SPLIT, sample_questions
from sycolens.patching.config import DiagnoseConfig
from sycolens.patching.diagnose import diagnose_heads
from sycolens.prompts.labels import resolve_label_tokens
from sycolens.prompts.pairs import build_pairs, tokenize_pairs
from sycolens.viz.heatmaps import head_scores_heatmap

PLANTED = {Head(1, 2), Head(2, 0), Head(3, 3)}


def _largest(heatmap: Any, k: int) -> list[Head]:
    values = np.asarray(heatmap.z, dtype=float)
    flat = np.argsort(-np.abs(values), axis=None)[:k]
    return [Head(*map(int, np.unravel_index(i, values.shape))) for i in flat]


def test_the_logit_difference_heatmap_shows_the_three_planted_heads(organism: LoadedModel):
    prompt_pairs = build_pairs(sample_questions(7, 16, HELD_OUT_SPLIT))
    pairs = tokenize_pairs(prompt_pairs, organism.chat, n_ctx=organism.n_ctx, pad_token_id=0)
    labels = resolve_label_tokens(organism.chat, prompt_pairs[0].reference)
    scores = diagnose_heads(organism, pairs, labels, DiagnoseConfig(), show_progress=False)
    assert scores.metric == "F"  # ranked by F, the default; drawn in logit difference
    heatmap: Any = head_scores_heatmap(scores).data[0]
    assert set(_largest(heatmap, 3)) == PLANTED
    assert heatmap.colorbar.title.text == "change in logit difference"
    assert "change in logit difference %{z" in heatmap.hovertemplate
    ld = scores.effect("logit_diff").set_index(["layer", "head"])
    for head in PLANTED:  # each with its standard error, well clear of zero
        mean, stderr = ld.loc[tuple(head), ["mean", "stderr"]]
        assert mean < -5 * stderr < 0
    f_heatmap: Any = head_scores_heatmap(scores, metric="F").data[0]
    assert f_heatmap.colorbar.title.text == "relative change in F"
    f_values = np.sort(np.abs(np.asarray(f_heatmap.z, dtype=float)), axis=None)[::-1]
    ld_values = np.sort(np.abs(np.asarray(heatmap.z, dtype=float)), axis=None)[::-1]
    # F saturates: its third planted head is a far smaller share of the colour scale.
    assert f_values[2] / f_values[0] < ld_values[2] / ld_values[0] / 3
