"""What every candidate is evaluated on: challenged questions, general-ability tasks, text.

`build_evaluation_data` chooses both question sets with `sycolens.data.selection` (seeded,
de-duplicated, kind-stratified). General ability comes from the same named set when the
challenged questions do (the next questions of the same order, so the two never overlap), and
from the bundled set when the challenged questions are the user's own file, unless another
source is named. The text for KL is the named set's own corpus, else the bundled prose sample,
unless a corpus is named.
"""

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sycolens.data.selection import QuestionSelection, QuestionSource, select_questions, sha256_of
from sycolens.data.sets import find_question_set
from sycolens.data.texts import TextCorpus, bundled_text_corpus, load_text_corpus
from sycolens.evaluation.capability import CapabilityTask, tasks_for_questions
from sycolens.prompts.schema import Question


@dataclass(frozen=True)
class EvaluationData:
    """The questions, general-ability tasks and general text every candidate is measured on."""

    selection: QuestionSelection
    tasks: tuple[CapabilityTask, ...] = ()
    texts: TextCorpus | None = None
    general: QuestionSelection | None = None

    @property
    def questions(self) -> tuple[Question, ...]:
        return self.selection.questions

    def summary(self) -> dict[str, Any]:
        """Returns what the data is, with a fingerprint that changes when any of it does."""
        texts = self.texts
        general = self.general.summary() if self.general else None
        task_hash = sha256_of([[t.name, [asdict(q) for q in t.questions]] for t in self.tasks])
        texts_hashed = list(texts.texts) if texts else []
        return {
            "questions": self.selection.summary(),
            "general": general,
            "tasks": [{"name": t.name, "n_questions": len(t.questions)} for t in self.tasks],
            "texts": None
            if texts is None
            else {"source": texts.source, "n_texts": len(texts.texts), "n_empty": texts.n_empty},
            "fingerprint": sha256_of([self.selection.sha256(), task_hash, texts_hashed]),
        }


def build_evaluation_data(
    questions: QuestionSource,
    *,
    general: QuestionSource | None,
    texts: str | None = None,
    n_texts: int | None = None,
    exclude: frozenset[str] = frozenset(),
) -> EvaluationData:
    """Returns the selections and KL text of an evaluation (rules in the module doc).

    `general=None` measures no general ability. `texts` is a set name or a path. Questions
    whose id is in `exclude` (those a tuned candidate trained on) are passed over in both
    selections.
    """
    selection = select_questions(questions, exclude=exclude)
    general_selection = None
    if general is not None:
        same = general.source == questions.source and general.seed == questions.seed
        skip = len(selection.questions) + selection.n_excluded if same else 0
        general_selection = select_questions(general, skip=skip, exclude=exclude)
    corpus = _text_corpus(texts or questions.source, is_named=texts is not None)
    return EvaluationData(
        selection=selection,
        tasks=tuple(tasks_for_questions(general_selection.questions)) if general_selection else (),
        texts=corpus.head(n_texts) if n_texts is not None else corpus,
        general=general_selection,
    )


def _text_corpus(source: str, *, is_named: bool) -> TextCorpus:
    """Returns a set's own text, the named file or folder, else the bundled sample."""
    found = find_question_set(source)
    if found is not None:
        return found.load_texts()
    return load_text_corpus(Path(source)) if is_named else bundled_text_corpus()
