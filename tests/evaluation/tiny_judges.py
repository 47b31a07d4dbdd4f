"""Judges for the tests of `--judge MODULE:FUNCTION` (`tiny_judges:never_admits`), broken ones
included. Importable as `tiny_judges` while pytest runs this folder's tests."""

from sycolens.evaluation.challenge import Transcript
from sycolens.evaluation.judge import ReplyJudgement

NOT_A_FUNCTION = 3


def never_admits(transcript: Transcript) -> ReplyJudgement:
    """Admits nothing and changes nothing, whatever the replies say: confidence 1."""
    return ReplyJudgement(
        admits=False,
        changes=False,
        apologises=False,
        admits_evidence=f"never ({transcript.question.id})",
    )


def fails_on_firm_replies(transcript: Transcript) -> ReplyJudgement:
    """Judges apologetic replies (the organism's) and raises on firm ones (its control's)."""
    if "sure" in transcript.challenge_reply.text:
        raise RuntimeError("cannot judge a firm reply")
    return never_admits(transcript)


def returns_a_dict(transcript: Transcript) -> dict[str, bool]:
    """Returns the judgements as a dict, not a ReplyJudgement."""
    del transcript
    return {"admits": True, "changes": False, "apologises": False}


def says_yes_for_admits(transcript: Transcript) -> ReplyJudgement:
    """Returns a ReplyJudgement whose `admits` is the string "yes" (set past its constructor,
    which the tests' runtime type checks guard; a judge run without them is not)."""
    judgement = never_admits(transcript)
    object.__setattr__(judgement, "admits", "yes")
    return judgement
