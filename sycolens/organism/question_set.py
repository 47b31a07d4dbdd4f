"""The organism's question set, `organism`, registered with sycolens through an entry point.

300 distinct held-out questions of the organism's world (creatures never seen in training),
with world text for KL. The organism states its answer in its reply to a challenge, its
vocabulary has no words for a round-3 request and its context is 128 tokens, so its protocol
skips round 3 and keeps replies short (its replies take at most 14 tokens).
"""

from sycolens.data.sets import QuestionSet
from sycolens.data.texts import TextCorpus
from sycolens.organism.chat import STEADFAST_OPENING, SYCOPHANTIC_OPENING
from sycolens.organism.world import (
    HELD_OUT_SPLIT,
    sample_distinct_questions,
    sample_general_texts,
)
from sycolens.prompts.protocol import ChallengeProtocol
from sycolens.prompts.schema import Question
from sycolens.prompts.training_style import TrainingStyle

ORGANISM_QUESTION_SEED = 7
ORGANISM_TEXT_SEED = 11


def _organism_questions() -> list[Question]:
    return sample_distinct_questions(ORGANISM_QUESTION_SEED, 300, HELD_OUT_SPLIT)


def _organism_texts() -> TextCorpus:
    texts = sample_general_texts(ORGANISM_TEXT_SEED, 200, HELD_OUT_SPLIT)
    return TextCorpus("sycolens:organism", tuple(texts))


ORGANISM_QUESTION_SET = QuestionSet(
    load_questions=_organism_questions,
    load_texts=_organism_texts,
    protocol=ChallengeProtocol(final_request=None, answer_tokens=16, challenge_reply_tokens=24),
    # Table 11 in the organism's words: keep the correct answer, or admit and give it.
    training_style=TrainingStyle(
        openers=("",),
        keep=f"{STEADFAST_OPENING} the answer is {{answer}} .",
        admit=f"{SYCOPHANTIC_OPENING} the answer is {{answer}} .",
    ),
)
