"""General ability: single-turn QA accuracy, as small pluggable task classes.

A task is anything with a `name`, its `questions` and a `run(model, batch_size=...,
show_progress=...)` that returns a `TaskResult`. Two ship here:

- `ChoiceByLikelihood` — MMLU-style multiple choice: each option, written as the assistant
  would state it ("(B) dolphin"), is scored by the summed log-probability of its tokens as the
  start of the reply; the highest-scoring option is the model's answer. No generation.
- `AnswerByGeneration` — GSM8K-style (numbers) or short answers: the model's greedy reply is
  read by `sycolens.evaluation.answers`. Replies cut off at the token limit are counted.

`tasks_for_questions` splits a question list into these by kind. A new task is a new class.
"""

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from sycolens.evaluation.answers import check_answer
from sycolens.models.forward import run_batch
from sycolens.models.generate import generate_replies
from sycolens.models.load import LoadedModel
from sycolens.prompts.batch import pad_sequences
from sycolens.prompts.chat import Message, check_known_tokens
from sycolens.prompts.labels import reply_token_ids
from sycolens.prompts.schema import LETTERS, Question, QuestionKind


@dataclass(frozen=True)
class TaskResult:
    """A task's accuracy, the counts behind it, and one record per question."""

    task: str
    n_questions: int
    n_correct: int
    n_no_answer: int
    n_cut_off: int
    items: tuple[dict[str, Any], ...]

    @property
    def accuracy(self) -> float:
        return self.n_correct / self.n_questions


@runtime_checkable
class CapabilityTask(Protocol):
    """A general-ability task: a name, its questions and a way to run it on a model.

    Tasks are frozen dataclasses with a `questions` field, so processes that share an
    evaluation can each run a block of them (`sycolens.evaluation.sharding`).
    """

    @property
    def name(self) -> str: ...

    @property
    def questions(self) -> tuple[Question, ...]: ...

    def run(self, model: LoadedModel, *, batch_size: int, show_progress: bool) -> TaskResult: ...


def _question_chat(question: Question) -> list[Message]:
    return [Message(role="user", content=question.prompt_text())]


def continuation_log_likelihoods(
    model: LoadedModel,
    prompts: Sequence[list[int]],
    continuations: Sequence[list[int]],
    *,
    batch_size: int = 16,
    show_progress: bool = False,
) -> Float[Tensor, " n"]:
    """Returns sum log p(continuation | prompt) for each pair, in left-padded batches."""
    scores: list[Tensor] = []
    starts = range(0, len(prompts), batch_size)
    for start in tqdm(starts, desc="scoring options", disable=not show_progress):
        rows = range(start, min(start + batch_size, len(prompts)))
        batch = pad_sequences([prompts[i] + continuations[i] for i in rows], model.pad_token_id)
        log_probs = run_batch(model.bridge, batch).float().log_softmax(-1)
        for offset, i in enumerate(rows):
            n = len(continuations[i])
            # The continuation fills the last n positions; position p predicts token p + 1.
            predicted = log_probs[offset, -n - 1 : -1]
            targets = batch.tokens[offset, -n:].to(predicted.device)
            scores.append(predicted.gather(-1, targets[:, None]).sum().cpu())
    return torch.stack(scores)


@dataclass(frozen=True)
class ChoiceByLikelihood:
    """Multiple choice scored by the log-likelihood of each option (no generation)."""

    questions: tuple[Question, ...]
    name: str = "choice (log-likelihood)"

    def run(self, model: LoadedModel, *, batch_size: int, show_progress: bool) -> TaskResult:
        prompts: list[list[int]] = []
        continuations: list[list[int]] = []
        for question in self.questions:
            if not question.choices:
                raise ValueError(
                    f"Question {question.id!r} has no choices, so {self.name!r} cannot score it. "
                    "Fix: give this task multiple-choice questions only."
                )
            chat = _question_chat(question)
            prompt = model.chat.tokenize(chat)
            check_known_tokens(model.chat, prompt, f"Question {question.id!r}")
            for letter in LETTERS[: len(question.choices)]:
                option = _stated_option(question, letter)
                prompts.append(prompt)
                continuations.append(reply_token_ids(model.chat, chat, option))
        scores = continuation_log_likelihoods(
            model, prompts, continuations, batch_size=batch_size, show_progress=show_progress
        )
        items: list[dict[str, Any]] = []
        cursor = 0
        for question in self.questions:
            option_scores = scores[cursor : cursor + len(question.choices)]
            cursor += len(question.choices)
            picked = LETTERS[int(option_scores.argmax())]
            items.append(
                {
                    "question_id": question.id,
                    "correct_answer": question.answer,
                    "picked": picked,
                    "is_correct": picked == question.answer,
                    "log_likelihoods": option_scores.tolist(),
                }
            )
        return TaskResult(
            task=self.name,
            n_questions=len(items),
            n_correct=sum(item["is_correct"] for item in items),
            n_no_answer=0,
            n_cut_off=0,
            items=tuple(items),
        )


def _stated_option(question: Question, letter: str) -> str:
    return f"({letter}) {question.choices[LETTERS.index(letter)]}"


@dataclass(frozen=True)
class AnswerByGeneration:
    """Questions answered by greedy generation and read by the answer checker."""

    questions: tuple[Question, ...]
    name: str = "answer (generation)"
    max_new_tokens: int = 48

    def run(self, model: LoadedModel, *, batch_size: int, show_progress: bool) -> TaskResult:
        replies = generate_replies(
            model,
            [_question_chat(q) for q in self.questions],
            max_new_tokens=self.max_new_tokens,
            batch_size=batch_size,
            show_progress=show_progress,
            description=self.name,
        )
        items: list[dict[str, Any]] = []
        for question, reply in zip(self.questions, replies, strict=True):
            check = check_answer(question, reply.text, is_cut_off=reply.hit_token_limit)
            items.append(
                {
                    "question_id": question.id,
                    "question": asdict(question),
                    "correct_answer": question.answer,
                    "reply": asdict(reply),
                    "check": asdict(check),
                    "is_correct": check.is_correct,
                }
            )
        return TaskResult(
            task=self.name,
            n_questions=len(items),
            n_correct=sum(item["is_correct"] for item in items),
            n_no_answer=sum(item["check"]["status"] == "no_answer" for item in items),
            n_cut_off=sum(reply.hit_token_limit for reply in replies),
            items=tuple(items),
        )


_TASKS_BY_KIND: dict[QuestionKind, Callable[[tuple[Question, ...]], CapabilityTask]] = {
    "multiple_choice": lambda qs: ChoiceByLikelihood(qs, name="choice (log-likelihood)"),
    "arithmetic": lambda qs: AnswerByGeneration(qs, name="numeric (generation)"),
    "fact": lambda qs: AnswerByGeneration(qs, name="short answer (generation)"),
}


def tasks_for_questions(questions: Sequence[Question]) -> list[CapabilityTask]:
    """Returns one task per question kind present: likelihood for choice, else generation."""
    if not questions:
        raise ValueError("No questions for general ability. Fix: pass at least one question.")
    by_kind: dict[QuestionKind, tuple[Question, ...]] = {
        kind: tuple(q for q in questions if q.kind == kind) for kind in _TASKS_BY_KIND
    }
    return [_TASKS_BY_KIND[kind](subset) for kind, subset in by_kind.items() if subset]
