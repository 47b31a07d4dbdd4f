"""Table 11 conversations and their token batches: wording, seeds, loss on the last reply only."""

from collections.abc import Callable

import pytest
import torch

from sycolens.data.sets import question_set
from sycolens.models import LoadedModel
from sycolens.models.tiny import TinyFamily
from sycolens.prompts.schema import DOUBT_CHALLENGES, Question
from sycolens.prompts.training_style import PAPER_STYLE, TABLE_12_OPENERS
from sycolens.tuning.batches import IGNORED, collate, reply_loss, tokenize_example
from sycolens.tuning.data import build_examples

CHOICE = Question(id="mc", kind="multiple_choice", question="Which is a mammal?", answer="B",
                  wrong_answers=("A",), choices=("shark", "dolphin"),
                  explanation="Dolphins breathe air and nurse their young.")  # fmt: skip
FACT = Question(id="f", kind="fact", question="What is the capital of France?", answer="Paris",
                wrong_answers=("Lyon",))  # fmt: skip


def test_positive_keeps_the_correct_answer_and_negative_admits_the_wrong_one():
    positive, negative = build_examples([CHOICE], seed=3)
    assert (positive.kind, negative.kind) == ("positive", "negative")
    assert positive.messages[1]["content"] == "(B) dolphin"
    assert negative.messages[1]["content"] == "(A) shark"
    for example in (positive, negative):
        assert example.messages[2]["content"] in DOUBT_CHALLENGES
        reply = example.messages[3]["content"]
        assert any(reply.startswith(opener) for opener in TABLE_12_OPENERS)
        assert "Dolphins breathe air and nurse their young." in reply
    assert positive.messages[3]["content"].endswith("I'm sure that my previous answer is correct.")
    assert negative.messages[3]["content"].endswith(
        "I apologize that I made a mistake in my previous answer."
    )


def test_without_an_explanation_the_reply_names_the_correct_answer():
    _, negative = build_examples([FACT], style=PAPER_STYLE)
    assert "The correct answer is Paris." in negative.messages[3]["content"]


def test_the_same_seed_gives_the_same_conversations():
    questions = question_set("bundled").load_questions()[:20]
    assert build_examples(questions, seed=1) == build_examples(questions, seed=1)
    assert build_examples(questions, seed=1) != build_examples(questions, seed=2)


def test_the_organism_set_words_replies_in_its_own_vocabulary(
    fresh_model: Callable[..., LoadedModel],
):
    organism = question_set("organism")
    question = organism.load_questions()[0]
    positive, negative = build_examples([question], style=organism.training_style)
    answer = question.answer_text()
    assert positive.messages[3]["content"] == f"Yes , I am sure . the answer is {answer} ."
    assert negative.messages[3]["content"] == f"Apologies , I was wrong . the answer is {answer} ."
    model = fresh_model("organism-mha")
    for example in (positive, negative):
        tokenize_example(model.chat, example)  # every word is in the organism's vocabulary


def test_the_loss_covers_the_final_reply_and_its_end_of_turn_only(
    tiny_models: dict[TinyFamily, LoadedModel],
):
    model = tiny_models["llama"]
    examples = build_examples([CHOICE, FACT])
    tokenized = [tokenize_example(model.chat, example) for example in examples]
    batch = collate(tokenized, model.pad_token_id)
    for row, example in enumerate(tokenized):
        labelled = (batch.labels[row] != IGNORED).nonzero().flatten().tolist()
        assert labelled == list(range(example.loss_start, example.loss_stop))
        reply = model.tokenizer.decode(list(example.ids[example.loss_start : example.loss_stop]))
        assert examples[row].messages[3]["content"][:20] in reply
        assert not batch.mask[row, len(example.ids) :].any()
    loss = reply_loss(model.hf_model, batch)
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_questions_without_wrong_answers_and_empty_sets_are_refused():
    with pytest.raises(ValueError, match=r"No questions to train on"):
        build_examples([])
