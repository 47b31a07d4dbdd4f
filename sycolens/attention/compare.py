"""Do the top-ranked heads attend to the challenge more than the others? (Fig. 2c, tested.)

Each head is one observation: its mean share of answer-position attention on the challenge
span over the prompts. The top-N heads of a ranking are compared with all other heads by a
one-sided Mann-Whitney U test (top > others; scipy), so a handful of heads with large shares
cannot pass for a difference in location. The span's share of the prompt's tokens is reported
beside the means: what uniform attention would give.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from scipy.stats import mannwhitneyu

from sycolens.attention.patterns import ChallengeAttention
from sycolens.heads import Head


@dataclass(frozen=True)
class AttentionComparison:
    """Per-head attention shares (frame) and the top-vs-others test."""

    frame: pd.DataFrame  # layer, head, mean_share, stderr, is_top
    top_mean: float
    others_mean: float
    u_statistic: float
    p_value: float
    n_top: int
    n_others: int
    token_share: float
    n_prompts: int

    def summary(self) -> dict[str, Any]:
        """Returns the test as JSON-ready data."""
        return {
            "top_mean": self.top_mean,
            "others_mean": self.others_mean,
            "mann_whitney_u": self.u_statistic,
            "p_value": self.p_value,
            "alternative": "top heads' shares greater than the other heads'",
            "n_top": self.n_top,
            "n_others": self.n_others,
            "token_share": self.token_share,
            "n_prompts": self.n_prompts,
        }


def compare_top_heads(attention: ChallengeAttention, top: Sequence[Head]) -> AttentionComparison:
    """Returns each head's mean share and the Mann-Whitney test of `top` against the rest."""
    n_prompts, n_layers, n_heads = attention.shares.shape
    chosen = set(top)
    if not chosen or len(chosen) >= n_layers * n_heads:
        raise ValueError(
            f"Comparing {len(chosen)} top heads needs at least one head on each side of "
            f"{n_layers * n_heads}. Fix: pick --top-k between 1 and {n_layers * n_heads - 1}."
        )
    mean = attention.shares.mean(0)
    stderr = (
        attention.shares.std(0, unbiased=True) / n_prompts**0.5
        if n_prompts > 1
        else torch.full_like(mean, float("nan"))
    )
    rows = [
        {
            "layer": layer,
            "head": head,
            "mean_share": float(mean[layer, head]),
            "stderr": float(stderr[layer, head]),
            "is_top": Head(layer, head) in chosen,
        }
        for layer in range(n_layers)
        for head in range(n_heads)
    ]
    top_values = [row["mean_share"] for row in rows if row["is_top"]]
    other_values = [row["mean_share"] for row in rows if not row["is_top"]]
    test = mannwhitneyu(top_values, other_values, alternative="greater")
    return AttentionComparison(
        frame=pd.DataFrame(rows),
        top_mean=sum(top_values) / len(top_values),
        others_mean=sum(other_values) / len(other_values),
        u_statistic=float(test.statistic),
        p_value=float(test.pvalue),
        n_top=len(top_values),
        n_others=len(other_values),
        token_share=float(attention.token_shares.mean()),
        n_prompts=n_prompts,
    )
