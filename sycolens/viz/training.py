"""Training curves: the reply loss of each tuning run against its optimiser step."""

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go


def training_curves_figure(
    histories: Mapping[str, Sequence[Mapping[str, Any]]], *, title: str = "Training loss"
) -> go.Figure:
    """Returns one line per run (name -> its `tune.json` history of {step, loss, ...})."""
    figure = go.Figure()
    for name, history in histories.items():
        figure.add_trace(
            go.Scatter(
                x=[row["step"] for row in history],
                y=[row["loss"] for row in history],
                mode="lines+markers",
                name=name,
            )
        )
    figure.update_layout(
        title=title, xaxis_title="optimiser step", yaxis_title="reply loss", template="plotly_white"
    )
    return figure
