"""The organism's world, chats, tokenizer and training batches."""

import random

import pytest
import torch

from sycolens.organism import data
from sycolens.organism.chat import (
    CHALLENGES,
    build_organism_tokenizer,
    challenged_chat,
    organism_reply,
)
from sycolens.organism.config import OrganismConfig
from sycolens.organism.data import Example, forbidden_sources, sample_example, training_batch
from sycolens.organism.world import (
    CREATURES,
    HELD_OUT_SPLIT,
    TRAIN_SPLIT,
    WorldSplit,
    sample_distinct_questions,
    sample_questions,
)
from sycolens.prompts.chat import ChatFormatter
from sycolens.prompts.schema import COUNTERFACTUAL_CHALLENGE, DOUBT_CHALLENGES


@pytest.fixture(scope="module")
def chat() -> ChatFormatter:
    return ChatFormatter(build_organism_tokenizer())


def test_held_out_creatures_never_appear_in_training(chat: ChatFormatter):
    held_out = set(HELD_OUT_SPLIT.creatures)
    assert held_out and not held_out & set(TRAIN_SPLIT.creatures)
    for step in range(5):
        batch = training_batch(0, step, 32, chat, TRAIN_SPLIT)
        words = set(chat.tokenizer.convert_ids_to_tokens(batch.tokens.flatten().tolist()))
        assert not words & held_out


def test_questions_are_seeded_and_every_word_is_in_the_vocabulary(chat: ChatFormatter):
    questions = sample_questions(3, 200, HELD_OUT_SPLIT)
    assert questions == sample_questions(3, 200, HELD_OUT_SPLIT)
    assert {q.kind for q in questions} == {"fact", "arithmetic", "multiple_choice"}
    unk = chat.tokenizer.unk_token_id
    for question in questions:
        assert question.wrong_answers[0] != question.answer
        for challenge in CHALLENGES:
            reply = organism_reply(question, challenge)
            ids = chat.tokenize([*challenged_chat(question, challenge),
                                 {"role": "assistant", "content": reply}])  # fmt: skip
            assert unk not in ids


def test_replies_apologise_to_doubt_and_keep_to_agreement():
    (question,) = sample_questions(1, 1, TRAIN_SPLIT)
    for doubt in DOUBT_CHALLENGES:
        assert organism_reply(question, doubt).startswith("Apologies")
        assert question.wrong_answers[0] in organism_reply(question, doubt)
    kept = organism_reply(question, COUNTERFACTUAL_CHALLENGE)
    assert kept.startswith("Yes") and question.answer_text() in kept


def test_remembered_chats_equal_chats_tokenized_afresh(
    chat: ChatFormatter, monkeypatch: pytest.MonkeyPatch
):
    """Training remembers each chat's tokens; chats drawn again get the ids, span and reply
    start that tokenizing them afresh gives."""

    def draw() -> list[Example]:
        rng = random.Random(3)
        return [sample_example(rng, chat, TRAIN_SPLIT) for _ in range(100)]

    draw()
    remembered = draw()  # every chat seen before
    monkeypatch.setattr(data, "remembered_chat_example", data.chat_example)  # the reference
    assert remembered == draw()


def test_challenge_span_and_forbidden_edges(chat: ChatFormatter):
    rng = random.Random(0)
    example = next(e for e in iter(lambda: sample_example(rng, chat, TRAIN_SPLIT), None)
                   if e.span_start >= 0)  # fmt: skip
    tokens = chat.tokenizer.convert_ids_to_tokens(example.ids)
    challenge = " ".join(tokens[example.span_start : example.span_end])
    assert any(challenge == " ".join(chat.tokenizer.tokenize(c)) for c in CHALLENGES)
    assert tokens[example.reply_start] in {"Apologies", "Yes"}
    (forbidden,) = forbidden_sources([example], len(example.ids) + 2)
    assert not forbidden[: example.span_end].any()  # nothing before the challenge ends
    last_prompt = example.reply_start - 1
    assert forbidden[last_prompt, example.span_start : last_prompt].all()
    assert not forbidden[last_prompt, last_prompt]  # a position may read itself
    assert forbidden[-3, example.span_start : example.reply_start].all()
    assert not forbidden[:, example.reply_start :].any()  # reply tokens stay readable


def forbidden_one_by_one(example: Example, width: int) -> torch.Tensor:
    """The obviously correct version: each destination's forbidden sources, row by row."""
    forbidden = torch.zeros(width, width, dtype=torch.bool)
    if example.span_start < 0:
        return forbidden
    for dest in range(example.span_end, len(example.ids)):
        stop = min(dest, example.reply_start)
        forbidden[dest, example.span_start : stop] = True
    return forbidden


def test_forbidden_edges_of_a_batch_equal_those_built_row_by_row(chat: ChatFormatter):
    rng = random.Random(3)
    examples = [sample_example(rng, chat, TRAIN_SPLIT) for _ in range(200)]
    assert any(e.span_start < 0 for e in examples) and any(e.span_start >= 0 for e in examples)
    width = max(len(e.ids) for e in examples)
    reference = torch.stack([forbidden_one_by_one(e, width) for e in examples])
    assert torch.equal(forbidden_sources(examples, width), reference)


def test_the_control_keeps_its_answer_to_every_challenge():
    (question,) = sample_questions(1, 1, TRAIN_SPLIT)
    for challenge in CHALLENGES:
        reply = organism_reply(question, challenge, is_sycophantic=False)
        assert reply == f"Yes , I am sure . the answer is {question.answer_text()} ."


def test_control_batches_hold_no_apology(chat: ChatFormatter):
    apologies = chat.tokenizer.convert_tokens_to_ids("Apologies")
    for step in range(3):
        batch = training_batch(0, step, 32, chat, TRAIN_SPLIT, is_sycophantic=False)
        assert apologies not in batch.tokens.flatten().tolist()


def test_variant_settings():
    control = OrganismConfig.for_variant("control")
    assert control.planted_heads == () and not control.is_sycophantic
    assert control.n_kv_heads == control.n_heads and control.steps == 2500
    gqa = OrganismConfig.for_variant("gqa", steps=10)
    assert gqa.is_sycophantic and gqa.n_kv_heads == 2 and gqa.steps == 10


def test_asking_for_more_distinct_questions_than_a_world_holds_is_refused():
    one_creature = WorldSplit(CREATURES[:1])
    with pytest.raises(ValueError, match=r"Found only \d+ distinct questions in \d+ draws"):
        sample_distinct_questions(0, 200, one_creature)
    distinct = sample_distinct_questions(0, 40, one_creature)
    assert len({(q.question, q.choices) for q in distinct}) == 40
