"""One call from an `EvaluationJob` to a report: check, choose data, load candidates, evaluate.

`run_evaluation` is what `python -m sycolens.evaluate` and the demo call. The base model is
always the first candidate; each deltas file (base + deltas) and each tuned checkpoint is
another. Questions a candidate was tuned on are never evaluated (`trained_on`). With `save_to`,
every record is written as soon as it is done, and a rerun skips the models already in the
file and keeps every earlier record (`evaluate_models`). Under `accelerate launch
--num_processes N -m sycolens.evaluate ...` each process loads the candidates on its own device
and evaluates a block of the data (`sycolens.evaluation.sharding`); the main process writes.
"""

import json
from dataclasses import replace
from pathlib import Path

from sycolens.evaluation.config import EvaluationJob, check_evaluation_job
from sycolens.evaluation.data import EvaluationData, build_evaluation_data
from sycolens.evaluation.report import Candidate, EvaluationReport, evaluate_models
from sycolens.evaluation.sharding import ProcessSharding
from sycolens.models.deltas import (
    TRAINING_RECORD,
    apply_deltas,
    deltas_metadata,
    is_made_over,
    training_question_ids,
)
from sycolens.models.load import load_model_spec
from sycolens.training.data_parallel import DataParallel


def evaluation_data(job: EvaluationJob) -> EvaluationData:
    """Returns the questions, general-ability tasks and KL text the job names, leaving out
    every question a tuned candidate trained on."""
    return build_evaluation_data(
        job.questions,
        general=job.general,
        texts=job.texts,
        n_texts=job.n_texts,
        exclude=trained_on(job),
    )


def trained_on(job: EvaluationJob) -> frozenset[str]:
    """Returns the ids of the questions any candidate was tuned on: from each deltas file's
    metadata and each tuned checkpoint's `sycolens_tuning.json`."""
    ids = set[str]()
    for path in job.deltas:
        ids |= training_question_ids(path)
    for source in job.tuned:
        record = Path(source) / TRAINING_RECORD
        if record.is_file():
            ids |= set(json.loads(record.read_text())["question_ids"])
    return frozenset(ids)


def load_candidates(job: EvaluationJob) -> list[Candidate]:
    """Returns the base, the base plus each deltas file, and each tuned checkpoint."""
    candidates = [Candidate(job.model.name, load_model_spec(job.model))]
    names = deltas_names(job.deltas)
    for path in job.deltas:
        model = load_model_spec(job.model)
        is_transfer = not is_made_over(deltas_metadata(path), model)
        apply_deltas(model, path, allow_other_weights=job.allow_other_weights)
        name = f"{job.model.name}+{names[path]}" + (" (other base)" if is_transfer else "")
        candidates.append(Candidate(name, model))
    for source in job.tuned:
        tuned = replace(job.model, name=source)  # same device (or device map) and dtype
        candidates.append(Candidate(source, load_model_spec(tuned)))
    return candidates


def run_evaluation(
    job: EvaluationJob, *, save_to: Path | None = None, show_progress: bool = True
) -> EvaluationReport:
    """Checks the job, then evaluates every candidate on the same data; returns the report."""
    check_evaluation_job(job)
    data = evaluation_data(job)
    parallel = DataParallel.from_environment()
    if parallel.device is not None:
        job = replace(job, model=replace(job.model, device=str(parallel.device)))
    return evaluate_models(
        load_candidates(job),
        data,
        job.evaluation,
        save_to=save_to,
        show_progress=show_progress,
        sharding=ProcessSharding(parallel) if parallel.world_size > 1 else None,
    )


def deltas_names(paths: tuple[Path, ...]) -> dict[Path, str]:
    """Returns each deltas file's name in the table: its stem, or for a tuning run's
    `deltas.safetensors`, the run folder's name; with more of the path where two would share
    a name (`a/run` and `b/run` become `a/run` and `b/run`, not `run` twice)."""
    for depth in range(1, max((len(path.parts) for path in paths), default=1) + 1):
        names = {path: _trailing(path, depth) for path in paths}
        if len(set(names.values())) == len(names):
            return names
    return {path: str(path) for path in paths}


def _trailing(path: Path, depth: int) -> str:
    folder = path.parent if path.stem == "deltas" else path.with_suffix("")
    return "/".join(folder.parts[-depth:])
