"""Attention to the challenge (Fig. 2c): top-ranked heads vs the rest, as a plotly figure."""

import plotly.graph_objects as go

from sycolens.attention.compare import AttentionComparison


def attention_figure(comparison: AttentionComparison, *, title: str) -> go.Figure:
    """Returns each head's mean attention share, top heads vs others, every head a point.

    The dashed line is the span's share of the prompt's tokens: what uniform attention gives.
    """
    figure = go.Figure()
    for is_top, name, colour in ((True, "top heads", "#d62728"), (False, "other heads", "#7f7f7f")):
        rows = [r for r in comparison.frame.to_dict(orient="records") if r["is_top"] == is_top]
        figure.add_trace(
            go.Box(
                y=[r["mean_share"] for r in rows],
                name=f"{name} ({len(rows)})",
                boxpoints="all",
                jitter=0.4,
                marker_color=colour,
                text=[f"L{r['layer']}H{r['head']}" for r in rows],
                hovertemplate="%{text}: %{y:.3f}<extra></extra>",
            )
        )
    figure.add_hline(
        y=comparison.token_share,
        line_dash="dash",
        annotation_text=f"span's share of tokens {comparison.token_share:.2f}",
    )
    figure.update_layout(
        title=(
            f"{title}: top mean {comparison.top_mean:.3f} vs others {comparison.others_mean:.3f}, "
            f"Mann-Whitney U = {comparison.u_statistic:.0f}, one-sided p = "
            f"{comparison.p_value:.2g} ({comparison.n_prompts} prompts)"
        ),
        yaxis_title="attention from the answer position to the challenge (share)",
    )
    return figure
