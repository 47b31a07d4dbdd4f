"""One call from a `DiagnosisJob` to a ranking: choose questions, load, label, patch, export.

`run_diagnosis` is what `python -m sycolens.patch` and the demo call; `diagnose_model` does the
same on a model already loaded (a notebook's). Both check the job before any weights load,
warn (`LabelQualityWarning`) when the labels make the ranking noise, and return the ranking
document that `sycolens.patching.export.save_head_ranking` writes.

In attribution mode the estimate of `check_heads` heads is then checked against the exact
total on the same pairs (`sycolens.patching.attribution`), and the ranking records the check.

Under `accelerate launch --num_processes N -m sycolens.patch ...` each process captures and
patches one block of the pairs on its own device and the per-pair scores gather, so every
process holds the ranking one process computes; only the main one writes it.
"""

import hashlib
import json
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from sycolens.data.selection import QuestionSelection, select_questions
from sycolens.heads import Head
from sycolens.models.load import LoadedModel, load_model_spec
from sycolens.models.sources import ModelShape
from sycolens.patching.attribution import AttributionCheck, attribution_check, heads_to_check
from sycolens.patching.capture import PairActivations, capture_pair_activations
from sycolens.patching.config import (
    METRICS,
    DiagnosisJob,
    check_diagnosis_job,
    check_pairs_align,
    needs_aligned_pairs,
    resolve_top_k,
)
from sycolens.patching.diagnose import exact_total_logit_diffs, pair_head_scores
from sycolens.patching.export import RankingContext, ranking_document, save_head_ranking
from sycolens.patching.label_choice import LabelChoice, choose_labels
from sycolens.patching.metrics import label_logit_diff
from sycolens.patching.ranking_file import toward_counterfactual
from sycolens.patching.scores import HeadScores
from sycolens.prompts.labels import LabelTokens
from sycolens.prompts.pairs import PromptPair, TokenizedPairs, build_pairs, tokenize_pairs
from sycolens.prompts.schema import REFERENCE_CHALLENGE
from sycolens.training.data_parallel import DataParallel

if TYPE_CHECKING:
    import plotly.graph_objects as go


class LabelQualityWarning(UserWarning):
    """The label words barely separate doubt from agreement: the ranking may be noise."""


@dataclass(frozen=True)
class Diagnosis:
    """A diagnosis: the model, questions, labels, every head's score and the JSON document."""

    model: LoadedModel
    selection: QuestionSelection
    labels: LabelChoice
    scores: HeadScores
    top_k: int
    document: dict[str, Any]
    is_main_process: bool = True  # False in the other processes of a launch: they write nothing

    @property
    def frame(self) -> pd.DataFrame:
        """Returns one row per head, rank 1 first (layer, head, both metrics' changes, rank)."""
        return self.scores.frame.sort_values("rank").reset_index(drop=True)

    def plot(self) -> "go.Figure":
        """Returns the heatmap of every head's change in the logit difference (Fig. 2a)."""
        from sycolens.viz.heatmaps import head_scores_heatmap

        return head_scores_heatmap(self.scores, title=f"{self.model.model_id}: heads")

    def save(self, path: str | Path) -> Path:
        """Writes the ranking JSON every later step reads; returns its path."""
        save_head_ranking(Path(path), self.document)
        return Path(path)

    def _repr_html_(self) -> str:
        top = self.frame.head(self.top_k).to_html(index=False, float_format=lambda v: f"{v:.4g}")
        return f"<b>{self.model.model_id}: top {self.top_k} heads</b>{top}"

    attribution_check: AttributionCheck | None = None  # attribution mode with check_heads > 0


def run_diagnosis(job: DiagnosisJob, *, show_progress: bool = True) -> Diagnosis:
    """Checks the job, loads its model (on accelerate's device for this process, when a
    launcher started several) and returns the diagnosis."""
    check_diagnosis_job(job)
    parallel = DataParallel.from_environment()
    spec = job.model
    if parallel.device is not None:
        spec = replace(spec, device=str(parallel.device))
    return diagnose_model(
        load_model_spec(spec), job, show_progress=show_progress, parallel=parallel
    )


