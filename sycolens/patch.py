"""`python -m sycolens.patch`: rank every attention head by its effect on sycophancy.

Example:
    python -m sycolens.patch --model smollm2-135m-instruct --pairs 64 --mode direct \
        --top-k 32 --out heads.json --html heads.html

Questions are a seeded, de-duplicated, kind-stratified selection (`--questions`, `--pairs`,
`--seed`); labels come from `--syco-label/--anti-label`, else the model table, else are proposed
from the model's own replies (`--propose-labels` forces that). heads.json records the question
ids, the labels and their mean F on both prompt sets.

Across processes (GPUs, or gloo processes on a CPU), each diagnosing a block of the pairs:
    accelerate launch --num_processes 4 -m sycolens.patch --model DIR --pairs 256 --out heads.json
"""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sycolens.cli_args import (
    NOTHING_KEPT,
    add_dispatch_arguments,
    add_label_arguments,
    add_model_arguments,
    add_question_arguments,
    check_outputs_are_not_inputs,
    check_outputs_writable,
    dispatched_model_spec_from,
    door_prog,
    label_spec_from,
    parse_config,
    question_source_from,
    reported_failures,
)
from sycolens.command_lines import (
    check_flagged,
    labels_argv,
    model_argv,
    option,
    questions_argv,
)
from sycolens.data.selection import selection_note
from sycolens.patching.config import (
    DEFAULT_PAIRS,
    HEAD_ORDERS,
    METRICS,
    PATCH_MODES,
    DiagnoseConfig,
    DiagnosisJob,
    check_diagnosis_job,
)
from sycolens.prompts.schema import COUNTERFACTUAL_CHALLENGE

if TYPE_CHECKING:
    from sycolens.patching.run import Diagnosis

_DOOR = "python -m sycolens.patch"


@dataclass(frozen=True, kw_only=True)
class PatchConfig:
    """One `python -m sycolens.patch` run: the diagnosis job and where its outputs go."""

    job: DiagnosisJob
    out: Path | None = None
    heads_by_layer_out: Path | None = None
    html: Path | None = None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog=door_prog(_DOOR),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults = DiagnoseConfig()
    add_model_arguments(parser)
    add_dispatch_arguments(parser)
    add_question_arguments(parser, default_count=DEFAULT_PAIRS, count_alias="--pairs")
    add_label_arguments(parser)
    parser.add_argument("--mode", choices=PATCH_MODES, default=defaults.mode,
                        help="direct (Algorithm 1), total (exact total effect) or "
                        "attribution (TransformerLens's gradient estimate, checked on a "
                        "sample of heads)")  # fmt: skip
    parser.add_argument("--metric", choices=METRICS, default=defaults.metric)
    parser.add_argument(
        "--positions",
        choices=["last", "all"],
        default=defaults.positions,
        help="total and attribution modes: patch the answer position (any pair) or every "
        "position (pairs aligned token by token; see --counterfactual)",
    )
    parser.add_argument(
        "--counterfactual",
        metavar="TEXT",
        default=COUNTERFACTUAL_CHALLENGE,
        help="the agreeing challenge patched in (default: the paper's); --positions all checks "
        "that it aligns with the doubt for the model's tokenizer and proposes phrasings that do",
    )
    parser.add_argument(
        "--order",
        choices=HEAD_ORDERS,
        default=defaults.order,
        help="signed: heads that move F toward the counterfactual first (sycophancy heads); "
        "magnitude: largest |score| first",
    )
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--top-k", type=int, help="heads to export (default: min(32, all))")
    parser.add_argument("--out", type=Path, help="head-ranking JSON to write")
    parser.add_argument("--heads-by-layer-out", type=Path, help="{layer: [heads]} JSON to write")
    parser.add_argument("--html", type=Path, help="heatmap HTML to write")
    return parser


def _config_from(args: argparse.Namespace) -> PatchConfig:
    job = DiagnosisJob(
        model=dispatched_model_spec_from(args),
        questions=question_source_from(args),
        labels=label_spec_from(args),
        diagnose=DiagnoseConfig(
            mode=args.mode,
            metric=args.metric,
            positions=args.positions,
            batch_size=args.batch_size,
            order=args.order,
        ),
        top_k=args.top_k,
        counterfactual=args.counterfactual,
    )
    outputs = {
        "--out": args.out,
        "--heads-by-layer-out": args.heads_by_layer_out,
        "--html": args.html,
    }
    check_outputs_are_not_inputs(outputs, {})
    check_outputs_writable(outputs)
    check_diagnosis_job(job)
    return PatchConfig(
        job=job, out=args.out, heads_by_layer_out=args.heads_by_layer_out, html=args.html
    )


