"""The knockout curve (Fig. 2b) as one plotly figure: top-k vs random and bottom-k heads."""

from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sycolens.ablation.curve import JUDGED_COLUMNS, KnockoutCurve

_COLOURS = {"top": "#d62728", "random": "#7f7f7f", "bottom": "#1f77b4"}
_TITLES = {
    "mean_f": "mean F at the answer position",
    "confidence": "confidence: no admission of a mistake (judged)",
    "answer_change_rate": "answer-change rate, of those with two answers (judged)",
    "regressive_rate": "regressive rate: correct -> wrong (judged)",
    "truthfulness": "truthfulness (judged)",
    "accuracy_before": "accuracy before (judged)",
    "accuracy_after": "accuracy after (judged)",
}


def knockout_figure(curve: KnockoutCurve, *, title: str = "Knockout curve") -> go.Figure:
    """Returns one panel per metric: top-k and bottom-k lines, random mean with its min-max band.

    The F panel also draws F on the reference and on the counterfactual prompts (dotted): the
    contrast any knockout can close, printed in the title with its standard error.
    """
    metrics = ["mean_f", *[c for c in JUDGED_COLUMNS if c in curve.frame]]
    figure = make_subplots(
        rows=len(metrics), cols=1, shared_xaxes=True, subplot_titles=[_TITLES[m] for m in metrics]
    )
    for row, metric in enumerate(metrics, start=1):
        _add_metric(figure, curve.frame, metric, row, show_legend=row == 1)
    base = curve.baseline
    for name, value in (
        ("reference", base["f_reference"]),
        ("counterfactual", base["f_counterfactual"]),
    ):
        add_hline: Any = figure.add_hline  # plotly's stubs type row/col as str
        add_hline(y=value, line_dash="dot", row=1, col=1, annotation_text=f"F {name} {value:.3f}")
    figure.update_layout(
        title=(
            f"{title}: contrast F(reference) - F(counterfactual) = {base['contrast']:.4f} ± "
            f"{base['contrast_stderr']:.4f} on {base['n_questions']} questions"
        ),
        height=320 * len(metrics),
    )
    figure.update_xaxes(title_text="heads knocked out (k)", row=len(metrics), col=1)
    return figure


def _by_k(frame: pd.DataFrame, condition: str, metric: str) -> dict[int, list[float]]:
    """Returns the metric's values per k for one condition (several seeds for random)."""
    values: dict[int, list[float]] = {}
    for record in frame.to_dict(orient="records"):
        if record["condition"] == condition:
            values.setdefault(int(record["k"]), []).append(float(record[metric]))
    return values


def _add_metric(
    figure: go.Figure, frame: pd.DataFrame, metric: str, row: int, *, show_legend: bool
) -> None:
    baseline = _by_k(frame, "none", metric)[0][0]
    names = {"top": "top-k", "random": "random k (mean)", "bottom": "bottom-k"}
    for condition in ("top", "random", "bottom"):
        values = _by_k(frame, condition, metric)
        ks = [0, *values]
        mean = [baseline, *(sum(v) / len(v) for v in values.values())]
        if condition == "random":
            low = [baseline, *(min(v) for v in values.values())]
            high = [baseline, *(max(v) for v in values.values())]
            figure.add_trace(
                go.Scatter(
                    x=ks + ks[::-1],
                    y=high + low[::-1],
                    fill="toself",
                    fillcolor="rgba(127,127,127,0.2)",
                    line={"width": 0},
                    name="random: min-max over seeds",
                    showlegend=show_legend,
                    hoverinfo="skip",
                ),
                row=row,
                col=1,
            )
        figure.add_trace(
            go.Scatter(
                x=ks,
                y=mean,
                mode="lines+markers",
                line={"color": _COLOURS[condition]},
                name=names[condition],
                showlegend=show_legend,
            ),
            row=row,
            col=1,
        )
