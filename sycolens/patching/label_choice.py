"""Choose the label tokens F is scored with, and check that they measure something.

Labels come from the user, else the model table, else are proposed from the model's own
replies (order and reasons in `sycolens.prompts.label_spec`). A proposal reads the first token
of the model's greedy replies (the argmax at the answer position, read from the captures the
diagnosis makes anyway) to the
reference (doubt) and counterfactual (agreement) prompts, and picks, among the tokens that open
those replies (and the five most probable openers of each side), the ordered pair
(syco, anti) whose F separates doubt from agreement most: mean F on reference minus mean F on
counterfactual. Picking the best of many pairs overfits the pairs it looks at, so a proposal is
made on every other pair and checked on the rest.

Every output records the check: mean F on both prompt sets, and warnings when F is so small
(or so large) on both, or the two so close, that a ranking built on it measures noise.
"""

from collections import Counter
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from sycolens.models.load import LoadedModel
from sycolens.models.registry import table_labels
from sycolens.patching.metrics import label_logit_diff, sycophancy_ratio
from sycolens.prompts.label_spec import LabelOrigin, LabelSpec
from sycolens.prompts.labels import LabelTokens, resolve_label_tokens
from sycolens.prompts.pairs import PromptPair

# F below this on both prompt sets (or above 1 minus it) means the model hardly uses one label.
SATURATED_F = 0.05
# Mean F on doubt minus mean F on agreement below this: the labels barely tell them apart.
MIN_SEPARATION = 0.1
PROBABLE_CANDIDATES = 5


@dataclass(frozen=True, kw_only=True)
class LabelCheck:
    """Mean F on the reference and counterfactual prompts, and what they warn about."""

    mean_f_reference: float
    mean_f_counterfactual: float
    warnings: tuple[str, ...]

    @property
    def separation(self) -> float:
        return self.mean_f_reference - self.mean_f_counterfactual


@dataclass(frozen=True, kw_only=True)
class LabelChoice:
    """The label tokens, where they came from, and their check on the diagnosed pairs."""

    tokens: LabelTokens
    origin: LabelOrigin
    check: LabelCheck
    n_checked: int

    def summary(self) -> dict[str, object]:
        """Returns the labels and their check as JSON data."""
        return {
            **vars(self.tokens),
            "origin": self.origin,
            "mean_f_reference": self.check.mean_f_reference,
            "mean_f_counterfactual": self.check.mean_f_counterfactual,
            "n_pairs_checked": self.n_checked,
            "warnings": list(self.check.warnings),
        }


def choose_labels(
    model: LoadedModel,
    prompt_pairs: list[PromptPair],
    reference_logits: Float[Tensor, "n_pairs d_vocab"],
    counterfactual_logits: Float[Tensor, "n_pairs d_vocab"],
    spec: LabelSpec,
) -> LabelChoice:
    """Returns the label tokens `spec` asks for on this model, checked on the pairs whose
    answer-position logits (`capture_pair_activations`) are given; row i is pair i."""
    reference_logits = reference_logits.float()
    counterfactual_logits = counterfactual_logits.float()
    words = spec.words
    origin: LabelOrigin = "given"
    if words is None and not spec.propose:
        words, origin = table_labels(model.model_id), "model table"
    checked = slice(None)
    if words is None:
        # Proposed on the even rows, checked on the odd ones (all rows when there is only one).
        chosen_on = slice(0, None, 2)
        checked = slice(1, None, 2) if len(prompt_pairs) > 1 else slice(None)
        tokens = propose_label_tokens(
            model, reference_logits[chosen_on], counterfactual_logits[chosen_on]
        )
        origin = "proposed"
    else:
        tokens = resolve_label_tokens(
            model.chat, prompt_pairs[0].reference, syco_word=words.syco, anti_word=words.anti
        )
    check = check_labels(tokens, reference_logits[checked], counterfactual_logits[checked])
    n_checked = len(range(len(prompt_pairs))[checked])
    return LabelChoice(tokens=tokens, origin=origin, check=check, n_checked=n_checked)


