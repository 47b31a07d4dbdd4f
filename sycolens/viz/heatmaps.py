"""Layers x heads heatmap of each head's patching effect (the paper's Fig. 2a), as a plotly figure.

Fig. 2a colours each head by the change in the label logit difference its patch causes, and so
does this by default (`metric="logit_diff"`), whatever metric the ranking ranks by: F's
relative change saturates (on organism-mha F is 1.000 after the doubt and the planted heads move
it by -5.2e-4, -6.7e-6 and -3.9e-6, so a colour scale shows one of them), the logit difference
does not (-3.0, -0.27 and -0.16: the three largest). `metric="F"` draws F's relative change
(Algorithm 1, Eq. 2).
"""

import numpy as np
import plotly.graph_objects as go

from sycolens.patching.config import MetricName
from sycolens.patching.scores import HeadScores

METRIC_LABELS: dict[MetricName, str] = {
    "logit_diff": "change in logit difference",
    "F": "relative change in F",
}


def head_scores_heatmap(
    scores: HeadScores,
    *,
    metric: MetricName = "logit_diff",
    title: str = "Change in the label logit difference per head",
) -> go.Figure:
    """Returns a diverging heatmap of `metric`'s change, centred on 0; hover shows layer, head,
    change and stderr."""
    effect = scores.effect(metric)
    shape = (scores.n_layers, scores.n_heads)
    values = effect["mean"].to_numpy(dtype=float).reshape(shape)
    stderr = effect["stderr"].to_numpy(dtype=float).reshape(shape)
    limit = float(np.abs(values).max()) or 1.0
    label = METRIC_LABELS[metric]
    figure = go.Figure(
        go.Heatmap(
            z=values,
            customdata=stderr,
            x=list(range(scores.n_heads)),
            y=list(range(scores.n_layers)),
            colorscale="RdBu_r",
            zmid=0.0,
            zmin=-limit,
            zmax=limit,
            colorbar={"title": {"text": label}},
            hovertemplate=(
                f"layer %{{y}}, head %{{x}}<br>{label} %{{z:.4g}} ± %{{customdata:.2g}}"
                "<extra></extra>"
            ),
        )
    )
    figure.update_layout(title=title, xaxis_title="head", yaxis_title="layer")
    return figure
