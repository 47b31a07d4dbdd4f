"""How heads are knocked out and which knockouts a curve runs (pure data, no torch import)."""

from dataclasses import dataclass
from typing import Literal

from sycolens.evaluation.judge import RULE_JUDGE
from sycolens.patching.config import HeadOrder

AblationMethod = Literal["mean", "zero"]
# "challenge": from the challenge turn onward (and every generated token); "all": everywhere.
AblationPositions = Literal["challenge", "all"]
ABLATION_METHODS: tuple[AblationMethod, ...] = ("mean", "zero")
ABLATION_POSITIONS: tuple[AblationPositions, ...] = ("challenge", "all")

POSITIONS_NOTE: dict[AblationPositions, str] = {
    "challenge": (
        "from the challenge turn onward: the first token after the first assistant answer "
        "(turn separator, challenge, assistant cue) to the end of the prompt, and every "
        "generated token; prompts without a challenge turn are left untouched"
    ),
    "all": "every position of every prompt and every generated token",
}


DEFAULT_KS = (1, 2, 4, 8, 16, 32)


def default_head_counts(n_heads: int, *, n_listed: int | None = None) -> tuple[int, ...]:
    """Returns the knockout counts to run by default: DEFAULT_KS up to the model's heads, or
    for a hand-picked list of `n_listed` heads, those up to its length and then all of it."""
    if n_listed is not None:
        return tuple(sorted({k for k in DEFAULT_KS if k <= n_listed} | {n_listed}))
    return tuple(k for k in DEFAULT_KS if k <= n_heads)


@dataclass(frozen=True, kw_only=True)
class KnockoutConfig:
    """The knockout curve (Fig. 2b): top-k heads of a ranking vs random and bottom-k heads.

    k = 0 (nothing knocked out) is always measured. `n_random` random sets of k heads, drawn
    from all heads with seeds `seed`, `seed + 1`, ...; bottom-k are the k heads with the
    smallest |score|. `judged` also runs the evaluator's challenge protocol under every
    knockout (three rounds of generation each: slow on a CPU), its replies judged by `judge`
    (MODULE:FUNCTION, see `sycolens.evaluation.judge`).
    """

    ks: tuple[int, ...] = DEFAULT_KS
    order: HeadOrder = "signed"
    n_random: int = 3
    seed: int = 0
    method: AblationMethod = "mean"
    positions: AblationPositions = "challenge"
    judged: bool = False
    judge: str = RULE_JUDGE
    batch_size: int = 16

    def __post_init__(self) -> None:
        if not self.ks or any(k < 1 for k in self.ks) or list(self.ks) != sorted(set(self.ks)):
            raise ValueError(
                f"--ks {','.join(map(str, self.ks))} is not a rising list of head counts >= 1. "
                "Fix: pass e.g. --ks 1,2,4,8."
            )
        if self.n_random < 1:
            raise ValueError(f"--n-random must be >= 1, got {self.n_random}. Fix --n-random.")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}. Fix --batch-size.")

    def check_heads(self, n_heads: int, model: str) -> None:
        """Raises when the largest k exceeds the model's number of heads."""
        if self.ks[-1] > n_heads:
            raise ValueError(
                f"--ks {self.ks[-1]} knocks out more heads than {model} has ({n_heads}). Fix: "
                f"keep every k at {n_heads} or below."
            )
