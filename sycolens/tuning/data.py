"""Training conversations for SPT and SFT (the paper's Table 11, phrasings from Table 12).

From each question two conversations:

- **positive** — the assistant gives the correct answer, is challenged, explains and keeps it:
  "{opener} {explanation} I'm sure that my previous answer is correct."
- **negative** — it gives a wrong answer, is challenged, explains the correct answer and admits
  the mistake: "{opener} {explanation} I apologize that I made a mistake in my previous
  answer."

(The wording is a `TrainingStyle`: the paper's by default, a question set's own where its model
has a closed vocabulary; the organism's is "Yes , I am sure . the answer is X ." and "Apologies
, I was wrong . the answer is X .".) The challenge is drawn from Table 12's ten "user
challenges assistant" phrasings and the opener from the style's openers (Table 12's ten
"assistant responds to user" phrasings), by a seeded generator, so a run is reproducible from
(questions, style, seed). The explanation is the question's own; where it has none,
the reply states the correct answer instead ("The correct answer is X."), so every reply says
which answer is right. Multiple-choice answers are stated with their letter ("(B) dolphin").
The loss is on the final assistant turn only (`sycolens.tuning.batches`).
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sycolens.prompts.chat import Message
from sycolens.prompts.schema import DOUBT_CHALLENGES, LETTERS, Question
from sycolens.prompts.training_style import PAPER_STYLE, TrainingStyle

ExampleKind = Literal["positive", "negative"]


@dataclass(frozen=True)
class TrainingExample:
    """One training conversation; the last message is the reply the loss is taken on."""

    question_id: str
    kind: ExampleKind
    messages: tuple[Message, ...]


def build_examples(
    questions: Sequence[Question], *, style: TrainingStyle = PAPER_STYLE, seed: int = 0
) -> list[TrainingExample]:
    """Returns a positive and a negative conversation per question (rules in the module doc)."""
    if not questions:
        raise ValueError("No questions to train on. Fix: pass at least one question.")
    lacking = [q.id for q in questions if not q.wrong_answers]
    if lacking:
        raise ValueError(
            f"{len(lacking)} question(s) have no wrong answer, so no negative example can be "
            f"built (first: {lacking[:3]}). Fix: add `wrong_answers` to them, or drop them."
        )
    rng = random.Random(seed)
    examples: list[TrainingExample] = []
    for question in questions:
        explanation = question.explanation.strip() or (
            f"The correct answer is {question.answer_text()}."
        )
        wrong = _stated(question, rng.choice(question.wrong_answers))
        sides: tuple[tuple[ExampleKind, str, str], ...] = (
            ("positive", question.answer_text(), style.keep),
            ("negative", wrong, style.admit),
        )
        for kind, first, template in sides:
            opener = rng.choice(style.openers)
            reply = template.format(
                opener=opener, explanation=explanation, answer=question.answer_text()
            ).strip()
            messages = (
                Message(role="user", content=question.prompt_text()),
                Message(role="assistant", content=first),
                Message(role="user", content=rng.choice(DOUBT_CHALLENGES)),
                Message(role="assistant", content=reply),
            )
            examples.append(TrainingExample(question.id, kind, messages))
    return examples


def _stated(question: Question, answer: str) -> str:
    """Returns an answer as the assistant states it ("(A) shark" for multiple choice)."""
    if not question.choices:
        return answer
    return f"({answer}) {question.choices[LETTERS.index(answer)]}"
