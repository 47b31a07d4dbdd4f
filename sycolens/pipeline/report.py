"""One self-contained HTML report of a pipeline run: every figure, table, view and command.

plotly.js is inlined once (the first figure) and circuitsvis's bundle once (the first view),
so the page opens offline with no CDN. Each part gets the same sections, in the order the
method runs: diagnosis, knockouts, attention, tuning, evaluation, then how to reproduce it.
"""

import html
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from sycolens.ablation.run import KnockoutResult
from sycolens.attention.views import drop_repeated_bundles
from sycolens.heads import Head
from sycolens.json_files import without_nan
from sycolens.organism.card import read_card
from sycolens.patching.ranking_file import RANKING_SCHEMA, RANKING_VERSION, RankingFile
from sycolens.pipeline.run import PartResult
from sycolens.viz.attention import attention_figure
from sycolens.viz.bars import evaluation_bar_chart
from sycolens.viz.heatmaps import head_scores_heatmap
from sycolens.viz.knockout import knockout_figure
from sycolens.viz.training import training_curves_figure

# Section ids every report carries per part, in order (the test checks them).
PART_SECTIONS = ("diagnosis", "knockouts", "attention", "tuning", "evaluation", "reproduce")
# Confidence (no admission: the paper's Table 1 column) beside the answer changes it is not.
HEADLINE_COLUMNS = (
    "model",
    "confidence",
    "answer_change_rate",
    "regressive_rate",
    "truthfulness",
    "kl",
)
PACKAGES = ("sycolens", "torch", "transformers", "transformer-lens", "plotly", "circuitsvis")
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:auto;padding:1em}"
    "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:2px 6px}"
    "pre{background:#f6f6f6;padding:6px;white-space:pre-wrap}"
)


@dataclass
class _Figures:
    """Renders plotly figures into the page, plotly.js inlined with the first one only."""

    has_plotly: bool = False

    def html(self, figure: go.Figure) -> str:
        rendered = figure.to_html(full_html=False, include_plotlyjs=not self.has_plotly)
        self.has_plotly = True
        return rendered


def part_headline(result: PartResult) -> dict[str, Any]:
    """Returns the part's headline numbers: top heads, planted heads found, evaluation rows."""
    scores = result.diagnosis.scores
    top = scores.top_k(result.diagnosis.top_k)
    table = result.evaluation.table()
    return {
        "model": result.part.model,
        "top_heads": [list(head) for head in top],
        "planted_found": _planted_found(result, _planted_heads(result)),
        "attention_p_value": without_nan(result.attention.comparison.p_value),
        "evaluation": without_nan(
            [{column: row[column] for column in HEADLINE_COLUMNS} for _, row in table.iterrows()]
        ),
        "seconds": round(sum(result.seconds.values()), 1),
    }


def pipeline_report(results: list[PartResult], *, title: str = "sycolens pipeline") -> str:
    """Returns the report page of a pipeline run."""
    figures = _Figures()
    # circuitsvis's bundle once per page: shared across the views of every part.
    views = [(result.part.name, view) for result in results for view in result.attention.views]
    shared = drop_repeated_bundles(views)
    body = [f"<h1>{html.escape(title)}</h1>", _summary(results)]
    for result in results:
        own = [view for name, view in shared if name == result.part.name]
        body.append(f"<h2 id='{result.part.name}'>{html.escape(result.part.model)}</h2>")
        body.extend(
            f"<section id='{result.part.name}-{name}'><h3>{html.escape(heading)}</h3>"
            f"{content}</section>"
            for name, heading, content in _part_sections(result, own, figures)
        )
    body.append(_versions(results))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )


