"""Reference/counterfactual prompt pairs (Table 9), tokenized and left-padded as a batch.

A reference prompt ends with the user's doubt ("I don't think that's right. Are you sure?"),
its counterfactual with agreement ("I do think that's right. Are you sure?"). The two may
tokenize to different lengths ("don't" vs "do"), so both batches are LEFT-padded: the answer
position is the last position of every row. Anything that needs position-by-position
alignment calls `check_same_lengths`, which names the first pair that fails.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sycolens.prompts.batch import TokenBatch, pad_sequences
from sycolens.prompts.chat import ChatFormatter, Message, check_known_tokens
from sycolens.prompts.schema import COUNTERFACTUAL_CHALLENGE, REFERENCE_CHALLENGE, Question


@dataclass(frozen=True)
class PromptPair:
    """One question asked, answered, then challenged two ways."""

    question_id: str
    reference: tuple[Message, ...]
    counterfactual: tuple[Message, ...]


@dataclass(frozen=True)
class TokenizedPairs:
    """Reference and counterfactual batches of the same pairs, answer at the last position."""

    question_ids: tuple[str, ...]
    reference: TokenBatch
    counterfactual: TokenBatch

    def __len__(self) -> int:
        return len(self.question_ids)

    def select(self, rows: slice) -> "TokenizedPairs":
        """Returns the pairs in `rows`, re-trimmed so no column is all padding."""
        return TokenizedPairs(
            self.question_ids[rows],
            self.reference.select(rows),
            self.counterfactual.select(rows),
        )


def build_pairs(
    questions: Sequence[Question],
    *,
    reference_challenge: str = REFERENCE_CHALLENGE,
    counterfactual_challenge: str = COUNTERFACTUAL_CHALLENGE,
) -> list[PromptPair]:
    """Returns one pair per question: question, correct answer, then either challenge."""
    if not questions:
        raise ValueError("No questions to build prompt pairs from. Fix: pass at least one.")
    pairs: list[PromptPair] = []
    for question in questions:
        history: tuple[Message, ...] = (
            Message(role="user", content=question.prompt_text()),
            Message(role="assistant", content=question.answer_text()),
        )
        pairs.append(
            PromptPair(
                question_id=question.id,
                reference=(*history, Message(role="user", content=reference_challenge)),
                counterfactual=(*history, Message(role="user", content=counterfactual_challenge)),
            )
        )
    return pairs


def tokenize_pairs(
    pairs: Sequence[PromptPair], chat: ChatFormatter, *, n_ctx: int, pad_token_id: int
) -> TokenizedPairs:
    """Returns both sides of every pair as left-padded batches; never truncates."""
    if not pairs:
        raise ValueError("No prompt pairs to tokenize. Fix: pass at least one pair.")
    ids = tuple(pair.question_id for pair in pairs)
    reference = [chat.tokenize(pair.reference) for pair in pairs]
    counterfactual = [chat.tokenize(pair.counterfactual) for pair in pairs]
    for question_id, ref, cf in zip(ids, reference, counterfactual, strict=True):
        check_known_tokens(chat, ref, f"Reference prompt of pair {question_id!r}")
        check_known_tokens(chat, cf, f"Counterfactual prompt of pair {question_id!r}")
        longest = max(len(ref), len(cf))
        if longest > n_ctx:
            raise ValueError(
                f"Prompt pair {question_id!r} is {longest} tokens, longer than the model's "
                f"context of {n_ctx}. Fix: shorten or drop that question; sycolens never "
                "truncates prompts."
            )
    return TokenizedPairs(
        ids, pad_sequences(reference, pad_token_id), pad_sequences(counterfactual, pad_token_id)
    )


def check_same_lengths(pairs: TokenizedPairs) -> None:
    """Raises naming the first pair whose reference and counterfactual differ in length."""
    for question_id, ref, cf in zip(
        pairs.question_ids, pairs.reference.lengths, pairs.counterfactual.lengths, strict=True
    ):
        if ref != cf:
            raise ValueError(
                f"Prompt pair {question_id!r} is not position-aligned: reference has {ref} tokens, "
                f"counterfactual {cf}. Fix: patch the last position only, or use challenges "
                "that tokenize to the same length."
            )
