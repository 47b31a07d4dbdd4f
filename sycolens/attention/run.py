"""One call from an `AttentionJob` to attention-to-the-challenge statistics and views.

Document schema `sycolens.challenge_attention` v1:

    schema, schema_version, sycolens_version
    model:      {id, weights_fingerprint, n_layers, n_heads, n_kv_heads}
    ranking:    {path, order (null for hand-picked heads), top_n, top_heads: [[layer, head], ...]}
    heads_source: {kind (ranking | heads_by_layer | list), origin, heads (hand-picked only)}
    questions:  the held-out selection (`sycolens.data.selection`)
    span:       "sentence" | "turn", with what it covers
    test:       {top_mean, others_mean, mann_whitney_u, p_value, alternative, n_top, n_others,
                 token_share, n_prompts}
    heads:      [{layer, head, mean_share, stderr, is_top}, ...]   every head
"""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

import sycolens
from sycolens.attention.compare import AttentionComparison, compare_top_heads
from sycolens.attention.config import AttentionJob, check_attention_job, resolve_top_n
from sycolens.attention.patterns import challenge_attention
from sycolens.attention.views import attention_view
from sycolens.data.held_out import default_questions, select_held_out
from sycolens.data.selection import RecordedSelection, select_questions
from sycolens.head_lists import HeadList, heads_record, read_heads
from sycolens.heads import Head
from sycolens.json_files import read_document, without_nan, write_json
from sycolens.models.load import LoadedModel, load_model_spec
from sycolens.models.record import ModelRecord
from sycolens.models.sources import ModelShape
from sycolens.patching.export import load_ranking_for
from sycolens.prompts.chat import Message
from sycolens.prompts.pairs import build_pairs

if TYPE_CHECKING:
    import plotly.graph_objects as go

SCHEMA = "sycolens.challenge_attention"
SCHEMA_VERSION = 1
SPAN_NOTES = {
    "sentence": "the challenge message's own tokens",
    "turn": "every token from the end of the first answer on (separator, challenge, cue)",
}


@dataclass(frozen=True)
class AttentionResult:
    """The comparison, the top heads, the prompts and their circuitsvis views, and the JSON
    document (schema above). Read back from a file, it has no prompts or views: the JSON does
    not hold them (the `--html` page does)."""

    comparison: AttentionComparison
    top: tuple[Head, ...]
    chats: tuple[tuple[Message, ...], ...]
    views: tuple[str, ...]  # circuitsvis HTML (bundle embedded) of the first prompts
    document: dict[str, Any]

    schema: ClassVar[str] = SCHEMA
    version: ClassVar[int] = SCHEMA_VERSION

    @classmethod
    def read(cls, path: str | Path) -> "AttentionResult":
        """Returns the attention result saved at `path` (`sycolens attention --out`)."""
        document = read_document(
            Path(path),
            schema=SCHEMA,
            versions=(SCHEMA_VERSION,),
            what="an attention result",
            fix="write it with `sycolens attention --out`.",
        )
        test = document["test"]
        comparison = AttentionComparison(
            frame=pd.DataFrame(document["heads"]),
            top_mean=test["top_mean"],
            others_mean=test["others_mean"],
            u_statistic=test["mann_whitney_u"],
            p_value=test["p_value"],
            n_top=test["n_top"],
            n_others=test["n_others"],
            token_share=test["token_share"],
            n_prompts=test["n_prompts"],
        )
        top = tuple(Head(int(layer), int(head)) for layer, head in document["ranking"]["top_heads"])
        return cls(comparison, top, (), (), document)

    @property
    def model(self) -> ModelRecord:
        """Returns the model whose attention was measured."""
        return ModelRecord.from_json(self.document["model"], "the attention result")

    @property
    def questions(self) -> RecordedSelection:
        """Returns the held-out questions the prompts were built from."""
        return RecordedSelection.from_json(self.document["questions"], "the attention result")

    @property
    def frame(self) -> pd.DataFrame:
        """Returns one row per head: mean share of attention to the challenge, is it top."""
        return self.comparison.frame

    def plot(self) -> "go.Figure":
        """Returns the top heads' attention to the challenge against the rest (Fig. 2c)."""
        from sycolens.viz.attention import attention_figure

        return attention_figure(self.comparison, title=f"{self.model.id}: attention")

    def save(self, path: str | Path) -> Path:
        """Writes the attention JSON (what `sycolens attention --out` writes)."""
        write_json(Path(path), self.document)
        return Path(path)

    def _repr_html_(self) -> str:
        test = self.document["test"]
        top = self.frame.query("is_top").to_html(index=False, float_format=lambda v: f"{v:.4f}")
        return (
            f"<b>{self.model.id}: top {len(self.top)} heads vs the rest, "
            f"one-sided Mann-Whitney p = {test['p_value']:.3g}</b>{top}"
        )


def run_attention(job: AttentionJob, *, show_progress: bool = True) -> AttentionResult:
    """Checks the job, loads its model and returns the attention comparison."""
    check_attention_job(job)
    return attention_model(load_model_spec(job.model), job, show_progress=show_progress)


def attention_model(
    model: LoadedModel, job: AttentionJob, *, show_progress: bool = True
) -> AttentionResult:
    """Returns the comparison on an already loaded model (`job.model` is not reloaded)."""
    given = read_heads(job.heads)
    if isinstance(given, HeadList):
        given.check_fits(model.model_id, ModelShape(model.n_layers, model.n_heads))
        top_n = resolve_top_n(job, given, model.n_layers * model.n_heads)
        top = given.first(top_n)
        questions = (
            job.questions
            if job.questions is not None
            else default_questions(model.model_id, job.n_prompts)
        )
        selection = select_questions(questions)
        order = None
    else:
        path = Path(str(job.heads))
        ranking = load_ranking_for(path, model, allow_other_weights=job.allow_other_weights)
        top_n = resolve_top_n(job, ranking.file, model.n_layers * model.n_heads)
        scores = ranking.scores.ranked_by(job.order, ranking.scores.toward_counterfactual)
        top = tuple(scores.top_k(top_n))
        selection = select_held_out(job.questions, job.n_prompts, ranking.file.questions, path)
        order = job.order
    chats = tuple(pair.reference for pair in build_pairs(selection.questions))
    attention = challenge_attention(
        model, chats, span=job.span, batch_size=job.batch_size, show_progress=show_progress
    )
    comparison = compare_top_heads(attention, top)
    shown = top[: job.n_view_heads]
    views = tuple(attention_view(model, chat, shown).local_src for chat in chats[: job.n_views])
    document = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "sycolens_version": sycolens.__version__,
        "model": ModelRecord.of(model).to_json(),
        "ranking": {
            "path": given.origin if isinstance(given, HeadList) else str(job.heads),
            "order": order,
            "top_n": top_n,
            "top_heads": [list(head) for head in top],
        },
        "heads_source": heads_record(job.heads),
        "questions": selection.summary(),
        "span": {"name": job.span, "covers": SPAN_NOTES[job.span]},
        "test": comparison.summary(),
        "heads": comparison.frame.to_dict(orient="records"),
    }
    return AttentionResult(comparison, top, chats, views, without_nan(document))
