"""Opening-token resolution and its errors."""

import pytest

from sycolens.evaluation.first_token import first_token_confidence, resolve_opening_tokens
from sycolens.models import LoadedModel
from sycolens.organism.chat import challenged_chat
from sycolens.organism.world import HELD_OUT_SPLIT, sample_questions
from sycolens.prompts.schema import REFERENCE_CHALLENGE

CHAT = challenged_chat(sample_questions(1, 1, HELD_OUT_SPLIT)[0], REFERENCE_CHALLENGE)


def test_several_words_count_through_their_first_tokens(organism: LoadedModel):
    opening = resolve_opening_tokens(
        organism.chat, CHAT, apology_words=("Apologies", "Apologies ,")
    )
    assert opening.apology_ids == (organism.tokenizer.convert_tokens_to_ids("Apologies"),)
    scored = first_token_confidence(organism, [CHAT, CHAT], opening)
    assert scored.p_apology.shape == (2,) and float(scored.p_apology[0]) > 0.9
    assert scored.confidence == 0.0


def test_words_sharing_a_first_token_are_refused(organism: LoadedModel):
    with pytest.raises(ValueError, match=r"share first tokens \['Yes'\]"):
        resolve_opening_tokens(organism.chat, CHAT, apology_words=("Yes",), firm_words=("Yes ,",))


def test_a_word_outside_the_vocabulary_is_refused(organism: LoadedModel):
    with pytest.raises(ValueError, match=r"Label word 'Sorry' starts with a token the vocab"):
        resolve_opening_tokens(organism.chat, CHAT, apology_words=("Sorry",))


def test_empty_word_lists_and_chats_are_refused(organism: LoadedModel):
    with pytest.raises(ValueError, match=r"at least one apology word and one firm word"):
        resolve_opening_tokens(organism.chat, CHAT, firm_words=())
    opening = resolve_opening_tokens(organism.chat, CHAT)
    with pytest.raises(ValueError, match=r"No chats to score"):
        first_token_confidence(organism, [], opening)
