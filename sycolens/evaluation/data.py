"""What every candidate is evaluated on: challenged questions, general-ability tasks, text.

`sample_evaluation_data` builds it from a named question set (`sycolens.data.sets`) or a file:
the questions are a seeded random sample (the bundled file is ordered facts, then choice, then
arithmetic, so its first rows are one kind only), and when general ability reads the same
source it takes the next questions of the same shuffle, so the two sets never overlap. The text
for KL is the set's own corpus unless another is named.
"""

import hashlib
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sycolens.data.questions import load_questions_file
from sycolens.data.sets import QUESTION_SETS
from sycolens.data.texts import TextCorpus, bundled_text_corpus, load_text_corpus
from sycolens.evaluation.capability import CapabilityTask, tasks_for_questions
from sycolens.prompts.schema import Question

SAMPLE_SEED = 0


@dataclass(frozen=True)
class EvaluationData:
    """The questions, general-ability tasks and general text every candidate is measured on."""

    questions: tuple[Question, ...]
    questions_source: str
    tasks: tuple[CapabilityTask, ...] = ()
    texts: TextCorpus | None = None

    def summary(self) -> dict[str, Any]:
        """Returns what the data is, with a fingerprint that changes when any of it does."""
        questions_hash = sha256_of([asdict(q) for q in self.questions])
        task_hash = sha256_of([[t.name, [asdict(q) for q in t.questions]] for t in self.tasks])
        texts = self.texts
        return {
            "questions_source": self.questions_source,
            "n_questions": len(self.questions),
            "questions_sha256": questions_hash,
            "tasks": [{"name": t.name, "n_questions": len(t.questions)} for t in self.tasks],
            "texts": None
            if texts is None
            else {"source": texts.source, "n_texts": len(texts.texts), "n_empty": texts.n_empty},
            "fingerprint": sha256_of(
                [questions_hash, task_hash, list(texts.texts) if texts else []]
            ),
        }


def sample_evaluation_data(
    questions: str,
    *,
    n_questions: int,
    n_general: int,
    general: str | None = None,
    texts: str | None = None,
    n_texts: int | None = None,
) -> EvaluationData:
    """Returns seeded, non-overlapping samples and the KL text (rules in the module doc).

    `questions`, `general` and `texts` are a set name from `sycolens.data.sets` or a path.
    """
    for name, n in (("n_questions", n_questions), ("n_general", n_general)):
        if n < 1:
            raise ValueError(f"{name} must be >= 1, got {n}. Fix --{name.replace('_', '-')}.")
    pool = _shuffled_pool(questions)
    same_source = general in (None, questions)
    needed = n_questions + (n_general if same_source else 0)
    if needed > len(pool):
        raise ValueError(
            f"{questions} has {len(pool)} questions, fewer than the {needed} asked for "
            f"(--n-questions {n_questions}"
            + (f" + --n-general {n_general}, which never overlap" if same_source else "")
            + "). Fix: ask for fewer."
        )
    if same_source:
        general_questions = pool[n_questions:needed]
    else:
        general_pool = _shuffled_pool(str(general))
        if n_general > len(general_pool):
            raise ValueError(
                f"--general {general} has {len(general_pool)} questions, fewer than --n-general "
                f"{n_general}. Fix: ask for fewer."
            )
        general_questions = general_pool[:n_general]
    corpus = _text_corpus(texts or questions, is_named=texts is not None)
    return EvaluationData(
        questions=tuple(pool[:n_questions]),
        questions_source=questions,
        tasks=tuple(tasks_for_questions(general_questions)),
        texts=corpus.head(n_texts) if n_texts is not None else corpus,
    )


def _shuffled_pool(source: str) -> list[Question]:
    if source in QUESTION_SETS:
        pool = QUESTION_SETS[source].load_questions()
    else:
        pool = load_questions_file(Path(source))
    random.Random(SAMPLE_SEED).shuffle(pool)
    return pool


def _text_corpus(source: str, *, is_named: bool) -> TextCorpus:
    """Returns a set's own text, the named file or folder, else the bundled sample."""
    if source in QUESTION_SETS:
        return QUESTION_SETS[source].load_texts()
    return load_text_corpus(Path(source)) if is_named else bundled_text_corpus()


def sha256_of(value: Any) -> str:
    """Returns the SHA-256 of a JSON-serialisable value (keys sorted)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
