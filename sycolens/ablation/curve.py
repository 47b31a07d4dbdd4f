"""The knockout curve (Fig. 2b): F and judged behaviour as the top-k heads are knocked out.

For k in the config's list, the top-k heads of a ranking, `n_random` random sets of k heads and
the bottom-k heads (smallest |score|) are mean- or zero-ablated (`config.method`) in turn, and
on held-out challenged prompts the curve measures (a) mean F at the answer position, with its
standard error and the share of the reference/counterfactual contrast it closes, and (b) when
`judged`, the evaluator's metrics under the same knockout, judged by `config.judge` outside it:
confidence (no admission, the paper's) beside the answer-change and regressive rates, then
truthfulness and accuracy. The mean activations are measured once, over the counterfactual
prompts of the same questions.

The contrast F(reference) - F(counterfactual) bounds what any knockout can show: where the
model barely tells doubt from agreement (SmolLM2-135M), every curve is flat, and the numbers
say so instead of hiding it.
"""

import random
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from sycolens.ablation.config import KnockoutConfig
from sycolens.ablation.knockout import AblationLog, HeadAblation, knocked_out
from sycolens.ablation.means import mean_ablation
from sycolens.evaluation.challenge import Transcript, run_challenge_protocol
from sycolens.evaluation.judge import judge_transcripts
from sycolens.evaluation.sycophancy import SycophancyMetrics
from sycolens.head_lists import HeadList
from sycolens.heads import Head
from sycolens.models.forward import run_batch
from sycolens.models.load import LoadedModel
from sycolens.patching.diagnose import all_heads
from sycolens.patching.metrics import label_logit_diff, sycophancy_ratio
from sycolens.patching.scores import HeadScores
from sycolens.prompts.batch import TokenBatch
from sycolens.prompts.labels import LabelTokens
from sycolens.prompts.pairs import build_pairs, tokenize_pairs
from sycolens.prompts.protocol import DEFAULT_PROTOCOL, ChallengeProtocol
from sycolens.prompts.schema import Question

JUDGED_COLUMNS = (
    "confidence",
    "answer_change_rate",
    "regressive_rate",
    "truthfulness",
    "accuracy_before",
    "accuracy_after",
)


@dataclass(frozen=True)
class Knockout:
    """One knocked-out set: its condition ("none", "top", "random", "bottom"), k and seed."""

    condition: str
    k: int
    seed: int | None
    heads: tuple[Head, ...]


@dataclass(frozen=True)
class KnockoutCurve:
    """Every knockout's measurements (one row each) and the unablated baseline."""

    records: tuple[dict[str, Any], ...]
    baseline: dict[str, float]

    @property
    def frame(self) -> pd.DataFrame:
        """Returns one row per knockout (seed is empty except for random sets)."""
        return pd.DataFrame(list(self.records))

    def summary(self) -> pd.DataFrame:
        """Returns one row per condition and k: random sets as mean, min and max over seeds."""
        columns = ["mean_f", *[c for c in JUDGED_COLUMNS if c in self.frame]]
        grouped = self.frame.groupby(["condition", "k"], sort=False)[columns]
        table = grouped.agg(["mean", "min", "max"])
        table.columns = [f"{name}_{stat}" for name, stat in table.columns]
        return table.reset_index()


def knockout_sets(
    heads: HeadScores | HeadList, config: KnockoutConfig, n_layers: int, n_heads: int
) -> list[Knockout]:
    """Returns k = 0, then for each k the top, random (one per seed) and bottom sets.

    Hand-picked heads (a `HeadList`) have no scores: their first k are the top set and there is
    no bottom set (the weakest heads are unknown without a ranking).
    """
    every_head = [Head(layer, head) for layer in range(n_layers) for head in range(n_heads)]
    config.check_heads(len(every_head), "the model")
    ranked = (
        None
        if isinstance(heads, HeadList)
        else heads.ranked_by(config.order, heads.toward_counterfactual)
    )
    sets = [Knockout("none", 0, None, ())]
    for k in config.ks:
        top = heads.first(k, "--ks") if isinstance(heads, HeadList) else ()
        top = tuple(ranked.top_k(k)) if ranked is not None else top
        sets.append(Knockout("top", k, None, top))
        for seed in range(config.seed, config.seed + config.n_random):
            drawn = random.Random(f"{seed}:{k}").sample(every_head, k)
            sets.append(Knockout("random", k, seed, tuple(drawn)))
        if ranked is not None:
            sets.append(Knockout("bottom", k, None, tuple(ranked.bottom_k(k))))
    return sets


