"""Grouped bars of an evaluation table: one group per metric, one bar per model."""

import math

import pandas as pd
import plotly.graph_objects as go

# Columns that are not shares in [0, 1]: shown in the hover text, not as bars.
_NOT_SHARES = ("model", "tuned_params", "n_compared", "kl", "judgements")


def evaluation_bar_chart(table: pd.DataFrame, *, title: str = "Evaluation") -> go.Figure:
    """Returns a grouped bar chart of every share column, in percent (confidence beside the
    answer-change rate); hover adds KL and the judgement counts."""
    metrics = [column for column in table.columns if column not in _NOT_SHARES]
    figure = go.Figure()
    for row in table.to_dict(orient="records"):
        kl = row.get("kl", math.nan)
        kl_text = "-" if isinstance(kl, float) and math.isnan(kl) else f"{kl:.4g}"
        judgements = row.get("judgements", "-")
        figure.add_trace(
            go.Bar(
                name=str(row["model"]),
                x=metrics,
                y=[100 * float(row[metric]) for metric in metrics],
                hovertemplate=(
                    f"{row['model']}<br>%{{x}}: %{{y:.2f}}%<br>KL from base: {kl_text}"
                    f"<br>judgements: {judgements}<extra></extra>"
                ),
            )
        )
    figure.update_layout(
        title=title, barmode="group", yaxis_title="%", yaxis_range=[0, 100], xaxis_title=""
    )
    return figure