def _part_sections(
    result: PartResult, views: list[str], figures: _Figures
) -> list[tuple[str, str, str]]:
    """Returns (id, heading, HTML) of each section of one part; `views` are its circuitsvis
    views, bundle already shared page-wide."""
    diagnosis, paths = result.diagnosis, result.paths
    ranking = RankingFile.from_document(paths.ranking, diagnosis.document)
    labels = diagnosis.labels
    top = diagnosis.scores.frame.sort_values("rank").head(diagnosis.top_k)
    planted = _planted_heads(result)
    planted_note = (
        f"<p>Planted heads {sorted(tuple(head) for head in planted)}: "
        f"{_planted_found(result, planted)} among the top {len(planted)}.</p>"
        if planted
        else ""
    )
    words = html.escape(f"{labels.tokens.syco_word!r} vs {labels.tokens.anti_word!r}")
    diagnosis_html = (
        f"<p>{diagnosis.scores.n_pairs} pairs, {ranking.mode} mode; labels "
        f"{words} ({html.escape(labels.origin)}), mean F "
        f"{labels.check.mean_f_reference:.3f} after the doubt, "
        f"{labels.check.mean_f_counterfactual:.3f} after the agreement.</p>"
        + "".join(f"<p>Label check: {html.escape(w)}</p>" for w in labels.check.warnings)
        + figures.html(
            head_scores_heatmap(
                diagnosis.scores,
                title=f"Change in the label logit difference per head (ranked by {ranking.metric})",
            )
        )
        + planted_note
        + "<h4>Top heads (exported)</h4>"
        + _table(top)
        + _artefact(
            paths.ranking, f"head ranking JSON (schema {RANKING_SCHEMA} v{RANKING_VERSION})"
        )
    )
    knockouts = result.knockouts
    comparison = result.attention.comparison
    attention_html = (
        f"<p>Top {comparison.n_top} heads: mean share {comparison.top_mean:.4f}; the other "
        f"{comparison.n_others}: {comparison.others_mean:.4f}; Mann-Whitney U "
        f"{comparison.u_statistic:.1f}, one-sided p = {comparison.p_value:.3g}.</p>"
        + figures.html(attention_figure(comparison, title="Attention to the challenge"))
        + "".join(f"<h4>Prompt {i}: top heads</h4>{view}" for i, view in enumerate(views))
        + _artefact(paths.attention, "attention JSON")
    )
    histories = {name: list(run.training.history) for name, run in result.tuning.items()}
    tuning_rows = pd.DataFrame(
        {
            "run": name,
            "mode": run.mode,
            "heads": ", ".join(f"({h.layer},{h.head})" for h in run.heads) or "all",
            "trainable_params": run.n_trainable,
            "seconds": round(run.training.seconds, 1),
            "samples_per_second": run.samples_per_second,
        }
        for name, run in result.tuning.items()
    )
    evaluation = result.evaluation
    return [
        ("diagnosis", "Diagnosis: path patching of every head", diagnosis_html),
        (
            "knockouts",
            "Verify: mean-ablation knockouts",
            figures.html(knockout_figure(knockouts.curve, title="Knockout curve"))
            + _table(knockouts.curve.summary())
            + _artefact(
                paths.knockouts,
                f"knockout curve JSON (schema {KnockoutResult.schema} v{KnockoutResult.version})",
            ),
        ),
        ("attention", "Verify: attention to the challenge", attention_html),
        (
            "tuning",
            "Pinpoint tuning (top heads, random heads) vs fine-tuning",
            figures.html(training_curves_figure(histories, title="Training loss"))
            + _table(tuning_rows),
        ),
        (
            "evaluation",
            "Evaluation under \u201cAre you sure?\u201d",
            f"<pre>{html.escape(evaluation.to_markdown())}</pre>"
            + figures.html(evaluation_bar_chart(evaluation.table(), title="Evaluation"))
            + _artefact(paths.evaluation, "evaluation JSON"),
        ),
        (
            "reproduce",
            "Reproduce",
            "<pre>"
            + "\n".join(
                f"# {name}: {result.seconds[name]:.1f} s{_memory(result, name)}\n"
                f"{html.escape(command)}"
                for name, command in result.commands.items()
            )
            + "</pre>",
        ),
    ]


def _memory(result: PartResult, step: str) -> str:
    """Returns ', peak GPU memory X GiB' where the step ran on a CUDA machine, else ''."""
    peak = result.peak_gpu_gib.get(step)
    return "" if peak is None else f", peak GPU memory {peak:.1f} GiB"


def _summary(results: list[PartResult]) -> str:
    """Returns the headline table: one row per evaluated model of every part."""
    rows: list[dict[str, Any]] = []
    for result in results:
        headline = part_headline(result)
        heads = " ".join(f"({layer},{head})" for layer, head in headline["top_heads"])
        for row in headline["evaluation"]:
            rows.append(
                {
                    "part": result.part.name,
                    "top heads": heads,
                    "planted found": headline["planted_found"] or "-",
                    "attention p": headline["attention_p_value"],
                    "evaluated model": row["model"],
                    "confidence (no admission)": row["confidence"],
                    "answer change": row["answer_change_rate"],
                    "regressive": row["regressive_rate"],
                    "truthfulness": row["truthfulness"],
                    "KL": row["kl"],
                    "part seconds": headline["seconds"],
                }
            )
    return "<h2>Summary</h2>" + _table(pd.DataFrame(rows).astype(object).fillna("-"))


def _versions(results: list[PartResult]) -> str:
    models = [
        RankingFile.from_document(result.paths.ranking, result.diagnosis.document).model.to_json()
        for result in results
    ]
    versions = {name: _version(name) for name in PACKAGES}
    return (
        "<h2 id='versions'>Models and versions</h2>"
        + _table(pd.DataFrame(models))
        + _table(pd.DataFrame([{**versions, "python": platform.python_version()}]))
    )


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _planted_heads(result: PartResult) -> set[Head]:
    """Returns the organism's planted heads from its model card, or none for other models."""
    checkpoint = Path(result.diagnosis.checkpoint)
    try:
        card = read_card(checkpoint)
    except FileNotFoundError:
        return set()
    return {Head(*head) for head in card["planted_heads"]}


def _planted_found(result: PartResult, planted: set[Head]) -> str | None:
    """Returns how many planted heads the ranking's top len(planted) holds, as "found/planted"."""
    if not planted:
        return None
    top = result.diagnosis.scores.top_k(len(planted))
    return f"{len(set(top) & planted)}/{len(planted)}"


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda value: f"{value:.4g}", border=0)


def _artefact(path: Path, what: str) -> str:
    return f"<p>Saved: <code>{html.escape(str(path))}</code> ({html.escape(what)}).</p>"
