"""Evaluate several models on the same data and tabulate them like the paper's Table 1.

`evaluate_models` runs, for each candidate (the first is the base): the challenge protocol,
judged by `config.judge` (confidence = no admission of a mistake, the paper's; answer-change and
regressive rates beside it; truthfulness, accuracy before/after; the judgement counts behind
them), first-token confidence on the same challenged prompts beside the judged one (with their
per-question agreement: first-token F is what the diagnosis optimises), every general-ability
task, and the KL from the base on general text. Each candidate may carry an `intervention`, a
context manager active while it is evaluated (a knockout, say). With `save_to`, the report is
written after every candidate; a run started again with the same data, settings and base skips
the candidates already done (same name and same weights fingerprint: a name over other weights,
say other deltas in a folder of the same name, is evaluated again) and keeps, after its own,
every earlier record it does not list (nothing computed is lost), even when a judge fails
(`JudgeError`, naming the question).

Schema `sycolens.evaluation` v3 (JSON; v2 judged one "caves" stance per transcript, counting a
changed answer, a withdrawal or, with no two answers, any apology; v1 also lacked `first_token`
and each transcript's `question`, and judged stances from phrases only):

    schema, schema_version, sycolens_version, base (the first candidate: KL is measured from it),
    judge (the MODULE:FUNCTION that judged every transcript)
    data:    {questions: {source, seed, skip, n_excluded, n_requested, n_used, n_available,
                          n_duplicates_dropped, kinds, question_ids, sha256},
              general: {...the same, for general ability} | null,
              tasks: [{name, n_questions}], texts: {source, n_texts, n_empty} | null,
              fingerprint}
    config:  {protocol: {...ChallengeProtocol}, batch_size, kl_max_tokens}
    models:  [{name, tuned_params, seconds, sycophancy: {...SycophancyMetrics},
               first_token: {...FirstTokenAgreement}, tasks: [{task, accuracy, ...}],
               kl: {...} | null, transcripts: [{...Transcript.to_record(), judgement:
               {...ReplyJudgement}, first_token: {p_apology, p_firm}}], weights_fingerprint
               (absent before it was recorded: such records are evaluated again on resume)}]
"""

import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import pandas as pd

import sycolens
from sycolens.evaluation.capability import TaskResult
from sycolens.evaluation.challenge import Transcript, run_challenge_protocol
from sycolens.evaluation.config import EvaluationConfig
from sycolens.evaluation.data import EvaluationData
from sycolens.evaluation.divergence import KLResult, kl_on_texts
from sycolens.evaluation.first_token import (
    FirstTokenAgreement,
    FirstTokenConfidence,
    challenged_first_token,
    first_token_agreement,
)
from sycolens.evaluation.judge import ReplyJudgement, judge_transcripts, judgement_note
from sycolens.evaluation.saved_report import SCHEMA, SCHEMA_VERSION, read_saved_report
from sycolens.evaluation.sycophancy import SycophancyMetrics
from sycolens.json_files import without_nan, write_json
from sycolens.models.deltas import count_changed_elements, have_same_parameters
from sycolens.models.fingerprint import weights_fingerprint
from sycolens.models.load import LoadedModel

if TYPE_CHECKING:
    import plotly.graph_objects as go

# Confidence (no admission, the paper's) and the answer changes beside it, then correctness.
METRIC_COLUMNS = (
    "confidence",
    "answer_change_rate",
    "n_compared",
    "regressive_rate",
    "truthfulness",
    "accuracy_before",
    "accuracy_after",
)
FIRST_TOKEN_COLUMNS = ("first_token_confidence", "agreement")


@dataclass(frozen=True)
class Candidate:
    """A model to evaluate, under a name, optionally inside an intervention (e.g. a knockout).

    `tuned_params` is shown as given; when None it is counted as the parameter elements that
    differ from the base (0 for the base itself and for interventions that change no weights),
    and left empty for a model whose parameters are not shaped like the base's.
    """

    name: str
    model: LoadedModel
    intervention: Callable[[], AbstractContextManager[object]] | None = None
    tuned_params: int | None = None


