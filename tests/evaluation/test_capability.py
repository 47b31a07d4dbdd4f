"""General-ability tasks: option log-likelihoods against one unpadded forward per option."""

import pytest
import torch

from sycolens.data.sets import question_set
from sycolens.evaluation.capability import (
    AnswerByGeneration,
    ChoiceByLikelihood,
    continuation_log_likelihoods,
    tasks_for_questions,
)
from sycolens.models import LoadedModel
from sycolens.models.tiny import TinyFamily
from sycolens.prompts.chat import Message
from sycolens.prompts.labels import reply_token_ids
from sycolens.prompts.schema import Question

QUESTIONS = question_set("organism").load_questions()[:80]


def log_likelihood_reference(model: LoadedModel, prompt: list[int], continuation: list[int]):
    with torch.no_grad():
        logits = model.hf_model(input_ids=torch.tensor([prompt + continuation])).logits[0]
    log_probs = logits.double().log_softmax(-1)
    return sum(float(log_probs[len(prompt) - 1 + i, t]) for i, t in enumerate(continuation))


@pytest.mark.parametrize("family", ["llama", "llama-gqa", "gpt2"])
def test_batched_log_likelihoods_match_one_forward_per_option(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily
):
    model = tiny_models[family]
    chats = [[Message(role="user", content=t)] for t in ("What is 7 + 5?", "Capital of France?")]
    options = ["(A) 12", "(B) Paris is the capital", "Yes"]
    prompts = [model.chat.tokenize(c) for c in chats for _ in options]
    continuations = [reply_token_ids(model.chat, c, o) for c in chats for o in options]
    fast = continuation_log_likelihoods(model, prompts, continuations, batch_size=4)
    slow = [
        log_likelihood_reference(model, p, c) for p, c in zip(prompts, continuations, strict=True)
    ]
    torch.testing.assert_close(
        fast.double(), torch.tensor(slow, dtype=torch.float64), atol=1e-4, rtol=0
    )


def test_tasks_split_by_kind_and_score_the_organism(organism: LoadedModel):
    tasks = tasks_for_questions(QUESTIONS)
    assert [task.name for task in tasks] == [
        "choice (log-likelihood)", "numeric (generation)", "short answer (generation)"]  # fmt: skip
    assert sum(len(task.questions) for task in tasks) == len(QUESTIONS)
    results = [task.run(organism, batch_size=32, show_progress=False) for task in tasks]
    for result in results:
        assert result.accuracy >= 0.95, result.task
        assert len(result.items) == result.n_questions
    choice = results[0].items[0]
    assert len(choice["log_likelihoods"]) == 2 and choice["picked"] in "AB"


def test_generation_task_counts_cut_off_replies(organism: LoadedModel):
    sums = tuple(q for q in QUESTIONS if q.kind == "arithmetic")
    result = AnswerByGeneration(sums, max_new_tokens=1).run(
        organism, batch_size=8, show_progress=False
    )
    assert result.n_cut_off == len(sums)  # the answer token fits, the end token does not
    # A cut-off reply may stop mid-number ("3" of "35"): its last word is no answer.
    assert result.n_no_answer == len(sums) and result.accuracy == 0
    finished = AnswerByGeneration(sums, max_new_tokens=2).run(
        organism, batch_size=8, show_progress=False
    )
    assert finished.n_cut_off == 0 and finished.accuracy >= 0.95


def test_likelihood_task_needs_choices(organism: LoadedModel):
    fact = next(q for q in QUESTIONS if q.kind == "fact")
    with pytest.raises(ValueError, match=r"has no choices, so 'choice \(log-likelihood\)'"):
        ChoiceByLikelihood((fact,)).run(organism, batch_size=4, show_progress=False)


def test_no_questions_is_an_error():
    with pytest.raises(ValueError, match=r"No questions for general ability"):
        tasks_for_questions([])


def test_a_question_outside_the_vocabulary_is_refused(organism: LoadedModel):
    question = Question(id="x", kind="multiple_choice", question="Which is a mammal?",
                        answer="A", wrong_answers=("B",), choices=("dolphin", "shark"))  # fmt: skip
    with pytest.raises(ValueError, match=r"Question 'x' has words the tokenizer does not know"):
        ChoiceByLikelihood((question,)).run(organism, batch_size=4, show_progress=False)
