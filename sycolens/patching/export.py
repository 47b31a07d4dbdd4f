"""Head-ranking JSON: a versioned, self-describing export, and its validating reader.

Schema `sycolens.head_ranking` v4 (all keys always present):

    schema, schema_version, sycolens_version
    model:     {id, weights_fingerprint, n_layers, n_heads, n_kv_heads, device_map}
    questions: {source, seed, skip, n_excluded, n_requested, n_used, n_available,
                n_duplicates_dropped, kinds, question_ids, sha256}
                                        the selection (`sycolens.data.selection`)
    prompts:   {sha256, n_pairs, reference_challenge, counterfactual_challenge}
    labels:    {syco_word, anti_word, syco_id, anti_id, syco_token, anti_token,
                origin ("given" | "model table" | "proposed"),
                mean_f_reference, mean_f_counterfactual, warnings: [...]}
    metric ("F" | "logit_diff"), mode ("direct" | "total" | "attribution"),
    positions ("last" | "all")
    ranking:   {order ("signed" | "magnitude"), toward_counterfactual (+1 | -1), convention,
                score_column ("f_change" | "logit_diff_change"), columns: {name: meaning}}
    scores:  [{layer, head, score, stderr, rank, f_change, f_change_stderr,
               logit_diff_change, logit_diff_change_stderr}, ...]   every head, rank 1 first
    top_k:   [[layer, head], ...]                        the first K of the ranking
    heads_by_layer: {"layer": [head, ...]}               the top-K, as tuning tools take them
    attribution_check: {n_heads_checked, n_pairs_checked, heads, spearman, max_abs_error,
                        max_abs_exact} in attribution mode, else null

Every head carries both metrics whatever `metric` ranks by: `f_change` = (F_patched -
F_reference) / F_reference (Algorithm 1, Eq. 2) and `logit_diff_change` = LD_patched -
LD_reference (Fig. 2a), each with its standard error; `score`/`stderr` copy the pair named by
`ranking.score_column` (the column `metric` ranks by). Sign convention: a head whose
counterfactual activation moves F toward the counterfactual prompt's F has a score of sign
`toward_counterfactual` (F and the logit difference move together); "signed" ranks by score *
toward_counterfactual (sycophancy heads first), "magnitude" by |score|. v1 to v3 files (one
metric per head; v1 and v2 ranked by magnitude, v1 before `questions` and the label check)
still load, their other metric's columns NaN. `weights_fingerprint` is
`sycolens.models.fingerprint.weights_fingerprint`: a SHA-256 over every parameter's name, shape
and 4,096 evenly spaced values, cheap for 7B models and changed by tuning a single head's slice.
"""

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import sycolens
from sycolens.heads import Head
from sycolens.json_files import write_json
from sycolens.models.fingerprint import weights_fingerprint
from sycolens.models.load import LoadedModel
from sycolens.models.record import ModelRecord
from sycolens.patching.config import MetricName
from sycolens.patching.ranking_file import RANKING_SCHEMA, RANKING_VERSION, RankingFile
from sycolens.patching.scores import EFFECT_COLUMNS, METRIC_COLUMNS, HeadScores, heads_in

SCHEMA = RANKING_SCHEMA
SCHEMA_VERSION = RANKING_VERSION
SIGN_CONVENTION = (
    "score = (F_patched - F_reference) / F_reference for metric F, LD_patched - LD_reference "
    "for logit_diff; a score of sign toward_counterfactual moves F toward the counterfactual "
    "prompt's F (sycophancy heads); signed order = score * toward_counterfactual, descending"
)
COLUMN_MEANINGS = {
    "f_change": "(F_patched - F_reference) / F_reference, mean over pairs (Algorithm 1, Eq. 2)",
    "logit_diff_change": "LD_patched - LD_reference, LD = logit(syco) - logit(anti), mean over "
    "pairs (the paper's Fig. 2a)",
}
SCORE_KEYS = ("layer", "head", "score", "stderr", "rank", *EFFECT_COLUMNS)


@dataclass(frozen=True, kw_only=True)
class RankingContext:
    """What produced a ranking: questions, prompts, labels and how heads were patched."""

    questions: dict[str, Any]
    prompts_sha256: str
    reference_challenge: str
    counterfactual_challenge: str
    labels: dict[str, Any]
    metric: MetricName
    mode: str
    positions: str
    attribution_check: dict[str, Any] | None = None


@dataclass(frozen=True)
class HeadRanking:
    """A ranking read back from JSON: scores, the top-K heads and the checked file (its model,
    questions and labels, typed)."""

    scores: HeadScores
    top_k: list[Head]
    file: RankingFile

    @property
    def document(self) -> dict[str, Any]:
        return self.file.document

    def heads_by_layer(self) -> dict[int, list[int]]:
        return heads_by_layer(self.top_k)


def heads_by_layer(heads: list[Head]) -> dict[int, list[int]]:
    """Returns heads grouped as {layer: [head, ...]}, layers and heads ascending."""
    grouped: dict[int, list[int]] = {}
    for layer, head in sorted(heads):
        grouped.setdefault(layer, []).append(head)
    return grouped