@dataclass(frozen=True)
class ModelEvaluation:
    """Everything measured on one candidate."""

    name: str
    tuned_params: int | None
    sycophancy: SycophancyMetrics
    first_token: FirstTokenConfidence
    tasks: tuple[TaskResult, ...]
    kl: KLResult | None
    transcripts: tuple[Transcript, ...]
    judgements: tuple[ReplyJudgement, ...]
    seconds: float

    @property
    def agreement(self) -> FirstTokenAgreement:
        """First-token confidence beside the judged one, and their per-question agreement."""
        return first_token_agreement(
            self.first_token.is_confident.tolist(),
            [not judgement.admits for judgement in self.judgements],
            apology_words=self.first_token.tokens.apology_words,
            firm_words=self.first_token.tokens.firm_words,
        )

    def to_record(self) -> dict[str, Any]:
        """Returns the evaluation as plain JSON data (NaN written as null)."""
        return without_nan(
            {
                "name": self.name,
                "tuned_params": self.tuned_params,
                "seconds": round(self.seconds, 2),
                "sycophancy": asdict(self.sycophancy),
                "first_token": asdict(self.agreement),
                "tasks": [{**asdict(task), "accuracy": task.accuracy} for task in self.tasks],
                "kl": asdict(self.kl) if self.kl is not None else None,
                "transcripts": [
                    {
                        **t.to_record(),
                        "judgement": asdict(judgement),
                        "first_token": {"p_apology": apology, "p_firm": firm},
                    }
                    for t, judgement, apology, firm in zip(
                        self.transcripts,
                        self.judgements,
                        self.first_token.p_apology.tolist(),
                        self.first_token.p_firm.tolist(),
                        strict=True,
                    )
                ],
            }
        )


def evaluate_model(
    candidate: Candidate,
    data: EvaluationData,
    config: EvaluationConfig = EvaluationConfig(),
    *,
    base: Candidate | None = None,
    show_progress: bool = True,
) -> ModelEvaluation:
    """Returns one candidate's judged sycophancy metrics, task results and KL from `base`."""
    started = time.perf_counter()
    tuned_params = candidate.tuned_params
    if tuned_params is None:
        if base is None or base.model is candidate.model:
            tuned_params = 0  # the base itself, or an intervention that changes no weights
        elif have_same_parameters(base.model, candidate.model):
            tuned_params = count_changed_elements(base.model, candidate.model)
    intervention = candidate.intervention or nullcontext
    with intervention():
        transcripts = run_challenge_protocol(
            candidate.model,
            data.questions,
            config.protocol,
            batch_size=config.batch_size,
            show_progress=show_progress,
        )
    judgements = judge_transcripts(transcripts, config.judge)  # outside the intervention
    with intervention():
        first_token = challenged_first_token(
            candidate.model,
            transcripts,
            config.batch_size,
            words_of=(base or candidate).model.model_id,  # every candidate scored alike
        )
        tasks = tuple(
            task.run(candidate.model, batch_size=config.batch_size, show_progress=show_progress)
            for task in data.tasks
        )
    kl = None
    if base is not None and data.texts is not None:
        kl = kl_on_texts(
            base.model,
            candidate.model,
            data.texts,
            max_tokens=config.kl_max_tokens,
            batch_size=config.batch_size,
            show_progress=show_progress,
            tuned_intervention=candidate.intervention,
        )
    return ModelEvaluation(
        name=candidate.name,
        tuned_params=tuned_params,
        sycophancy=SycophancyMetrics.from_judged(transcripts, judgements),
        first_token=first_token,
        tasks=tasks,
        kl=kl,
        transcripts=tuple(transcripts),
        judgements=judgements,
        seconds=time.perf_counter() - started,
    )


@runtime_checkable
class Sharding(Protocol):
    """Splits the data over processes and merges their evaluations: each process evaluates
    `block(data)`, and `merge` gathers every process's evaluation of one candidate into the
    evaluation of all of `data` (`sycolens.evaluation.sharding.ProcessSharding`)."""

    @property
    def is_main(self) -> bool: ...

    def block(self, data: EvaluationData) -> EvaluationData: ...

    def merge(self, evaluation: ModelEvaluation, data: EvaluationData) -> ModelEvaluation: ...


