"""`HeadScores`: every head's mean score, standard error and rank, as a pandas DataFrame.

Each head is scored in both metrics (`METRICS`): `f_change` = (F_patched - F_reference) /
F_reference, how much patching its counterfactual activation moves F (Algorithm 1, Eq. 2), and
`logit_diff_change` = LD_patched - LD_reference, the change in the label logit difference that
the paper's Fig. 2a colours. F saturates (on organism-mha it is 1.000 after the doubt, so the
planted heads move it by 1e-6 to 1e-3) where the logit difference does not. `score` and
`stderr` copy the columns of the metric the ranking ranks by (`metric`).

Sycophancy heads move F toward the counterfactual prompt's F, so with `toward_counterfactual` =
sign(mean F_counterfactual - mean F_reference) the **signed** order ranks heads by s *
toward_counterfactual, largest first: heads that carry the doubt come first, heads that push
the other way come last. The **magnitude** order ranks by |s| (the paper's "largest effect"),
which mixes both kinds, and their knockouts cancel.
"""

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from sycolens.heads import Head
from sycolens.patching.config import METRICS, HeadOrder, MetricName

# The frame's column of each metric's mean change; its standard error is f"{column}_stderr".
METRIC_COLUMNS: dict[MetricName, str] = {"F": "f_change", "logit_diff": "logit_diff_change"}
EFFECT_COLUMNS = tuple(
    name for column in METRIC_COLUMNS.values() for name in (column, f"{column}_stderr")
)


@dataclass(frozen=True)
class HeadScores:
    """Head scores in a DataFrame with columns layer, head, score, stderr, rank and, per metric,
    its change and standard error (`EFFECT_COLUMNS`; NaN where not measured).

    Rank 1 is the first head of `order` (see the module doc); `toward_counterfactual` is +1 or
    -1, the sign of a score that moves F toward the counterfactual (None when unknown);
    `metric` is the metric `score` holds (None when unknown).
    """

    frame: pd.DataFrame
    n_pairs: int
    order: HeadOrder = "magnitude"
    toward_counterfactual: int | None = None
    metric: MetricName | None = None

    @classmethod
    def from_pair_scores(
        cls, scores: Float[Tensor, "n_pairs n_layers n_heads"], metric: MetricName | None = None
    ) -> "HeadScores":
        """Returns mean and standard error over pairs of per-pair head scores in one metric
        (`metric`, when known, fills its columns too)."""
        mean, stderr = _mean_and_stderr(scores)
        frame = _head_frame(mean).assign(score=mean.flatten().tolist())
        frame = frame.assign(stderr=stderr.flatten().tolist())
        for name in EFFECT_COLUMNS:
            frame[name] = float("nan")
        if metric is not None:
            column = METRIC_COLUMNS[metric]
            frame[column], frame[f"{column}_stderr"] = frame["score"], frame["stderr"]
        return cls(with_ranks(frame), scores.shape[0], metric=metric)

    @classmethod
    def from_pair_effects(
        cls, effects: Float[Tensor, "n_pairs n_metrics n_layers n_heads"], metric: MetricName
    ) -> "HeadScores":
        """Returns both metrics' mean and standard error over pairs (`effects` holds them in
        `METRICS` order), ranked by `metric`."""
        if effects.shape[1] != len(METRICS):
            raise ValueError(
                f"effects has {effects.shape[1]} metrics on dimension 1, expected "
                f"{len(METRICS)} ({', '.join(METRICS)}). Fix: pass pair_head_scores' output."
            )
        ranked = HeadScores.from_pair_scores(effects[:, METRICS.index(metric)], metric)
        frame = ranked.frame
        for index, name in enumerate(METRICS):
            mean, stderr = _mean_and_stderr(effects[:, index])
            column = METRIC_COLUMNS[name]
            frame[column] = mean.flatten().tolist()
            frame[f"{column}_stderr"] = stderr.flatten().tolist()
        return ranked

    def effect(self, metric: MetricName) -> pd.DataFrame:
        """Returns layer, head, mean and stderr of `metric`'s change, sorted by layer and head."""
        column = METRIC_COLUMNS[metric]
        ordered = self.frame.sort_values(["layer", "head"])
        if bool(ordered[column].isna().all()):
            raise ValueError(
                f"These scores record no {column} (ranked by {self.metric or 'an unknown metric'}; "
                "a ranking before schema v4 holds only the metric it ranked by). Fix: draw "
                f"metric={self.metric!r} instead, or re-run the diagnosis (sycolens.patch) to "
                "record both metrics."
            )
        return pd.DataFrame(
            {
                "layer": ordered["layer"],
                "head": ordered["head"],
                "mean": ordered[column],
                "stderr": ordered[f"{column}_stderr"],
            }
        )

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


def _mean_and_stderr(
    scores: Float[Tensor, "n_pairs n_layers n_heads"],
) -> tuple[Float[Tensor, "n_layers n_heads"], Float[Tensor, "n_layers n_heads"]]:
    """Returns the mean over pairs and its standard error (NaN for a single pair)."""
    n_pairs = scores.shape[0]
    mean = scores.mean(0)
    if n_pairs < 2:
        return mean, torch.full_like(mean, float("nan"))
    return mean, scores.std(0, unbiased=True) / n_pairs**0.5


def _head_frame(grid: Float[Tensor, "n_layers n_heads"]) -> pd.DataFrame:
    """Returns the layer and head columns of every head, layer-major."""
    n_layers, n_heads = grid.shape
    layers, heads = torch.meshgrid(torch.arange(n_layers), torch.arange(n_heads), indexing="ij")
    return pd.DataFrame({"layer": layers.flatten().tolist(), "head": heads.flatten().tolist()})


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
