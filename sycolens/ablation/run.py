"""One call from a `KnockoutJob` to a knockout curve and its JSON document.

`run_knockout` is what `python -m sycolens.ablate` calls; `knockout_model` does the same on a
model already loaded. Labels are the ranking's own (checked against this tokenizer); questions
are held out from those the ranking was made on.

Document schema `sycolens.knockout_curve` v2 (v1 rows judged "stances" and "phrases", with
confidence as the share that did not cave):

    schema, schema_version, sycolens_version
    model:    {id, weights_fingerprint, n_layers, n_heads, n_kv_heads}
    ranking:  {path, mode, metric, order, toward_counterfactual, weights_fingerprint}, or null
              for hand-picked heads
    heads_source: {kind (ranking | heads_by_layer | list), origin, heads (hand-picked only)}
    labels:   {syco_word, anti_word, syco_id, anti_id, syco_token, anti_token}
    questions: the held-out selection (`sycolens.data.selection`)
    config:   {ks, order, n_random, seed, method, positions, judged, judge, batch_size}
    ablation: {method, positions, positions_note}
    baseline: {f_reference, f_counterfactual, contrast (+ stderr each), n_questions}
    rows:     [{condition (none, top, random; bottom for a ranking), k, seed, heads, mean_f,
                f_stderr, f_change, f_change_stderr,
                share_of_contrast, z_replaced_in_f_forwards (head-positions replaced while
                measuring F), [confidence (no admission), answer_change_rate (over
                n_compared), regressive_rate, truthfulness, accuracy_before, accuracy_after,
                n_compared, judgements (counts by ReplyJudgement.label)], when judged}, ...]
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

import sycolens
from sycolens.ablation.config import POSITIONS_NOTE
from sycolens.ablation.curve import KnockoutCurve, knockout_curve
from sycolens.ablation.job import KnockoutJob, check_knockout_job
from sycolens.data.held_out import default_questions, select_held_out
from sycolens.data.selection import RecordedSelection, select_questions
from sycolens.evaluation.config import protocol_for
from sycolens.head_lists import HeadList, heads_record, read_heads
from sycolens.json_files import read_document, without_nan, write_json
from sycolens.models.load import LoadedModel, load_model_spec
from sycolens.models.record import ModelRecord
from sycolens.models.registry import table_labels
from sycolens.models.sources import ModelShape
from sycolens.patching.export import HeadRanking, load_ranking_for
from sycolens.patching.ranking_file import LABEL_KEYS
from sycolens.patching.scores import HeadScores
from sycolens.prompts.label_spec import PAPER_LABELS
from sycolens.prompts.labels import LabelTokens, resolve_label_tokens
from sycolens.prompts.pairs import build_pairs
from sycolens.prompts.schema import Question

if TYPE_CHECKING:
    import plotly.graph_objects as go

SCHEMA = "sycolens.knockout_curve"
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class KnockoutResult:
    """The curve and its JSON document (schema above), as run or read back from a file."""

    curve: KnockoutCurve
    document: dict[str, Any]

    schema: ClassVar[str] = SCHEMA
    version: ClassVar[int] = SCHEMA_VERSION

    @classmethod
    def read(cls, path: str | Path) -> "KnockoutResult":
        """Returns the knockout curve saved at `path` (`sycolens knockout --out`), checked."""
        document = read_document(
            Path(path),
            schema=SCHEMA,
            versions=(SCHEMA_VERSION,),
            what="a knockout curve",
            fix="write it with `sycolens knockout --out` (a v1 curve: run it again).",
        )
        curve = KnockoutCurve(tuple(document["rows"]), document["baseline"])
        return cls(curve, document)

    @property
    def model(self) -> ModelRecord:
        """Returns the model the heads were knocked out in."""
        return ModelRecord.from_json(self.document["model"], "the knockout curve")

    @property
    def questions(self) -> RecordedSelection:
        """Returns the held-out questions the curve was measured on."""
        return RecordedSelection.from_json(self.document["questions"], "the knockout curve")

    @property
    def frame(self) -> pd.DataFrame:
        """Returns one row per knockout (condition, k, seed, heads, F and its change)."""
        return self.curve.frame

    def plot(self) -> "go.Figure":
        """Returns the knockout curve (Fig. 2b): F against k, top vs random vs bottom."""
        from sycolens.viz.knockout import knockout_figure

        return knockout_figure(self.curve, title=f"{self.model.id}: knockouts")

    def save(self, path: str | Path) -> Path:
        """Writes the knockout-curve JSON (what `sycolens knockout --out` writes)."""
        write_json(Path(path), self.document)
        return Path(path)

    def _repr_html_(self) -> str:
        summary = self.curve.summary().to_html(index=False, float_format=lambda v: f"{v:.4f}")
        return f"<b>{self.model.id}: knockout curve</b>{summary}"


def run_knockout(job: KnockoutJob, *, show_progress: bool = True) -> KnockoutResult:
    """Checks the job, loads its model and returns the knockout curve."""
    check_knockout_job(job)
    return knockout_model(load_model_spec(job.model), job, show_progress=show_progress)


def knockout_model(
    model: LoadedModel, job: KnockoutJob, *, show_progress: bool = True
) -> KnockoutResult:
    """Returns the knockout curve of an already loaded model (`job.model` is not reloaded)."""
    given = read_heads(job.heads)
    if isinstance(given, HeadList):
        given.check_fits(model.model_id, ModelShape(model.n_layers, model.n_heads))
        questions = (
            job.questions
            if job.questions is not None
            else default_questions(model.model_id, job.n_questions)
        )
        selection = select_questions(questions)
        labels = model_table_labels(model, selection.questions)
        heads: HeadScores | HeadList = given
        ranking_record = None
    else:
        path = Path(str(job.heads))
        ranking = load_ranking_for(path, model, allow_other_weights=job.allow_other_weights)
        labels = ranking_labels(ranking, model)
        selection = select_held_out(job.questions, job.n_questions, ranking.file.questions, path)
        heads = ranking.scores
        ranking_record = {
            "path": str(path),
            "mode": ranking.file.mode,
            "metric": ranking.file.metric,
            "order": job.knockout.order,
            "toward_counterfactual": ranking.scores.toward_counterfactual,
            "weights_fingerprint": ranking.file.model.weights_fingerprint,
        }
    curve = knockout_curve(
        model,
        heads,
        labels,
        selection.questions,
        job.knockout,
        protocol=protocol_for(selection.source),
        show_progress=show_progress,
    )
    document = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "sycolens_version": sycolens.__version__,
        "model": ModelRecord.of(model).to_json(),
        "ranking": ranking_record,
        "heads_source": heads_record(job.heads),
        "labels": {key: getattr(labels, key) for key in LABEL_KEYS},
        "questions": selection.summary(),
        "config": asdict(job.knockout),
        "ablation": {
            "method": job.knockout.method,
            "positions": job.knockout.positions,
            "positions_note": POSITIONS_NOTE[job.knockout.positions],
        },
        "baseline": curve.baseline,
        "rows": list(curve.records),
    }
    return KnockoutResult(curve, without_nan(document))


def model_table_labels(model: LoadedModel, questions: Sequence[Question]) -> LabelTokens:
    """Returns the label tokens of the model table (the paper's for a model not in it), for
    hand-picked heads, which carry no labels of their own."""
    words = table_labels(model.model_id) or PAPER_LABELS
    prompt = build_pairs(list(questions[:1]))[0].reference
    return resolve_label_tokens(model.chat, prompt, syco_word=words.syco, anti_word=words.anti)


def ranking_labels(ranking: HeadRanking, model: LoadedModel) -> LabelTokens:
    """Returns the ranking's label tokens, checked to be the same tokens in this tokenizer."""
    labels = ranking.file.label_tokens()
    for token_id, token in (
        (labels.syco_id, labels.syco_token),
        (labels.anti_id, labels.anti_token),
    ):
        if model.tokenizer.convert_ids_to_tokens(token_id) != token:
            raise ValueError(
                f"The ranking's label token {token!r} (id {token_id}) is another token in "
                f"{model.model_id}'s tokenizer. Fix: use a ranking made with this tokenizer."
            )
    return labels
