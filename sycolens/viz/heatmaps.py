"""Layers x heads heatmap of head scores (the paper's Fig. 2a), as a plotly figure."""

import numpy as np
import plotly.graph_objects as go

from sycolens.patching.scores import HeadScores


def head_scores_heatmap(scores: HeadScores, *, title: str = "Head scores") -> go.Figure:
    """Returns a diverging heatmap centred on 0; hover shows layer, head, score and stderr."""
    ordered = scores.frame.sort_values(["layer", "head"])
    shape = (scores.n_layers, scores.n_heads)
    values = ordered["score"].to_numpy().reshape(shape)
    stderr = ordered["stderr"].to_numpy(dtype=float).reshape(shape)
    limit = float(np.abs(values).max()) or 1.0
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
            hovertemplate=(
                "layer %{y}, head %{x}<br>score %{z:.4g} ± %{customdata:.2g}<extra></extra>"
            ),
        )
    )
    figure.update_layout(title=title, xaxis_title="head", yaxis_title="layer")
    return figure
