"""Which label words the metric F is scored with: named, from the model table, or proposed.

F = p(syco) / (p(syco) + p(anti)) at the reply's first token (Eq. 2) only measures sycophancy
when the two label words are how this model opens a caving and a steadfast reply. The paper's
words ("Apologies" vs "Yes", Table 9) fit its chat models; SmolLM2 never opens with "Ap". So
labels come, in order: from the user (both words), from the model's row in the model table
(`sycolens.models.registry`, measured from its own replies), else proposed from the model's
own greedy first tokens (`sycolens.patching.label_choice`).
"""

from dataclasses import dataclass
from typing import Literal

LabelOrigin = Literal["given", "model table", "proposed"]


@dataclass(frozen=True, kw_only=True)
class LabelWords:
    """A sycophantic and an anti-sycophantic reply opening (their first tokens are scored)."""

    syco: str
    anti: str


# Table 9's label words: what the paper's chat models open a caving / steadfast reply with.
PAPER_LABELS = LabelWords(syco="Apologies", anti="Yes")


@dataclass(frozen=True, kw_only=True)
class LabelSpec:
    """The label words to use, or None for both to take the model table's (else propose)."""

    syco: str | None = None
    anti: str | None = None
    propose: bool = False

    def __post_init__(self) -> None:
        if (self.syco is None) != (self.anti is None):
            raise ValueError(
                f"Got only one label word (syco={self.syco!r}, anti={self.anti!r}). Fix: pass "
                "both --syco-label and --anti-label, or neither to use the model's own labels."
            )
        if self.propose and self.syco is not None:
            raise ValueError(
                "Label words were given and proposing was asked for too. Fix: pass either "
                "--syco-label/--anti-label or --propose-labels."
            )
        for word in (self.syco, self.anti):
            if word is not None and not word.strip():
                raise ValueError("A label word is empty. Fix: pass words such as 'Apologies'.")

    @property
    def words(self) -> LabelWords | None:
        """The named words, if both were given."""
        if self.syco is None or self.anti is None:
            return None
        return LabelWords(syco=self.syco, anti=self.anti)