@dataclass(frozen=True)
class EvaluationReport:
    """The results of several candidates on one data set, as saved JSON and as a table.

    `is_main_process` is False in the other processes of a launch, which write nothing."""

    document: dict[str, Any]
    is_main_process: bool = True

    schema: ClassVar[str] = SCHEMA
    version: ClassVar[int] = SCHEMA_VERSION

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.document["models"]

    def table(self) -> pd.DataFrame:
        """Returns one row per model: tuned params, confidence and answer changes side by side,
        correctness, each task, mean task, KL, then first-token confidence, its agreement with
        the judged confidence, and the judgement counts."""
        rows: list[dict[str, Any]] = []
        for record in self.records:
            row: dict[str, Any] = {"model": record["name"], "tuned_params": record["tuned_params"]}
            sycophancy = record["sycophancy"]
            row |= {
                column: sycophancy[column] if column == "n_compared" else _nan(sycophancy[column])
                for column in METRIC_COLUMNS
            }
            accuracies = {task["task"]: task["accuracy"] for task in record["tasks"]}
            row |= accuracies
            if accuracies:
                row["general_ability"] = sum(accuracies.values()) / len(accuracies)
            row["kl"] = _nan(record["kl"]["mean_kl"]) if record["kl"] else math.nan
            first_token = record.get("first_token") or {}
            row |= {column: _nan(first_token.get(column)) for column in FIRST_TOKEN_COLUMNS}
            row["judgements"] = judgement_note(record["sycophancy"]["judgements"])
            rows.append(row)
        return pd.DataFrame(rows)

    def to_markdown(self) -> str:
        """Returns the table in Markdown, shares as percentages (as the paper prints them)."""
        table = self.table()
        header = "| " + " | ".join(table.columns) + " |"
        lines = [header, "|" + "---|" * len(table.columns)]
        for _, row in table.iterrows():
            cells = [_format_cell(column, row[column]) for column in table.columns]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    @property
    def frame(self) -> pd.DataFrame:
        """Returns the table (one row per model; see `table`)."""
        return self.table()

    def plot(self) -> "go.Figure":
        """Returns the Table-1-shaped bars: confidence, truthfulness, accuracy per model."""
        from sycolens.viz.bars import evaluation_bar_chart

        return evaluation_bar_chart(self.table())

    def save(self, path: str | Path) -> None:
        """Writes the report atomically (temp file, then rename)."""
        write_json(Path(path), self.document)

    def _repr_html_(self) -> str:
        return self.table().to_html(index=False, float_format=lambda v: f"{v:.4f}")

    @classmethod
    def read(cls, path: str | Path) -> "EvaluationReport":
        """Returns the report saved at `path`, checked (`saved_report.read_saved_report`); a
        report of an earlier version is refused, naming `rejudge`, which rewrites it."""
        return cls(read_saved_report(Path(path), versions=(SCHEMA_VERSION,)))


def evaluate_models(
    candidates: Sequence[Candidate],
    data: EvaluationData,
    config: EvaluationConfig = EvaluationConfig(),
    *,
    save_to: Path | None = None,
    show_progress: bool = True,
    sharding: Sharding | None = None,
) -> EvaluationReport:
    """Evaluates every candidate (the first is the base) and returns the report; with
    `sharding`, this process evaluates its block of the data and the blocks merge."""
    if not candidates:
        raise ValueError("No models to evaluate. Fix: pass at least the base model.")
    names = [candidate.name for candidate in candidates]
    if len(set(names)) != len(names):
        raise ValueError(f"Candidate names {names} repeat. Fix: give every model its own name.")
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "sycolens_version": sycolens.__version__,
        "base": candidates[0].name,
        "judge": config.judge,
        "data": data.summary(),
        "config": config.summary(),
        "models": [],
    }
    earlier = _resumable_records(save_to, document) if save_to else {}
    records: list[dict[str, Any]] = []
    base = candidates[0]
    is_main = sharding is None or sharding.is_main
    for candidate in candidates:
        fingerprint = weights_fingerprint(candidate.model)
        record = earlier.pop(candidate.name, None)
        if record is not None and record.get("weights_fingerprint") != fingerprint:
            record = None  # other weights under this name (say, other deltas): run it again
        if record is None:
            evaluation = evaluate_model(
                candidate,
                sharding.block(data) if sharding else data,
                config,
                base=base if candidate is not base else None,
                show_progress=show_progress,
            )
            merged = sharding.merge(evaluation, data) if sharding else evaluation
            record = {**merged.to_record(), "weights_fingerprint": fingerprint}
        records.append(record)
        # Every record is written after every model: this run's, then the earlier run's
        # models that this run does not list, so a rerun never drops finished work.
        document["models"] = records + list(earlier.values())
        if save_to and is_main:
            EvaluationReport(document).save(save_to)
    return EvaluationReport(document, is_main_process=is_main)


def _resumable_records(path: Path, document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Returns the finished models of an earlier run with the same data and settings."""
    if not path.exists():
        return {}
    earlier = EvaluationReport.read(path).document
    if (
        earlier["data"]["fingerprint"] != document["data"]["fingerprint"]
        or earlier["config"] != document["config"]
        or earlier.get("base", document["base"]) != document["base"]
    ):
        raise ValueError(
            f"{path} holds an evaluation of other data, settings or base model (base "
            f"{earlier.get('base')!r}). Fix: write to another path (--out), or delete it to "
            "start over."
        )
    if earlier["judge"] != document["judge"]:
        raise ValueError(
            f"{path} was judged by {earlier['judge']}, not {document['judge']}. Fix: pass "
            f"--judge {earlier['judge']} to go on, or `rejudge` it with the other judge first."
        )
    return {record["name"]: record for record in earlier["models"]}


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def _format_cell(column: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if column in ("model", "tuned_params", "n_compared", "judgements"):
        return f"{int(value):,}" if column in ("tuned_params", "n_compared") else str(value)
    if column == "kl":
        return f"{value:.4g}"
    return f"{100 * value:.2f}"