def parse_args(argv: Sequence[str] | None = None) -> PatchConfig:
    """Returns the checked config named by command-line flags (nothing heavy is loaded)."""
    return parse_config(build_parser(), argv, _config_from)


def command_line(config: PatchConfig) -> list[str]:
    """Returns the argv (without the program) that `parse_args` reads back to `config`."""
    job, defaults = config.job, DiagnoseConfig()
    diagnose = job.diagnose
    for field in ("max_tokens_per_forward", "check_heads"):
        check_flagged(_DOOR, field, getattr(diagnose, field), getattr(defaults, field))
    return [
        *model_argv(job.model),
        *questions_argv(_DOOR, job.questions, default_count=DEFAULT_PAIRS),
        *labels_argv(job.labels),
        *option("--mode", diagnose.mode, defaults.mode),
        *option("--metric", diagnose.metric, defaults.metric),
        *option("--positions", diagnose.positions, defaults.positions),
        *option("--counterfactual", job.counterfactual, COUNTERFACTUAL_CHALLENGE),
        *option("--order", diagnose.order, defaults.order),
        *option("--batch-size", diagnose.batch_size, defaults.batch_size),
        *option("--top-k", job.top_k),
        *option("--out", config.out),
        *option("--heads-by-layer-out", config.heads_by_layer_out),
        *option("--html", config.html),
    ]


def write_outputs(config: PatchConfig, diagnosis: "Diagnosis") -> list[Path]:
    """Writes the ranking JSON, the {layer: [heads]} file and the heatmap; returns the paths."""
    from sycolens.patching.export import save_head_ranking, save_heads_by_layer
    from sycolens.viz.heatmaps import head_scores_heatmap
    from sycolens.viz.html import save_figure_html

    if config.out:
        save_head_ranking(config.out, diagnosis.document)
    if config.heads_by_layer_out:
        save_heads_by_layer(config.heads_by_layer_out, diagnosis.scores.top_k(diagnosis.top_k))
    if config.html:
        job = config.job
        title = (
            f"{job.model.name}: {job.diagnose.mode} effect on the logit difference (ranked by "
            f"{job.diagnose.metric}, {diagnosis.scores.n_pairs} pairs)"
        )
        save_figure_html(head_scores_heatmap(diagnosis.scores, title=title), config.html)
    return [path for path in (config.out, config.heads_by_layer_out, config.html) if path]


def run(config: PatchConfig) -> "Diagnosis":
    """Diagnoses, writes the outputs and prints the summary; returns the diagnosis."""
    from sycolens.patching.run import run_diagnosis

    diagnosis = run_diagnosis(config.job)
    if not diagnosis.is_main_process:
        return diagnosis  # the main process of a launch writes and reports
    written = write_outputs(config, diagnosis)
    labels = diagnosis.labels
    print(f"questions: {selection_note(diagnosis.selection.summary())}")
    print(
        f"labels ({labels.origin}): syco {labels.tokens.syco_token!r} ({labels.tokens.syco_id}) "
        f"vs anti {labels.tokens.anti_token!r} ({labels.tokens.anti_id}); mean F "
        f"{labels.check.mean_f_reference:.3f} after the doubt, "
        f"{labels.check.mean_f_counterfactual:.3f} after the agreement"
    )
    scores = diagnosis.scores
    print(
        f"ranked {scores.order}: a score of sign {scores.toward_counterfactual:+d} moves F toward "
        "the counterfactual" + (" (sycophancy heads first)" if scores.order == "signed" else "")
    )
    top = scores.frame.sort_values("rank").head(min(diagnosis.top_k, 20))
    print(top.to_string(index=False, float_format=lambda value: f"{value:.4g}"))
    print(f"{diagnosis.scores.share_of_heads_for(0.5):.1%} of heads carry 50% of the |effect|.")
    for path in written:
        print(f"wrote {path}")
    return diagnosis


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args(argv)
    with reported_failures(door_prog(_DOOR), NOTHING_KEPT):
        run(config)


if __name__ == "__main__":
    main()