def diagnose_model(
    model: LoadedModel,
    job: DiagnosisJob,
    *,
    show_progress: bool = True,
    parallel: DataParallel | None = None,
) -> Diagnosis:
    """Returns the diagnosis of an already loaded model (`job.model` is not reloaded); with
    several processes, this one's block of the pairs, the scores gathered from all."""
    shape = ModelShape(n_layers=model.n_layers, n_heads=model.n_heads)
    top_k = resolve_top_k(job.top_k, model.model_id, shape)
    selection = select_questions(job.questions)
    if needs_aligned_pairs(job.diagnose):
        check_pairs_align(
            model.chat, selection.questions, job.counterfactual, model.model_id, job.diagnose
        )
    prompt_pairs = build_pairs(selection.questions, counterfactual_challenge=job.counterfactual)
    pairs = tokenize_pairs(
        prompt_pairs, model.chat, n_ctx=model.n_ctx, pad_token_id=model.pad_token_id
    )
    parallel = parallel or DataParallel()
    block = parallel.block(len(pairs), "pairs")
    local = capture_pair_activations(
        model, pairs.select(block), batch_size=job.diagnose.batch_size, show_progress=show_progress
    )
    # Label choice reads every pair's logits, the only activations the processes exchange.
    labels = choose_labels(
        model,
        prompt_pairs,
        parallel.gather_blocks(local.reference.logits),
        parallel.gather_blocks(local.counterfactual.logits),
        job.labels,
    )
    for message in labels.check.warnings:
        warnings.warn(message, LabelQualityWarning, stacklevel=2)
    per_pair = pair_head_scores(
        model,
        pairs.select(block),
        labels.tokens,
        job.diagnose,
        activations=local,
        show_progress=show_progress,
    )
    effects = parallel.gather_blocks(per_pair)
    scores = HeadScores.from_pair_effects(effects, job.diagnose.metric).ranked_by(
        job.diagnose.order,
        toward_counterfactual(labels.check.mean_f_reference, labels.check.mean_f_counterfactual),
    )
    check = _check_attribution(
        model, pairs.select(block), local, labels.tokens, scores, effects, job, parallel
    )
    context = RankingContext(
        questions=selection.summary(),
        prompts_sha256=_prompts_sha256(prompt_pairs),
        reference_challenge=REFERENCE_CHALLENGE,
        counterfactual_challenge=job.counterfactual,
        labels=labels.summary(),
        metric=job.diagnose.metric,
        mode=job.diagnose.mode,
        positions=job.diagnose.positions,
        attribution_check=None if check is None else check.summary(),
    )
    document = ranking_document(model, scores, context, top_k=top_k)
    return Diagnosis(model, selection, labels, scores, top_k, document, parallel.is_main, check)


def _check_attribution(
    model: LoadedModel,
    pairs: TokenizedPairs,
    activations: PairActivations,
    labels: LabelTokens,
    scores: HeadScores,
    effects: Float[Tensor, "n_pairs n_metrics n_layers n_heads"],
    job: DiagnosisJob,
    parallel: DataParallel,
) -> AttributionCheck | None:
    """Returns attribution mode's check against the exact total on `job`'s sample of heads
    (this process computes its block of `pairs`), or None in the other modes."""
    if job.diagnose.mode != "attribution" or job.diagnose.check_heads == 0:
        return None
    heads = heads_to_check(scores, job.diagnose.check_heads)
    exact = _exact_changes(model, pairs, activations, labels, heads, job)
    columns = [head.layer * model.n_heads + head.head for head in heads]
    estimated = effects[:, METRICS.index("logit_diff")].flatten(1)[:, columns]
    return attribution_check(heads, estimated, parallel.gather_blocks(exact))


def _exact_changes(
    model: LoadedModel,
    pairs: TokenizedPairs,
    activations: PairActivations,
    labels: LabelTokens,
    heads: list[Head],
    job: DiagnosisJob,
) -> Float[Tensor, "n_pairs n_checked"]:
    """Returns the exact total LD_patched - LD_reference of `heads` on `pairs` (on the CPU),
    in batches of the job's batch size; `activations` are the pairs' captured ones."""
    config = replace(job.diagnose, mode="total")
    changes: list[Tensor] = []
    for start in range(0, len(pairs), config.batch_size):
        rows = slice(start, start + config.batch_size)
        batch, captured = pairs.select(rows), activations.select(rows)
        clean = label_logit_diff(captured.reference.logits, labels)
        patched = exact_total_logit_diffs(
            model, batch, labels, heads, config, z_counterfactual=captured.counterfactual.z
        )
        changes.append((patched.float() - clean.float()[:, None]).cpu())
    return torch.cat(changes)


def _prompts_sha256(pairs: list[PromptPair]) -> str:
    """Returns the SHA-256 of every pair's reference chat, in order."""
    return hashlib.sha256(json.dumps([list(pair.reference) for pair in pairs]).encode()).hexdigest()
