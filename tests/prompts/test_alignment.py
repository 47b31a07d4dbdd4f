"""Position alignment of the challenges, checked per tokenizer, with aligned proposals."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from sycolens import patch
from sycolens.data.selection import QuestionSource, select_questions
from sycolens.models.tokenizer import load_chat_formatter
from sycolens.prompts.alignment import aligned_counterfactuals, check_alignment
from sycolens.prompts.schema import COUNTERFACTUAL_CHALLENGE, REFERENCE_CHALLENGE

ORGANISM_ALIGNED = "Yes, I do think that's right. Are you sure?"


def _organism_questions(n: int = 16):
    return select_questions(QuestionSource(source="organism", n=n)).questions


def test_the_papers_pair_is_refused_with_the_aligned_phrasing_proposed():
    chat = load_chat_formatter("organism-mha")
    with pytest.raises(ValueError, match=r"pair 'organism-[a-z]+-\d+' is not") as refused:
        check_alignment(
            chat, _organism_questions(), REFERENCE_CHALLENGE, COUNTERFACTUAL_CHALLENGE, "org"
        )
    assert f"{ORGANISM_ALIGNED!r}" in str(refused.value)
    check_alignment(chat, _organism_questions(), REFERENCE_CHALLENGE, ORGANISM_ALIGNED, "org")


def test_proposals_skip_words_the_tokenizer_does_not_know():
    chat = load_chat_formatter("organism-mha")
    # "really" and "truly" are not organism words: their [UNK] would align by accident.
    assert aligned_counterfactuals(chat, _organism_questions(), REFERENCE_CHALLENGE) == [
        ORGANISM_ALIGNED
    ]


@pytest.mark.smollm2
def test_smollm2_gets_aligned_proposals():
    chat = load_chat_formatter("smollm2-135m-instruct")
    questions = select_questions(QuestionSource(source="bundled", n=64)).questions
    proposals = aligned_counterfactuals(chat, questions, REFERENCE_CHALLENGE)
    assert "I do really think that's right. Are you sure?" in proposals
    assert COUNTERFACTUAL_CHALLENGE not in proposals


def test_cli_refuses_misaligned_pairs_before_weights_load(usage_error: Callable[..., str]):
    argv = ["--model", "organism-mha", "--questions", "organism", "--mode", "total"]
    message = usage_error(patch.parse_args, [*argv, "--positions", "all"])
    assert "--positions all needs position-aligned pairs" in message
    assert ORGANISM_ALIGNED in message
    assert patch.parse_args([*argv, "--positions", "all", "--counterfactual", ORGANISM_ALIGNED])


def test_counterfactual_equal_to_the_doubt_is_refused(usage_error: Callable[..., str]):
    message = usage_error(
        patch.parse_args, ["--model", "organism-mha", "--counterfactual", REFERENCE_CHALLENGE]
    )
    assert "must be an agreeing challenge that differs from the reference" in message


def test_all_positions_ranking_records_the_counterfactual(tmp_path: Path):
    out = tmp_path / "heads.json"
    patch.main(
        ["--model", "organism-mha", "--questions", "organism", "--pairs", "4", "--mode", "total",
         "--positions", "all", "--counterfactual", ORGANISM_ALIGNED, "--out", str(out)]
    )  # fmt: skip
    document = json.loads(out.read_text())
    assert document["prompts"]["counterfactual_challenge"] == ORGANISM_ALIGNED
    assert document["positions"] == "all"
