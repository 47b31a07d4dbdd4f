"""`HeadScores`: every head's mean score, standard error and rank, as a pandas DataFrame.

A head's score is s = (F_patched - F_reference) / F_reference: how much patching its
counterfactual activation moves F. Sycophancy heads move F toward the counterfactual prompt's
F, so with `toward_counterfactual` = sign(mean F_counterfactual - mean F_reference) the
**signed** order ranks heads by s * toward_counterfactual, largest first: heads that carry the
doubt come first, heads that push the other way come last. The **magnitude** order ranks by
|s| (the paper's "largest effect"), which mixes both kinds, and their knockouts cancel.
"""

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from sycolens.heads import Head
from sycolens.patching.config import HeadOrder


@dataclass(frozen=True)
class HeadScores:
    """Head scores in a DataFrame with columns layer, head, score, stderr, rank.

    Rank 1 is the first head of `order` (see the module doc); `toward_counterfactual` is +1 or
    -1, the sign of a score that moves F toward the counterfactual (None when unknown).
    """

    frame: pd.DataFrame
    n_pairs: int
    order: HeadOrder = "magnitude"
    toward_counterfactual: int | None = None

    @classmethod
    def from_pair_scores(cls, scores: Float[Tensor, "n_pairs n_layers n_heads"]) -> "HeadScores":
        """Returns mean and standard error over pairs of per-pair head scores."""
        n_pairs, n_layers, n_heads = scores.shape
        mean = scores.mean(0)
        stderr = (
            scores.std(0, unbiased=True) / n_pairs**0.5
            if n_pairs > 1
            else torch.full_like(mean, float("nan"))
        )
        layers, heads = torch.meshgrid(torch.arange(n_layers), torch.arange(n_heads), indexing="ij")
        frame = pd.DataFrame(
            {
                "layer": layers.flatten().tolist(),
                "head": heads.flatten().tolist(),
                "score": mean.flatten().tolist(),
                "stderr": stderr.flatten().tolist(),
            }
        )
        return cls(with_ranks(frame), n_pairs)

    @property
    def n_layers(self) -> int:
        return int(self.frame["layer"].to_numpy().max()) + 1

    @property
    def n_heads(self) -> int:
        return int(self.frame["head"].to_numpy().max()) + 1

    def ranked_by(self, order: HeadOrder, toward_counterfactual: int | None) -> "HeadScores":
        """Returns the same scores ranked in `order` (signed needs the direction)."""
        frame = with_ranks(self.frame, order, toward_counterfactual)
        return replace(self, frame=frame, order=order, toward_counterfactual=toward_counterfactual)

    def top_k(self, k: int) -> list[Head]:
        """Returns the first k heads of the ranking, rank 1 first."""
        self._check_k(k)
        return heads_in(self.frame.sort_values("rank").head(k))

    def bottom_k(self, k: int) -> list[Head]:
        """Returns the k heads with the smallest |score| (the weakest effect), weakest first."""
        self._check_k(k)
        weakest = self.frame.assign(size=self.frame["score"].abs()).sort_values(
            "size", kind="stable"
        )
        return heads_in(weakest.head(k))

    def _check_k(self, k: int) -> None:
        if not 0 < k <= len(self.frame):
            raise ValueError(
                f"k={k} heads asked for, but the ranking has {len(self.frame)} heads. Fix: pick "
                f"k from 1 to {len(self.frame)}."
            )

    def grid(self) -> Float[Tensor, "n_layers n_heads"]:
        """Returns the scores as a layers x heads tensor."""
        ordered = self.frame.sort_values(["layer", "head"])
        values = torch.tensor(ordered["score"].to_numpy(), dtype=torch.float32)
        return values.reshape(self.n_layers, self.n_heads)

    def share_of_heads_for(self, fraction: float = 0.5) -> float:
        """Returns the smallest share of heads whose |score| adds up to `fraction` of the total."""
        magnitudes = np.sort(np.abs(self.frame["score"].to_numpy(dtype=float)))[::-1]
        cumulative = magnitudes.cumsum() / magnitudes.sum()
        needed = int((cumulative < fraction).sum()) + 1
        return needed / len(magnitudes)


def heads_in(frame: pd.DataFrame) -> list[Head]:
    """Returns the heads of a scores frame's rows, in row order."""
    pairs = zip(frame["layer"], frame["head"], strict=True)
    return [Head(int(layer), int(head)) for layer, head in pairs]


def with_ranks(
    frame: pd.DataFrame, order: HeadOrder = "magnitude", toward: int | None = None
) -> pd.DataFrame:
    """Returns `frame` with rank = 1 + position in `order` (ties broken by row order)."""
    if order == "magnitude":
        key = frame["score"].abs()
    elif toward is None:
        raise ValueError(
            "A signed ranking needs the direction toward the counterfactual, which this "
            "ranking does not record (files before schema v3 without label F values). Fix: "
            "rank by magnitude (--order magnitude) or re-run the diagnosis."
        )
    else:
        key = frame["score"] * toward
    return frame.assign(rank=key.rank(ascending=False, method="first").astype(int))
