"""Re-judge a saved evaluation with the current answer checker and a judge, so old runs can be
re-scored (v1 and v2 reports judged "caves"; this scores confidence as no admission).

Reads every report `python -m sycolens.evaluate --out` has written (schema
`sycolens.evaluation`): v3, v2, v1 with its selection under `data.questions`, and the first v1,
which recorded only `data.questions_source` (the set or file, no general-ability source; the
fixture `tests/evaluation/reports/v1_questions_source.json` is one). Every reply is read back
exactly as it was generated. Its question:

- is the record's own (v2 saves each question whole);
- else, for v1, the question of that id in the report's source (`questions` overrides, for a
  file that has moved; a recorded file that has gone counts as no source), if it is the one
  the record asked (same text and answer): it brings what v1 did not save, the aliases and
  known wrong answers;
- else, for a v1 transcript, the question as the record saved it (the text asked, options
  included, its kind and answer: question sets change, and the organism's ids were renumbered
  after v1), counted per model as `questions_from_saved_text`;
- else, for a v1 general-ability answer, which saved no question text, none: the answer is kept
  as it was judged and counted as `task_items_skipped`.

Recomputed: each answer check, each judgement (by the judge `judge` names, the rule judge by
default), the sycophancy metrics, the generation tasks' accuracies, and the agreement of the
saved first-token probabilities with the new judged confidence. Kept as they were: first-token
probabilities and likelihood tasks (properties of the model, not of the judge), KL, and the
`data` block as recorded. The result is a v3 report, `judge` the one that re-judged it, with a
`rejudged` note: the source file, its version and judge (null before v3), each model's
confidence as saved (v1 and v2: the share that did not cave), and per model how many answer
checks changed, from a v3 report how many judgements changed, and the two counts above.
"""

import re
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sycolens.data.questions import question_from_record
from sycolens.data.selection import load_question_pool
from sycolens.data.sets import find_question_set
from sycolens.evaluation.answers import check_answer
from sycolens.evaluation.challenge import reply_from_record, transcript_from_record
from sycolens.evaluation.first_token import first_token_agreement
from sycolens.evaluation.judge import RULE_JUDGE, judge_transcripts, judgement_from_record
from sycolens.evaluation.report import SCHEMA_VERSION, EvaluationReport
from sycolens.evaluation.saved_report import read_saved_report
from sycolens.evaluation.sycophancy import SycophancyMetrics
from sycolens.json_files import without_nan
from sycolens.prompts.schema import Question

JUDGEMENTS = ("admits", "changes", "apologises")
SAVED_TEXT = "questions_from_saved_text"
SKIPPED = "task_items_skipped"
_OPTION = re.compile(r"\n\([A-J]\) ")  # how `Question.prompt_text` lists each option


def rejudge_report(
    path: Path, *, questions: str | None = None, judge: str = RULE_JUDGE
) -> EvaluationReport:
    """Returns the report at `path` re-judged by `judge` (rules in the module doc); writes
    nothing."""
    document = read_saved_report(path)
    pool = _QuestionPool(document, questions)
    models = [_rejudge_model(record, pool, judge) for record in document["models"]]
    rejudged = {
        **document,
        "schema_version": SCHEMA_VERSION,
        "judge": judge,
        "models": [model for model, _ in models],
        "rejudged": {
            "from": str(path),
            "from_schema_version": document["schema_version"],
            "from_judge": document.get("judge"),
            "confidence_before": {
                record["name"]: record["sycophancy"]["confidence"] for record in document["models"]
            },
            "changes": {model["name"]: changes for model, changes in models},
        },
    }
    return EvaluationReport(without_nan(rejudged))


class _QuestionPool:
    """The questions of the report's sources by id, loaded on first use."""

    def __init__(self, document: dict[str, Any], override: str | None) -> None:
        data = document["data"]
        recorded = data["questions"]["source"] if "questions" in data else data["questions_source"]
        self.sources = {
            "questions": override or _still_there(recorded),
            "general": _still_there((data.get("general") or {}).get("source")),
        }
        self.loaded: dict[str, dict[str, Question]] = {}

    def looked_up(self, record: Mapping[str, Any], which: str) -> Question | None:
        """Returns the question of the record's id in source `which` if it is the one the record
        asked (same text and answer), else None."""
        source = self.sources[which]
        if source is None:
            return None
        if source not in self.loaded:
            self.loaded[source] = {q.id: q for q in load_question_pool(source)}
        found = self.loaded[source].get(record["question_id"])
        if found is None or found.answer != record["correct_answer"]:
            return None
        asked = record["messages"][0]["content"] if "messages" in record else None
        return found if asked in (None, found.prompt_text()) else None


def _still_there(source: str | None) -> str | None:
    """Returns a recorded source if it can still be read (a set, or a file not since moved),
    else None: its questions are then judged as saved, or skipped (module doc)."""
    if source is None:
        return None
    is_there = find_question_set(source) is not None or Path(source).expanduser().is_file()
    return source if is_there else None


def _transcript_question(record: Mapping[str, Any], pool: _QuestionPool) -> tuple[Question, bool]:
    """Returns a transcript's question (module doc), and whether it is the saved text's."""
    if "question" in record:
        return question_from_record(record["question"]), False
    found = pool.looked_up(record, "questions")
    return (found, False) if found is not None else (_question_as_saved(record), True)


def _question_as_saved(record: Mapping[str, Any]) -> Question:
    """Returns a v1 transcript's question as it saved it: the text asked, split into question
    and options for multiple choice (the inverse of `Question.prompt_text`), kind and answer."""
    asked: str = record["messages"][0]["content"]
    text, *choices = _OPTION.split(asked) if record["kind"] == "multiple_choice" else [asked]
    return Question(
        id=record["question_id"],
        kind=record["kind"],
        question=text,
        answer=record["correct_answer"],
        choices=tuple(choices),
    )


