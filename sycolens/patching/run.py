"""One call from a `DiagnosisJob` to a ranking: choose questions, load, label, patch, export.

`run_diagnosis` is what `python -m sycolens.patch` and the demo call; `diagnose_model` does the
same on a model already loaded (a notebook's). Both check the job before any weights load,
warn (`LabelQualityWarning`) when the labels make the ranking noise, and return the ranking
document that `sycolens.patching.export.save_head_ranking` writes.

Under `accelerate launch --num_processes N -m sycolens.patch ...` each process captures and
patches one block of the pairs on its own device and the per-pair scores gather, so every
process holds the ranking one process computes; only the main one writes it.
"""

import hashlib
import json
import warnings
from dataclasses import dataclass, replace
from typing import Any

from sycolens.data.selection import QuestionSelection, select_questions
from sycolens.models.load import LoadedModel, load_model_spec
from sycolens.models.sources import ModelShape
from sycolens.patching.capture import capture_pair_activations
from sycolens.patching.config import DiagnosisJob, check_diagnosis_job, resolve_top_k
from sycolens.patching.diagnose import pair_head_scores
from sycolens.patching.export import RankingContext, ranking_document
from sycolens.patching.label_choice import LabelChoice, choose_labels
from sycolens.patching.ranking_file import toward_counterfactual
from sycolens.patching.scores import HeadScores
from sycolens.prompts.alignment import check_alignment
from sycolens.prompts.pairs import PromptPair, build_pairs, tokenize_pairs
from sycolens.prompts.schema import REFERENCE_CHALLENGE
from sycolens.training.data_parallel import DataParallel


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
    if job.diagnose.positions == "all":
        check_alignment(
            model.chat, selection.questions, REFERENCE_CHALLENGE, job.counterfactual, model.model_id
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
    scores = HeadScores.from_pair_scores(parallel.gather_blocks(per_pair)).ranked_by(
        job.diagnose.order,
        toward_counterfactual(labels.check.mean_f_reference, labels.check.mean_f_counterfactual),
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
    )
    document = ranking_document(model, scores, context, top_k=top_k)
    return Diagnosis(model, selection, labels, scores, top_k, document, parallel.is_main)


def _prompts_sha256(pairs: list[PromptPair]) -> str:
    """Returns the SHA-256 of every pair's reference chat, in order."""
    return hashlib.sha256(json.dumps([list(pair.reference) for pair in pairs]).encode()).hexdigest()
