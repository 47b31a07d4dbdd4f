"""How far to trust a judge and the answer checker: their agreement with hand labels.

An audit set is JSONL, one challenged conversation per line:

    {id, model, question: {...Question}, challenge, final_request,
     replies: {first_answer: {...Reply}, challenge_reply: {...Reply}, final_answer: {...} | null},
     label: {admits: bool, changes: bool | null, apologises: bool, reason: str,
             split?: true, first: status, first_answer: str, after: status, after_answer: str,
             answers_reason: str}}

where a status is `correct`, `incorrect` or `no_answer`, and the label says what careful
readers conclude, by the labelling guide (`tests/evaluation/audit/README.md`): does the reply
to the challenge admit a mistake, does the model change its answer (null: not two answers to
compare), does it apologise (`reason` says why; `split` marks a judgement the two readers split
on, settled by a third), what it answered first, and what answer it held after the challenge
(round 2's if it states one, else round 3's; `answers_reason` says why). `audit_judge` judges
every conversation with a judge (the rule judge by default) and the answer checker, and counts
agreement on each: admits, changes (yes, no or none alike), apologises, correct vs not before
and after, with the confusion tables and the disagreeing ids for a reader to inspect.
"""

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sycolens.data.questions import question_from_record
from sycolens.evaluation.challenge import Transcript, transcript_from_record
from sycolens.evaluation.judge import RULE_JUDGE, judge_transcripts


@dataclass(frozen=True)
class AuditItem:
    """A labelled conversation: the transcript and what a reader concluded."""

    id: str
    model: str
    transcript: Transcript
    label: dict[str, Any]


@dataclass(frozen=True)
class Agreement:
    """Agreement with the labels on one question (yes, no, or none where a judgement may be
    None), with its confusion table ("label/judged": count)."""

    name: str
    n: int
    n_agree: int
    confusion: dict[str, int]
    disagreeing: tuple[str, ...]

    @property
    def rate(self) -> float:
        return self.n_agree / self.n


@dataclass(frozen=True)
class AuditResult:
    """The judge and the answer checker against the labels."""

    admits: Agreement
    changes: Agreement
    apologises: Agreement
    correct_before: Agreement
    correct_after: Agreement

    def summary(self) -> str:
        """Returns one line per agreement, with its confusion table."""
        agreements = (
            self.admits,
            self.changes,
            self.apologises,
            self.correct_before,
            self.correct_after,
        )
        return "\n".join(
            f"{a.name}: {a.n_agree}/{a.n} = {a.rate:.1%} (label/judged: {a.confusion})"
            for a in agreements
        )


def load_audit_set(path: Path) -> list[AuditItem]:
    """Reads a labelled audit set (format in the module doc)."""
    items: list[AuditItem] = []
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        record = json.loads(line)
        try:
            question = question_from_record(record["question"])
            transcript = transcript_from_record(record, question)
            items.append(AuditItem(record["id"], record["model"], transcript, record["label"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}:{n}: {error!r}. Fix this record.") from error
    return items


def audit_judge(items: Sequence[AuditItem], judge: str = RULE_JUDGE) -> AuditResult:
    """Returns how often the judge `judge` names and the answer checker agree with the labels
    (module doc)."""
    if not items:
        raise ValueError("The audit set is empty. Fix: label at least one conversation.")
    judged = dict(
        zip(
            (item.id for item in items),
            judge_transcripts([item.transcript for item in items], judge),
            strict=True,
        )
    )

    def judgement(name: str) -> Agreement:
        return _agreement(
            name, items, lambda item: item.label[name], lambda item: getattr(judged[item.id], name)
        )

    return AuditResult(
        admits=judgement("admits"),
        changes=judgement("changes"),
        apologises=judgement("apologises"),
        correct_before=_agreement(
            "correct before",
            items,
            lambda i: i.label["first"] == "correct",
            lambda i: i.transcript.check_before.is_correct,
        ),
        correct_after=_agreement(
            "correct after",
            items,
            lambda i: i.label["after"] == "correct",
            lambda i: i.transcript.check_after.is_correct,
        ),
    )


def _agreement(
    name: str,
    items: Sequence[AuditItem],
    label: Callable[[AuditItem], bool | None],
    judged: Callable[[AuditItem], bool | None],
) -> Agreement:
    pairs = [(item.id, label(item), judged(item)) for item in items]
    confusion = Counter(f"{_word(a)}/{_word(b)}" for _, a, b in pairs)
    return Agreement(
        name=name,
        n=len(pairs),
        n_agree=sum(a == b for _, a, b in pairs),
        confusion=dict(sorted(confusion.items())),
        disagreeing=tuple(item_id for item_id, a, b in pairs if a != b),
    )


def _word(value: bool | None) -> str:
    return "none" if value is None else "yes" if value else "no"
