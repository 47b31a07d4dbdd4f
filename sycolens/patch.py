"""`python -m sycolens.patch`: rank every attention head by its effect on sycophancy.

Example:
    python -m sycolens.patch --model smollm2-135m-instruct --pairs 64 --mode direct \
        --top-k 32 --out heads.json --html heads.html
"""

import argparse
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sycolens.data.questions import load_questions_file
from sycolens.data.sets import QUESTION_SETS
from sycolens.models import load_model
from sycolens.models.load import DTYPES, DtypeName, LoadedModel
from sycolens.patching.diagnose import DiagnoseConfig, PatchMode, diagnose_heads
from sycolens.patching.export import (
    RankingContext,
    ranking_document,
    save_head_ranking,
    save_heads_by_layer,
)
from sycolens.patching.label_choice import propose_label_tokens
from sycolens.patching.metrics import MetricName
from sycolens.patching.scores import HeadScores
from sycolens.patching.total import PatchPositions
from sycolens.prompts.labels import LabelTokens, resolve_label_tokens
from sycolens.prompts.pairs import PromptPair, TokenizedPairs, build_pairs, tokenize_pairs
from sycolens.prompts.schema import COUNTERFACTUAL_CHALLENGE, REFERENCE_CHALLENGE, Question
from sycolens.viz.heatmaps import head_scores_heatmap
from sycolens.viz.html import save_figure_html


@dataclass(frozen=True, kw_only=True)
class PatchConfig:
    """Everything one `python -m sycolens.patch` run needs; each field is one CLI flag."""

    model: str = "smollm2-135m-instruct"
    questions: str = "bundled"
    pairs: int = 64
    mode: PatchMode = "direct"
    metric: MetricName = "F"
    positions: PatchPositions = "last"
    syco_label: str = "Apologies"
    anti_label: str = "Yes"
    propose_labels: bool = False
    top_k: int = 32
    batch_size: int = 8
    device: str = "cpu"
    dtype: DtypeName = "float32"
    out: Path | None = None
    heads_by_layer_out: Path | None = None
    html: Path | None = None


def parse_args(argv: Sequence[str] | None = None) -> PatchConfig:
    """Returns the config named by command-line flags."""
    parser = argparse.ArgumentParser(prog="python -m sycolens.patch", description=__doc__)
    defaults = PatchConfig()
    parser.add_argument("--model", default=defaults.model, help="name, checkpoint dir or hub id")
    parser.add_argument(
        "--questions",
        default=defaults.questions,
        help=f"a question set ({', '.join(QUESTION_SETS)}) or a .jsonl/.csv file",
    )
    parser.add_argument("--pairs", type=int, default=defaults.pairs, help="prompt pairs to use")
    parser.add_argument("--mode", choices=["direct", "total"], default=defaults.mode)
    parser.add_argument("--metric", choices=["F", "logit_diff"], default=defaults.metric)
    parser.add_argument("--positions", choices=["last", "all"], default=defaults.positions)
    parser.add_argument("--syco-label", default=defaults.syco_label)
    parser.add_argument("--anti-label", default=defaults.anti_label)
    parser.add_argument(
        "--propose-labels", action="store_true", help="take labels from the model's own replies"
    )
    parser.add_argument("--top-k", type=int, default=defaults.top_k)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--device", default=defaults.device)
    parser.add_argument("--dtype", choices=sorted(DTYPES), default=defaults.dtype)
    parser.add_argument("--out", type=Path, help="head-ranking JSON to write")
    parser.add_argument("--heads-by-layer-out", type=Path, help="{layer: [heads]} JSON to write")
    parser.add_argument("--html", type=Path, help="heatmap HTML to write")
    args = parser.parse_args(argv)
    return PatchConfig(**{key: value for key, value in vars(args).items()})


def select_questions(config: PatchConfig) -> tuple[list[Question], str]:
    """Returns the first `config.pairs` questions and a name for where they came from."""
    if config.pairs < 1:
        raise ValueError(f"--pairs must be >= 1, got {config.pairs}. Fix --pairs.")
    if config.questions in QUESTION_SETS:
        pool = QUESTION_SETS[config.questions].load_questions()
        source = f"sycolens:{config.questions}"
    else:
        pool, source = load_questions_file(Path(config.questions)), config.questions
    if config.pairs > len(pool):
        raise ValueError(
            f"--pairs {config.pairs} asks for more pairs than {source} has questions "
            f"({len(pool)}). Fix: --pairs {len(pool)} or fewer."
        )
    return pool[: config.pairs], source


def choose_labels(
    config: PatchConfig, model: LoadedModel, prompt_pairs: list[PromptPair], pairs: TokenizedPairs
) -> LabelTokens:
    """Returns label tokens: proposed from the model's replies, or resolved from the words."""
    if config.propose_labels:
        return propose_label_tokens(model, pairs)
    return resolve_label_tokens(
        model.chat,
        prompt_pairs[0].reference,
        syco_word=config.syco_label,
        anti_word=config.anti_label,
    )


def run(config: PatchConfig) -> tuple[HeadScores, dict[str, Any]]:
    """Runs the diagnosis and writes the requested files; returns scores and the document."""
    model = load_model(config.model, device=config.device, dtype=DTYPES[config.dtype])
    questions, source = select_questions(config)
    prompt_pairs = build_pairs(questions)
    tokenized = tokenize_pairs(
        prompt_pairs, model.chat, n_ctx=model.n_ctx, pad_token_id=model.pad_token_id
    )
    labels = choose_labels(config, model, prompt_pairs, tokenized)
    print(
        f"labels: syco {labels.syco_token!r} ({labels.syco_id}) vs anti "
        f"{labels.anti_token!r} ({labels.anti_id})"
        f"{' — proposed from greedy replies' if config.propose_labels else ''}"
    )
    diagnose = DiagnoseConfig(
        mode=config.mode,
        metric=config.metric,
        batch_size=config.batch_size,
        positions=config.positions,
    )
    scores = diagnose_heads(model, tokenized, labels, diagnose)
    prompts_hash = hashlib.sha256(
        json.dumps([list(pair.reference) for pair in prompt_pairs]).encode()
    ).hexdigest()
    context = RankingContext(
        prompts_source=source,
        prompts_sha256=prompts_hash,
        reference_challenge=REFERENCE_CHALLENGE,
        counterfactual_challenge=COUNTERFACTUAL_CHALLENGE,
        labels=labels,
        metric=config.metric,
        mode=config.mode,
        positions=config.positions,
    )
    document = ranking_document(model, scores, context, top_k=config.top_k)
    if config.out:
        save_head_ranking(config.out, document)
    if config.heads_by_layer_out:
        save_heads_by_layer(config.heads_by_layer_out, scores.top_k(config.top_k))
    if config.html:
        title = f"{config.model}: {config.mode} effect on {config.metric} ({len(tokenized)} pairs)"
        save_figure_html(head_scores_heatmap(scores, title=title), config.html)
    return scores, document


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args(argv)
    scores, _ = run(config)
    top = scores.frame.sort_values("rank").head(min(config.top_k, 20))
    print(top.to_string(index=False, float_format=lambda value: f"{value:.4g}"))
    print(f"{scores.share_of_heads_for(0.5):.1%} of heads carry 50% of the total |effect|.")
    for path in (config.out, config.heads_by_layer_out, config.html):
        if path:
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
