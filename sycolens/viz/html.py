"""Write plotly figures as standalone HTML that opens offline."""

from pathlib import Path

import plotly.graph_objects as go


def save_figure_html(figure: go.Figure, path: Path) -> None:
    """Writes the figure as standalone HTML (plotly.js embedded, works offline)."""
    figure.write_html(path, include_plotlyjs=True, full_html=True)