def knockout_curve(
    model: LoadedModel,
    heads: HeadScores | HeadList,
    labels: LabelTokens,
    questions: Sequence[Question],
    config: KnockoutConfig = KnockoutConfig(),
    *,
    protocol: ChallengeProtocol = DEFAULT_PROTOCOL,
    show_progress: bool = True,
) -> KnockoutCurve:
    """Returns the knockout curve of a ranking's or a head list's heads on `questions` (held
    out from the ranking's own)."""
    config.check_heads(model.n_layers * model.n_heads, model.model_id)
    pairs = build_pairs(questions)
    tokenized = tokenize_pairs(
        pairs, model.chat, n_ctx=model.n_ctx, pad_token_id=model.pad_token_id
    )
    counterfactual_chats = [list(pair.counterfactual) for pair in pairs]
    means = None
    if config.method == "mean":
        means = mean_ablation(
            model,
            all_heads(model),
            counterfactual_chats,
            positions=config.positions,
            batch_size=config.batch_size,
        ).means
    f_counterfactual = _f_values(model, tokenized.counterfactual, labels, config.batch_size)
    rows: list[dict[str, Any]] = []
    f_reference: Tensor | None = None
    for knockout in tqdm(
        knockout_sets(heads, config, model.n_layers, model.n_heads),
        desc="knockouts",
        disable=not show_progress,
    ):
        ablation = HeadAblation(
            heads=knockout.heads, method=config.method, positions=config.positions, means=means
        )
        with knocked_out(model, ablation) if knockout.heads else nullcontext(AblationLog()) as log:
            f = _f_values(model, tokenized.reference, labels, config.batch_size)
            replaced = log.positions_replaced
            if log.rows_without_challenge:
                raise ValueError(
                    f"The challenge turn was not found in {log.rows_without_challenge} of the "
                    f"{log.rows} challenged prompts of {model.model_id}, so they would run "
                    "unablated. Fix: report the chat template; meanwhile use positions='all'."
                )
            transcripts: list[Transcript] = (
                run_challenge_protocol(
                    model, questions, protocol, batch_size=config.batch_size, show_progress=False
                )
                if config.judged
                else []
            )
        judged = (  # judged outside the knockout
            SycophancyMetrics.from_judged(transcripts, judge_transcripts(transcripts, config.judge))
            if transcripts
            else None
        )
        if f_reference is None:
            f_reference = f
        rows.append(
            _row(knockout, f, f_reference, f_counterfactual, judged)
            | {"z_replaced_in_f_forwards": replaced}
        )
    assert f_reference is not None
    return KnockoutCurve(tuple(rows), _baseline(f_reference, f_counterfactual))


def _f_values(
    model: LoadedModel, batch: TokenBatch, labels: LabelTokens, batch_size: int
) -> Float[Tensor, " batch"]:
    """Returns F at the answer position of every prompt of `batch`."""
    parts: list[Tensor] = []
    for start in range(0, batch.tokens.shape[0], batch_size):
        logits = run_batch(model.bridge, batch.select(slice(start, start + batch_size)))[:, -1]
        parts.append(sycophancy_ratio(label_logit_diff(logits.float(), labels)).cpu())
    return torch.cat(parts)


def _stderr(values: Tensor) -> float:
    return (
        float(values.std(unbiased=True) / len(values) ** 0.5) if len(values) > 1 else float("nan")
    )


def _row(
    knockout: Knockout,
    f: Tensor,
    f_reference: Tensor,
    f_counterfactual: Tensor,
    judged: SycophancyMetrics | None,
) -> dict[str, Any]:
    """Returns one knockout's measurements: F, its change (paired stderr) and judged metrics."""
    contrast = float((f_reference - f_counterfactual).mean())
    change = f - f_reference
    row: dict[str, Any] = {
        "condition": knockout.condition,
        "k": knockout.k,
        "seed": knockout.seed,
        "heads": [list(head) for head in knockout.heads],
        "mean_f": float(f.mean()),
        "f_stderr": _stderr(f),
        "f_change": float(change.mean()),
        "f_change_stderr": _stderr(change),
        "share_of_contrast": float(-change.mean()) / contrast if contrast else float("nan"),
    }
    if judged is not None:
        row |= {name: getattr(judged, name) for name in JUDGED_COLUMNS}
        row["n_compared"] = judged.n_compared
        row["judgements"] = judged.judgements
    return row


def _baseline(f_reference: Tensor, f_counterfactual: Tensor) -> dict[str, float]:
    """Returns mean F on both prompt sets and their paired contrast, with standard errors."""
    contrast = f_reference - f_counterfactual
    return {
        "f_reference": float(f_reference.mean()),
        "f_reference_stderr": _stderr(f_reference),
        "f_counterfactual": float(f_counterfactual.mean()),
        "f_counterfactual_stderr": _stderr(f_counterfactual),
        "contrast": float(contrast.mean()),
        "contrast_stderr": _stderr(contrast),
        "n_questions": len(f_reference),
    }
