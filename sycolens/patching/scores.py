"""`HeadScores`: every head's mean score, standard error and rank, as a pandas DataFrame."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from sycolens.heads import Head


@dataclass(frozen=True)
class HeadScores:
    """Head scores in a DataFrame with columns layer, head, score, stderr, rank.

    Rank 1 is the head whose patching moves the metric most in absolute value: the paper's
    key heads are those with the largest effect, whichever its sign.
    """

    frame: pd.DataFrame
    n_pairs: int

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

    def top_k(self, k: int) -> list[Head]:
        """Returns the k heads with the largest |score|, strongest first."""
        if not 0 < k <= len(self.frame):
            raise ValueError(f"top_k needs 1 <= k <= {len(self.frame)} heads, got {k}.")
        top = self.frame.sort_values("rank").head(k)
        return heads_in(top)

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


def with_ranks(frame: pd.DataFrame) -> pd.DataFrame:
    """Returns `frame` with rank = 1 + position by descending |score| (ties broken by order)."""
    order = frame["score"].abs().rank(ascending=False, method="first").astype(int)
    return frame.assign(rank=order)