def propose_label_tokens(
    model: LoadedModel,
    reference_logits: Float[Tensor, "batch d_vocab"],
    counterfactual_logits: Float[Tensor, "batch d_vocab"],
) -> LabelTokens:
    """Returns the first-token pair that best separates doubt from agreement.

    Candidates are the greedy first tokens of both sides, then each side's most probable
    first tokens on average (so a model that opens every reply alike still gets a pair).
    """
    openers = Counter(reference_logits.argmax(-1).tolist())
    openers.update(counterfactual_logits.argmax(-1).tolist())
    candidates = [int(token) for token, _ in openers.most_common()]
    for logits in (reference_logits, counterfactual_logits):
        likely = logits.softmax(-1).mean(0).topk(PROBABLE_CANDIDATES).indices.tolist()
        candidates += [int(token) for token in likely if int(token) not in candidates]
    best: tuple[float, int, int] | None = None
    for syco in candidates:
        for anti in candidates:
            if syco == anti:
                continue
            separation = _mean_f(reference_logits, syco, anti) - _mean_f(
                counterfactual_logits, syco, anti
            )
            if best is None or separation > best[0]:
                best = (separation, syco, anti)
    assert best is not None
    _, syco_id, anti_id = best
    tokenizer = model.tokenizer
    return LabelTokens(
        syco_word=str(tokenizer.decode([syco_id])),
        anti_word=str(tokenizer.decode([anti_id])),
        syco_id=syco_id,
        anti_id=anti_id,
        syco_token=str(tokenizer.convert_ids_to_tokens(syco_id)),
        anti_token=str(tokenizer.convert_ids_to_tokens(anti_id)),
    )


def check_labels(
    labels: LabelTokens,
    reference_logits: Float[Tensor, "batch d_vocab"],
    counterfactual_logits: Float[Tensor, "batch d_vocab"],
) -> LabelCheck:
    """Returns mean F on both prompt sets and warnings when a ranking on it would be noise."""
    on_reference = float(sycophancy_ratio(label_logit_diff(reference_logits, labels)).mean())
    on_counterfactual = float(
        sycophancy_ratio(label_logit_diff(counterfactual_logits, labels)).mean()
    )
    words = f"{labels.syco_word!r} vs {labels.anti_word!r}"
    fix = "Fix: pass --syco-label/--anti-label words this model opens its replies with."
    warnings: list[str] = []
    if max(on_reference, on_counterfactual) < SATURATED_F:
        warnings.append(
            f"F with {words} is below {SATURATED_F} on both prompt sets "
            f"({on_reference:.3f} doubt, {on_counterfactual:.3f} agreement): the model hardly "
            f"ever opens with {labels.syco_word!r}, so the ranking measures a token it does not "
            f"use. {fix}"
        )
    elif min(on_reference, on_counterfactual) > 1 - SATURATED_F:
        warnings.append(
            f"F with {words} is above {1 - SATURATED_F} on both prompt sets "
            f"({on_reference:.3f} doubt, {on_counterfactual:.3f} agreement): the model hardly "
            f"ever opens with {labels.anti_word!r}. {fix}"
        )
    elif on_reference - on_counterfactual < MIN_SEPARATION:
        warnings.append(
            f"F with {words} is {on_reference:.3f} after the doubt and {on_counterfactual:.3f} "
            f"after the agreement: less than {MIN_SEPARATION} apart, so these labels barely "
            f"tell sycophancy from agreement and the ranking may be noise. {fix}"
        )
    return LabelCheck(
        mean_f_reference=on_reference,
        mean_f_counterfactual=on_counterfactual,
        warnings=tuple(warnings),
    )


def _mean_f(logits: Float[Tensor, "batch d_vocab"], syco: int, anti: int) -> float:
    return float(torch.sigmoid(logits[:, syco] - logits[:, anti]).mean())
