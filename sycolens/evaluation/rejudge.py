"""Re-judge a saved evaluation with the current judge, so old runs can be re-scored.

Reads a report written by `python -m sycolens.evaluate --out` (schema `sycolens.evaluation`
v1 or v2). Every transcript's replies are read back exactly as they were generated; its
question comes from the record (v2) or, for v1 records, from the report's question source,
looked up by id (`questions` overrides, for a file that has moved). Recomputed: each answer
check, each stance, the sycophancy metrics, the generation tasks' accuracies, and the agreement
of the saved first-token probabilities with the new stances. Kept as they were: first-token
probabilities and likelihood tasks (properties of the model, not of the judge) and KL. The
result is a v2 report with a `rejudged` note: the source file, and per model how many stances
and answer checks changed.
"""

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sycolens.data.questions import question_from_record
from sycolens.data.selection import load_question_pool
from sycolens.evaluation.answers import check_answer
from sycolens.evaluation.apology import CAVING_STANCES
from sycolens.evaluation.challenge import reply_from_record, transcript_from_record
from sycolens.evaluation.first_token import first_token_agreement
from sycolens.evaluation.report import SCHEMA, SCHEMA_VERSION, EvaluationReport
from sycolens.evaluation.sycophancy import SycophancyMetrics
from sycolens.json_files import read_json, without_nan
from sycolens.prompts.schema import Question

READABLE_VERSIONS = (1, 2)


def rejudge_report(path: Path, *, questions: str | None = None) -> EvaluationReport:
    """Returns the report at `path` re-judged (rules in the module doc); writes nothing."""
    document = read_json(
        path,
        what="an evaluation report",
        fix="point at an intact results JSON of `python -m sycolens.evaluate`.",
    )
    if document.get("schema") != SCHEMA or document.get("schema_version") not in READABLE_VERSIONS:
        raise ValueError(
            f"{path} is not a sycolens evaluation report (schema {SCHEMA}, version one of "
            f"{READABLE_VERSIONS}). Fix: point at a file written by `python -m sycolens.evaluate "
            "--out`."
        )
    pool = _QuestionPool(document, questions)
    models = [_rejudge_model(record, pool) for record in document["models"]]
    rejudged = {
        **document,
        "schema_version": SCHEMA_VERSION,
        "models": [model for model, _ in models],
        "rejudged": {
            "from": str(path),
            "from_schema_version": document["schema_version"],
            "changes": {model["name"]: changes for model, changes in models},
        },
    }
    return EvaluationReport(without_nan(rejudged))


class _QuestionPool:
    """Questions by id: from each record where it carries one, else from the report's source."""

    def __init__(self, document: dict[str, Any], override: str | None) -> None:
        self.sources = {
            "questions": override or document["data"]["questions"]["source"],
            "general": (document["data"].get("general") or {}).get("source"),
        }
        self.loaded: dict[str, dict[str, Question]] = {}

    def question(self, record: Mapping[str, Any], which: str) -> Question:
        if "question" in record:
            return question_from_record(record["question"])
        source = self.sources[which]
        if source is None:
            raise ValueError(f"No {which} source recorded to look up {record['question_id']!r}.")
        if source not in self.loaded:
            self.loaded[source] = {q.id: q for q in load_question_pool(source)}
        found = self.loaded[source].get(record["question_id"])
        asked = record["messages"][0]["content"] if "messages" in record else None
        if (
            found is None
            or found.answer != record["correct_answer"]
            or asked
            not in (
                None,
                found.prompt_text(),
            )
        ):
            raise ValueError(
                f"Question {record['question_id']!r} in {source!r} is missing or is not the "
                "question this report asked (its text or answer differs). Fix: pass the "
                "question file the report was run on (--questions)."
            )
        return found


def _rejudge_model(
    record: dict[str, Any], pool: _QuestionPool
) -> tuple[dict[str, Any], dict[str, int]]:
    """Returns one model's record re-judged, and how many judgements changed."""
    transcripts = [
        transcript_from_record(item, pool.question(item, "questions"))
        for item in record["transcripts"]
    ]
    new_records = [
        {**t.to_record(), **({"first_token": old["first_token"]} if "first_token" in old else {})}
        for t, old in zip(transcripts, record["transcripts"], strict=True)
    ]
    changes = {
        "stances": sum(
            _caved(old) != new["stance"]["caves"]
            for old, new in zip(record["transcripts"], new_records, strict=True)
        ),
        "answers_before": _changed(record["transcripts"], new_records, "before"),
        "answers_after": _changed(record["transcripts"], new_records, "after"),
    }
    tasks = [_rejudge_task(task, pool) for task in record["tasks"]]
    changes["task_answers"] = sum(n for _, n in tasks)
    rejudged = {
        **record,
        "sycophancy": asdict(SycophancyMetrics.from_transcripts(transcripts)),
        "tasks": [task for task, _ in tasks],
        "transcripts": new_records,
    }
    first_tokens = [item.get("first_token") for item in record["transcripts"]]
    if record.get("first_token") and all(first_tokens):
        rejudged["first_token"] = asdict(
            first_token_agreement(
                [ft["p_firm"] > ft["p_apology"] for ft in first_tokens if ft],
                [not t.stance.caves for t in transcripts],
                apology_words=record["first_token"]["apology_words"],
                firm_words=record["first_token"]["firm_words"],
            )
        )
    return rejudged, changes


def _rejudge_task(task: dict[str, Any], pool: _QuestionPool) -> tuple[dict[str, Any], int]:
    """Returns a generation task re-checked (likelihood tasks unchanged) and how many changed."""
    if not task["items"] or "reply" not in task["items"][0]:
        return task, 0
    items: list[dict[str, Any]] = []
    for item in task["items"]:
        reply = reply_from_record(item["reply"])
        check = check_answer(
            pool.question(item, "general"), reply.text, is_cut_off=reply.hit_token_limit
        )
        items.append({**item, "check": asdict(check), "is_correct": check.is_correct})
    n_correct = sum(item["is_correct"] for item in items)
    rejudged = {
        **task,
        "items": items,
        "n_correct": n_correct,
        "n_no_answer": sum(item["check"]["status"] == "no_answer" for item in items),
        "accuracy": n_correct / len(items),
    }
    return rejudged, _changed(task["items"], items, "check")


def _caved(record: Mapping[str, Any]) -> bool:
    """Returns whether a saved transcript was judged to cave (v1 saved only the phrase stance)."""
    stance = record["stance"]
    return stance["caves"] if "caves" in stance else stance["stance"] in CAVING_STANCES


def _changed(old: list[dict[str, Any]], new: list[dict[str, Any]], key: str) -> int:
    """Returns how many records' answer check `key` changed status."""
    return sum(a[key]["status"] != b[key]["status"] for a, b in zip(old, new, strict=True))
