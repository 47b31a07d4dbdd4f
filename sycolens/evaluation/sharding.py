"""Evaluation across processes: each evaluates one block of the data, the blocks merge.

Under `accelerate launch --num_processes N -m sycolens.evaluate ...` every process loads the
candidates on its own device and evaluates its contiguous block of the challenged questions,
of each general-ability task's questions and of the KL texts (`data_block`); the per-question
results gather and merge (`merge_evaluations`) into what one process measures on all of them:
transcripts, their judgements and per-question records in question order, the metrics
recomputed from them, KL pooled over every token. A task or the text may have fewer items
than processes: the processes past its end run none of it.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from sycolens.evaluation.capability import CapabilityTask, TaskResult
from sycolens.evaluation.data import EvaluationData
from sycolens.evaluation.divergence import KLResult
from sycolens.evaluation.first_token import FirstTokenConfidence
from sycolens.evaluation.report import ModelEvaluation
from sycolens.evaluation.sycophancy import SycophancyMetrics
from sycolens.training.data_parallel import DataParallel


@dataclass(frozen=True)
class ProcessSharding:
    """The processes of a launch as `evaluate_models` sees them (its `Sharding`)."""

    parallel: DataParallel

    @property
    def is_main(self) -> bool:
        return self.parallel.is_main

    def block(self, data: EvaluationData) -> EvaluationData:
        return data_block(data, self.parallel)

    def merge(self, evaluation: ModelEvaluation, data: EvaluationData) -> ModelEvaluation:
        return merge_evaluations(self.parallel.gather_objects(evaluation), data)


def data_block(data: EvaluationData, parallel: DataParallel) -> EvaluationData:
    """Returns this process's block of the questions, of every task and of the texts."""
    questions = data.selection.questions[parallel.block(len(data.questions), "questions")]
    tasks: list[CapabilityTask] = []
    for task in data.tasks:
        mine = task.questions[parallel.share(len(task.questions))]
        if mine:
            tasks.append(replace(task, questions=mine))  # pyright: ignore[reportArgumentType]
    texts = data.texts
    if texts is not None:
        mine = texts.texts[parallel.share(len(texts.texts))]
        texts = replace(texts, texts=mine) if mine else None
    return replace(
        data,
        selection=replace(data.selection, questions=questions),
        tasks=tuple(tasks),
        texts=texts,
    )


def merge_evaluations(parts: Sequence[ModelEvaluation], data: EvaluationData) -> ModelEvaluation:
    """Returns the evaluation of all of `data` from its blocks' evaluations, in rank order
    (tasks in `data`'s order)."""
    first = parts[0]
    transcripts = tuple(t for part in parts for t in part.transcripts)
    judgements = tuple(j for part in parts for j in part.judgements)
    task_names = [task.name for task in data.tasks]
    return ModelEvaluation(
        name=first.name,
        tuned_params=first.tuned_params,
        sycophancy=SycophancyMetrics.from_judged(transcripts, judgements),
        first_token=FirstTokenConfidence(
            torch.cat([part.first_token.p_apology for part in parts]),
            torch.cat([part.first_token.p_firm for part in parts]),
            first.first_token.tokens,
        ),
        tasks=tuple(
            _merge_tasks([task for part in parts for task in part.tasks if task.task == name])
            for name in task_names
        ),
        kl=_merge_kl([part.kl for part in parts if part.kl is not None]),
        transcripts=transcripts,
        judgements=judgements,
        seconds=max(part.seconds for part in parts),
    )


def _merge_tasks(results: list[TaskResult]) -> TaskResult:
    """One task's result over every block that ran some of its questions, items in order."""
    return TaskResult(
        task=results[0].task,
        n_questions=sum(result.n_questions for result in results),
        n_correct=sum(result.n_correct for result in results),
        n_no_answer=sum(result.n_no_answer for result in results),
        n_cut_off=sum(result.n_cut_off for result in results),
        items=tuple(item for result in results for item in result.items),
    )


def _merge_kl(results: list[KLResult]) -> KLResult | None:
    """KL pooled over every token of every block (each block's mean weighted by its tokens)."""
    if not results:
        return None
    n_tokens = sum(result.n_tokens for result in results)
    return KLResult(
        mean_kl=sum(result.mean_kl * result.n_tokens for result in results) / n_tokens,
        per_text=tuple(kl for result in results for kl in result.per_text),
        n_texts=sum(result.n_texts for result in results),
        n_tokens=n_tokens,
        n_truncated=sum(result.n_truncated for result in results),
        n_too_short=sum(result.n_too_short for result in results),
        max_tokens=results[0].max_tokens,
        source=results[0].source,
    )
