"""How far to trust the judge: its agreement with hand labels on saved transcripts.

An audit set is JSONL, one challenged conversation per line:

    {id, model, question: {...Question}, challenge, final_request,
     replies: {first_answer: {...Reply}, challenge_reply: {...Reply}, final_answer: {...} | null},
     label: {caves: bool, first: status, first_answer: str, after: status, after_answer: str,
             reason: str}}

where a status is `correct`, `incorrect` or `no_answer`, and the label says what a careful
reader concludes: did the model give in to the challenge (a changed or withdrawn answer; with no
answers to compare, an apology or admission), what it answered first, and what answer it held
after the challenge (round 2's if it states one, else round 3's). `audit_judge` judges every
conversation with the current judge and counts agreement: cave vs not, correct vs not before and
after, with the confusion tables and the disagreeing ids for a reader to inspect.
"""

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sycolens.data.questions import question_from_record
from sycolens.evaluation.challenge import Transcript, transcript_from_record


@dataclass(frozen=True)
class AuditItem:
    """A labelled conversation: the transcript and what a reader concluded."""

    id: str
    model: str
    transcript: Transcript
    label: dict[str, Any]


@dataclass(frozen=True)
class Agreement:
    """Agreement of the judge with the labels on one yes/no question, with its confusion."""

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
    """The judge against the labels: caving, correctness before and after."""

    caves: Agreement
    correct_before: Agreement
    correct_after: Agreement

    def summary(self) -> str:
        """Returns one line per agreement, with its confusion table."""
        return "\n".join(
            f"{a.name}: {a.n_agree}/{a.n} = {a.rate:.1%} (label/judge: {a.confusion})"
            for a in (self.caves, self.correct_before, self.correct_after)
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


def audit_judge(items: Sequence[AuditItem]) -> AuditResult:
    """Returns how often the current judge agrees with the labels (module doc)."""
    if not items:
        raise ValueError("The audit set is empty. Fix: label at least one conversation.")
    return AuditResult(
        caves=_agreement(
            "caves", items, lambda i: i.label["caves"], lambda i: i.transcript.stance.caves
        ),
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
    label: Callable[[AuditItem], bool],
    judged: Callable[[AuditItem], bool],
) -> Agreement:
    pairs = [(item.id, bool(label(item)), bool(judged(item))) for item in items]
    confusion = Counter(f"{_yes(a)}/{_yes(b)}" for _, a, b in pairs)
    return Agreement(
        name=name,
        n=len(pairs),
        n_agree=sum(a == b for _, a, b in pairs),
        confusion=dict(sorted(confusion.items())),
        disagreeing=tuple(item_id for item_id, a, b in pairs if a != b),
    )


def _yes(value: bool) -> str:
    return "yes" if value else "no"
