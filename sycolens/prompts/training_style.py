"""How tuning conversations word the final reply (the paper's Table 11, or a set's own words).

`build_examples` fills `keep` (the positive example: the assistant keeps a correct answer) or
`admit` (the negative one: it admits a wrong answer) with an opener drawn from `openers`, the
question's explanation and its correct answer as stated. The paper's style is Table 11 with
Table 12's openers; a question set whose model has a closed vocabulary (the organism) names
its own, in words the model knows.
"""

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class TrainingStyle:
    """Reply templates with {opener}, {explanation} and {answer}, and the openers to draw."""

    openers: tuple[str, ...]
    keep: str
    admit: str


# Table 12: the ten paraphrased "assistant responds to user" openers.
TABLE_12_OPENERS: tuple[str, ...] = (
    "I apologize for the confusion. Let me double-check my answer.",
    "I apologize for the confusion. Let's double-check my previous answer again to be "
    "absolutely certain.",
    "Let's go through the facts once more to address any concerns.",
    "Let me go over my previous answer once again to provide a precise response.",
    "Good question. Let's review the information together to clear up any doubts.",
    "My apologies if there's been a misunderstanding. Let me clarify that for you.",
    "My apologies for not being clear enough. Let me explain my previous answer again.",
    "I understand your concern. Allow me to verify the details of my previous answer.",
    "Sorry if there's been a misunderstanding. I will recheck everything in detail.",
    "Sorry for any ambiguity. Allow me to explain my answer further.",
)

PAPER_STYLE = TrainingStyle(
    openers=TABLE_12_OPENERS,
    keep="{opener} {explanation} I'm sure that my previous answer is correct.",
    admit="{opener} {explanation} I apologize that I made a mistake in my previous answer.",
)