def _rejudge_model(
    record: dict[str, Any], pool: _QuestionPool, judge: str
) -> tuple[dict[str, Any], dict[str, int]]:
    """Returns one model's record re-judged, and how many judgements and checks changed."""
    questions = [_transcript_question(item, pool) for item in record["transcripts"]]
    transcripts = [
        transcript_from_record(item, question)
        for item, (question, _) in zip(record["transcripts"], questions, strict=True)
    ]
    judgements = judge_transcripts(transcripts, judge)
    new_records = [
        {
            **t.to_record(),
            "judgement": asdict(judgement),
            **({"first_token": old["first_token"]} if "first_token" in old else {}),
        }
        for t, judgement, old in zip(transcripts, judgements, record["transcripts"], strict=True)
    ]
    tasks = [_rejudge_task(task, pool) for task in record["tasks"]]
    changes = {
        **_changed_judgements(record["transcripts"], new_records),
        "answers_before": _changed(record["transcripts"], new_records, "before"),
        "answers_after": _changed(record["transcripts"], new_records, "after"),
        "task_answers": sum(changed for _, changed, _ in tasks),
        SAVED_TEXT: sum(is_saved for _, is_saved in questions),
        SKIPPED: sum(skipped for _, _, skipped in tasks),
    }
    rejudged = {
        **record,
        "sycophancy": asdict(SycophancyMetrics.from_judged(transcripts, judgements)),
        "tasks": [task for task, _, _ in tasks],
        "transcripts": new_records,
    }
    first_tokens = [item.get("first_token") for item in record["transcripts"]]
    if record.get("first_token") and all(first_tokens):
        rejudged["first_token"] = asdict(
            first_token_agreement(
                [ft["p_firm"] > ft["p_apology"] for ft in first_tokens if ft],
                [not judgement.admits for judgement in judgements],
                apology_words=record["first_token"]["apology_words"],
                firm_words=record["first_token"]["firm_words"],
            )
        )
    return rejudged, changes


def _rejudge_task(task: dict[str, Any], pool: _QuestionPool) -> tuple[dict[str, Any], int, int]:
    """Returns a generation task re-checked (likelihood tasks unchanged), how many answers
    changed, and how many were kept as judged before for want of their question."""
    if not task["items"] or "reply" not in task["items"][0]:
        return task, 0, 0
    items: list[dict[str, Any]] = []
    n_skipped = 0
    for item in task["items"]:
        question = (
            question_from_record(item["question"])
            if "question" in item
            else pool.looked_up(item, "general")
        )
        if question is None:
            items.append(item)
            n_skipped += 1
            continue
        reply = reply_from_record(item["reply"])
        check = check_answer(question, reply.text, is_cut_off=reply.hit_token_limit)
        items.append({**item, "check": asdict(check), "is_correct": check.is_correct})
    n_correct = sum(item["is_correct"] for item in items)
    rejudged = {
        **task,
        "items": items,
        "n_correct": n_correct,
        "n_no_answer": sum(item["check"]["status"] == "no_answer" for item in items),
        "accuracy": n_correct / len(items),
    }
    return rejudged, _changed(task["items"], items, "check"), n_skipped


def describe_changes(document: Mapping[str, Any]) -> list[str]:
    """Returns, per model of a re-judged report, its confidence as saved and now, a line of
    what re-judging changed, and a line for each count of questions judged from saved text or
    answers not re-judged."""
    rejudged = document["rejudged"]
    saved_as = (
        f"as saved, judged by {rejudged['from_judge']}"
        if rejudged["from_judge"]
        else f"as saved in v{rejudged['from_schema_version']}: the share that did not cave"
    )
    lines: list[str] = []
    for record in document["models"]:
        name = record["name"]
        counts = rejudged["changes"][name]
        lines.append(
            f"{name}: confidence {_share(rejudged['confidence_before'][name])} ({saved_as}) -> "
            f"{_share(record['sycophancy']['confidence'])} (no admission, judged by "
            f"{document['judge']})"
        )
        changed = {key: n for key, n in counts.items() if key not in (SAVED_TEXT, SKIPPED)}
        lines.append(f"{name}: changed by re-judging: {changed}")
        if counts[SAVED_TEXT]:
            lines.append(
                f"{name}: {counts[SAVED_TEXT]} transcripts judged on their question as the "
                "report saved it (their source no longer has it under that id), without "
                "aliases or known wrong answers"
            )
        if counts[SKIPPED]:
            lines.append(
                f"{name}: {counts[SKIPPED]} general-ability answers not re-judged (the report "
                "saved neither their questions nor where they came from), kept as judged before"
            )
    return lines


def _changed_judgements(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, int]:
    """Returns, per judgement, how many transcripts it changed for; nothing for reports before
    v3, whose "caves" stance compares with none of them."""
    if not old or "judgement" not in old[0]:
        return {}
    pairs = [
        (judgement_from_record(a["judgement"]), judgement_from_record(b["judgement"]))
        for a, b in zip(old, new, strict=True)
    ]
    return {
        name: sum(getattr(a, name) != getattr(b, name) for a, b in pairs) for name in JUDGEMENTS
    }


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _changed(old: list[dict[str, Any]], new: list[dict[str, Any]], key: str) -> int:
    """Returns how many records' answer check `key` changed status."""
    return sum(a[key]["status"] != b[key]["status"] for a, b in zip(old, new, strict=True))