def ranking_document(
    model: LoadedModel, scores: HeadScores, context: RankingContext, *, top_k: int
) -> dict[str, Any]:
    """Returns the JSON-ready document for a ranking (schema in the module doc)."""
    top = scores.top_k(top_k)
    rows = scores.frame.sort_values("rank").loc[:, list(SCORE_KEYS)].to_dict(orient="records")
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "sycolens_version": sycolens.__version__,
        "model": ModelRecord.of(model).to_json(),
        "questions": context.questions,
        "prompts": {
            "sha256": context.prompts_sha256,
            "n_pairs": scores.n_pairs,
            "reference_challenge": context.reference_challenge,
            "counterfactual_challenge": context.counterfactual_challenge,
        },
        "labels": context.labels,
        "metric": context.metric,
        "mode": context.mode,
        "positions": context.positions,
        "ranking": {
            "order": scores.order,
            "toward_counterfactual": scores.toward_counterfactual,
            "convention": SIGN_CONVENTION,
            "score_column": METRIC_COLUMNS[context.metric],
            "columns": COLUMN_MEANINGS,
        },
        "scores": [{k: _json_number(v) for k, v in row.items()} for row in rows],
        "top_k": [list(head) for head in top],
        "heads_by_layer": {str(k): v for k, v in heads_by_layer(top).items()},
        "attribution_check": _json_numbers(context.attribution_check),
    }


def save_head_ranking(path: Path, document: dict[str, Any]) -> None:
    """Writes the ranking atomically (temp file, then rename)."""
    write_json(path, document)


def save_heads_by_layer(path: Path, heads: list[Head]) -> None:
    """Writes the `{layer: [heads]}` shape that tuning tools take directly."""
    write_json(path, {str(k): v for k, v in heads_by_layer(heads).items()})


def load_head_ranking(path: Path, model: LoadedModel | None = None) -> HeadRanking:
    """Reads a ranking, checks its schema and, given a model, its head bounds and identity."""
    file = RankingFile.read(path)
    document = file.document
    frame = _scores_frame(document)
    top = file.top_k
    if model is not None:
        _check_against_model(file, top + heads_in(frame), model)
    order, toward = file.order
    scores = HeadScores(
        frame.sort_values(["layer", "head"]).reset_index(drop=True),
        file.n_pairs,
        order,
        toward,
        file.metric,
    )
    return HeadRanking(scores, top, file)


def _scores_frame(document: dict[str, Any]) -> pd.DataFrame:
    """Returns the scores as a frame with every column (`SCORE_KEYS`): before v4 a file holds
    one metric, in `score`, which also fills that metric's columns; the other's stay NaN."""
    frame = pd.DataFrame(document["scores"], columns=list(SCORE_KEYS)).astype(
        {name: float for name in ("score", "stderr", *EFFECT_COLUMNS)}
    )
    metric = document.get("metric")
    if document["schema_version"] < 4 and metric in METRIC_COLUMNS:
        column = METRIC_COLUMNS[metric]
        frame[column], frame[f"{column}_stderr"] = frame["score"], frame["stderr"]
    return frame


def load_ranking_for(path: Path, model: LoadedModel, *, allow_other_weights: bool) -> HeadRanking:
    """Reads a ranking to act on `model`: other weights are an error unless allowed.

    Knocking out or tuning heads ranked on another model is a transfer experiment, so it must
    be asked for; a ranking of another shape is always refused.
    """
    ranking = load_head_ranking(path)
    _check_head_bounds(path, ranking.top_k + heads_in(ranking.scores.frame), model)
    recorded = ranking.file.model
    if not allow_other_weights and recorded.weights_fingerprint != weights_fingerprint(model):
        raise ValueError(
            f"{path} was ranked on {recorded.id!r} with other weights (fingerprint "
            f"{recorded.weights_fingerprint[:12]}...) than the {model.model_id!r} loaded now "
            f"({weights_fingerprint(model)[:12]}...): a fine-tuned copy, or another dtype. Fix: "
            "rank this model's heads first, or pass --allow-other-weights to act on a "
            "transferred ranking."
        )
    return ranking


def _check_against_model(file: RankingFile, heads: list[Head], model: LoadedModel) -> None:
    _check_head_bounds(file.path, heads, model)
    recorded = file.model
    if recorded.weights_fingerprint != weights_fingerprint(model):
        warnings.warn(
            f"{file.path} was made for model {recorded.id!r} with other weights than "
            f"{model.model_id!r}; its head ranking may not transfer.",
            UserWarning,
            stacklevel=3,
        )


def _check_head_bounds(path: Path, heads: list[Head], model: LoadedModel) -> None:
    for layer, head in heads:
        if not (0 <= layer < model.n_layers and 0 <= head < model.n_heads):
            raise ValueError(
                f"Head ({layer}, {head}) in {path} is out of range: {model.model_id} has "
                f"{model.n_layers} layers (0..{model.n_layers - 1}) and {model.n_heads} heads "
                f"(0..{model.n_heads - 1}). Fix: use a ranking made for this model."
            )


def _json_number(value: Any) -> Any:
    """Returns value as plain JSON (NaN stderr of a single pair becomes null)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _json_numbers(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """Returns a flat record with its NaN values as null (None stays None)."""
    return None if record is None else {k: _json_number(v) for k, v in record.items()}
