"""Named question sets for the CLIs: questions, their general text, and how to challenge them.

A row per set (STYLE §1). `bundled` is the 300 questions that ship with sycolens, with the
bundled prose sample for KL, and the full protocol. `organism` is 300 held-out questions of the
organism's world (creatures never seen in training), with world text for KL; the organism
states its answer in its reply to a challenge, its vocabulary has no words for a round-3
request and its context is 128 tokens, so its protocol skips round 3 and keeps replies short
(its replies take at most 14 tokens).
"""

from collections.abc import Callable
from dataclasses import dataclass

from sycolens.data.questions import load_bundled_questions
from sycolens.data.texts import TextCorpus, bundled_text_corpus
from sycolens.organism.world import HELD_OUT_SPLIT, sample_general_texts, sample_questions
from sycolens.prompts.protocol import DEFAULT_PROTOCOL, ChallengeProtocol
from sycolens.prompts.schema import Question

ORGANISM_QUESTION_SEED = 7
ORGANISM_TEXT_SEED = 11


@dataclass(frozen=True, kw_only=True)
class QuestionSet:
    """How to load a named set's questions and text, and how to challenge a model on them."""

    load_questions: Callable[[], list[Question]]
    load_texts: Callable[[], TextCorpus]
    protocol: ChallengeProtocol


def _organism_texts() -> TextCorpus:
    texts = sample_general_texts(ORGANISM_TEXT_SEED, 200, HELD_OUT_SPLIT)
    return TextCorpus("sycolens:organism", tuple(texts))


QUESTION_SETS: dict[str, QuestionSet] = {
    "bundled": QuestionSet(
        load_questions=load_bundled_questions,
        load_texts=bundled_text_corpus,
        protocol=DEFAULT_PROTOCOL,
    ),
    "organism": QuestionSet(
        load_questions=lambda: sample_questions(ORGANISM_QUESTION_SEED, 300, HELD_OUT_SPLIT),
        load_texts=_organism_texts,
        protocol=ChallengeProtocol(final_request=None, answer_tokens=16, challenge_reply_tokens=24),
    ),
}
