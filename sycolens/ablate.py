"""`sycolens knockout` (`python -m sycolens.ablate`): the knockout curve (Fig. 2b) of heads.

Example:
    sycolens knockout --model smollm2-135m-instruct --heads heads.json \
        --ks 1,2,4,8,16,32 --out ko.json --html ko.html
    sycolens knockout --model organism-mha --heads 1.2,2.0,3.3 --out ko.json

Hand-picked heads (--heads as a {layer: [heads]} file or an L.H,L.H list) are knocked out in the
order given, beside random heads, on the model's own question set; they have no bottom set.

The top-k heads of the ranking (signed order by default: heads that move F toward the
counterfactual), k random heads (--n-random seeds) and the bottom-k heads (smallest |score|) are
mean-ablated (--method zero: zero-ablated) from the challenge turn onward, on questions held out
from the ranking (by default the ranking's own source, after the questions it was made on). F at
the answer position is measured for each, with the reference/counterfactual contrast beside it;
--judged adds the evaluator's metrics (three rounds of generation per knockout), its replies
judged by --judge: confidence (no admission of a mistake, the paper's) beside the answer-change
and regressive rates, truthfulness and accuracy.
"""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sycolens.ablation.config import (
    ABLATION_METHODS,
    ABLATION_POSITIONS,
    DEFAULT_KS,
    KnockoutConfig,
    default_head_counts,
)
from sycolens.ablation.job import DEFAULT_KNOCKOUT_QUESTIONS, KnockoutJob, check_knockout_job
from sycolens.cli_args import (
    NOTHING_KEPT,
    add_dispatch_arguments,
    add_judge_argument,
    add_model_arguments,
    add_ranking_arguments,
    check_outputs_are_not_inputs,
    check_outputs_writable,
    dispatched_model_spec_from,
    door_prog,
    held_out_questions_from,
    judge_from,
    parse_config,
    reported_failures,
)
from sycolens.command_lines import (
    heads_argv,
    held_out_argv,
    judge_argv,
    model_argv,
    option,
    switch,
)
from sycolens.data.selection import selection_note
from sycolens.evaluation.judge import RULE_JUDGE
from sycolens.head_lists import HeadList, heads_from_flag, read_heads
from sycolens.models.sources import read_model_shape
from sycolens.patching.config import HEAD_ORDERS

if TYPE_CHECKING:
    from sycolens.ablation.run import KnockoutResult

_DOOR = "python -m sycolens.ablate"


@dataclass(frozen=True, kw_only=True)
class AblateConfig:
    """One `python -m sycolens.ablate` run: the knockout job and where its outputs go."""

    job: KnockoutJob
    out: Path | None = None
    csv: Path | None = None
    html: Path | None = None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog=door_prog(_DOOR),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults = KnockoutConfig()
    add_model_arguments(parser)
    add_dispatch_arguments(parser)
    add_ranking_arguments(parser, default_count=DEFAULT_KNOCKOUT_QUESTIONS)
    parser.add_argument(
        "--ks",
        "--k",
        dest="ks",
        help=f"head counts, e.g. 1,2,4,8 (default: {','.join(map(str, DEFAULT_KS))}, those "
        "the model or a head list has heads for, and a head list's length)",
    )
    parser.add_argument("--order", choices=HEAD_ORDERS, default=defaults.order)
    parser.add_argument("--n-random", type=int, default=defaults.n_random, help="random seeds")
    parser.add_argument("--random-seed", type=int, default=defaults.seed)
    parser.add_argument("--method", choices=ABLATION_METHODS, default=defaults.method)
    parser.add_argument("--positions", choices=ABLATION_POSITIONS, default=defaults.positions)
    parser.add_argument("--judged", action="store_true", help="also run the evaluator (slow)")
    add_judge_argument(parser)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--out", type=Path, help="knockout-curve JSON to write")
    parser.add_argument("--csv", type=Path, help="one row per knockout, as CSV")
    parser.add_argument("--html", type=Path, help="knockout-curve figure to write")
    return parser


def _head_counts(text: str | None, model: str, heads: Path | HeadList) -> tuple[int, ...]:
    if text is None:
        if isinstance(heads, HeadList):
            return default_head_counts(0, n_listed=len(heads.heads))
        return default_head_counts(read_model_shape(model).n_total_heads)
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(
            f"--ks {text!r} is not a comma-separated list of integers. Fix: e.g. --ks 1,2,4,8."
        ) from None


def _config_from(args: argparse.Namespace) -> AblateConfig:
    if args.judge != RULE_JUDGE and not args.judged:
        raise ValueError(
            f"--judge {args.judge} judges nothing without --judged. Fix: add --judged, or drop "
            "--judge."
        )
    heads = heads_from_flag(args.heads)
    if not isinstance(heads, HeadList):
        given = read_heads(heads)
        heads = given if isinstance(given, HeadList) else heads
    job = KnockoutJob(
        model=dispatched_model_spec_from(args),
        heads=heads,
        questions=held_out_questions_from(args),
        n_questions=args.count,
        knockout=KnockoutConfig(
            ks=_head_counts(args.ks, args.model, heads),
            order=args.order,
            n_random=args.n_random,
            seed=args.random_seed,
            method=args.method,
            positions=args.positions,
            judged=args.judged,
            judge=judge_from(args),
            batch_size=args.batch_size,
        ),
        allow_other_weights=args.allow_other_weights,
    )
    check_knockout_job(job)
    check_outputs_are_not_inputs(
        {"--out": args.out, "--csv": args.csv, "--html": args.html}, {"--heads": Path(args.heads)}
    )
    check_outputs_writable({"--out": args.out, "--csv": args.csv, "--html": args.html})
    return AblateConfig(job=job, out=args.out, csv=args.csv, html=args.html)


def parse_args(argv: Sequence[str] | None = None) -> AblateConfig:
    """Returns the checked config named by command-line flags (nothing heavy is loaded)."""
    return parse_config(build_parser(), argv, _config_from)


def command_line(config: AblateConfig) -> list[str]:
    """Returns the argv (without the program) that `parse_args` reads back to `config`.

    --ks is always named (its default depends on the model's or the list's heads). A Path to a
    `{layer: [heads]}` file parses back as the list it holds, which this door reads up front.
    """
    job, defaults = config.job, KnockoutConfig()
    knockout = job.knockout
    return [
        *model_argv(job.model),
        *heads_argv(_DOOR, job.heads, reads_layer_files=True),
        *held_out_argv(
            _DOOR, job.questions, job.n_questions, default_count=DEFAULT_KNOCKOUT_QUESTIONS
        ),
        *switch("--allow-other-weights", job.allow_other_weights),
        "--ks", ",".join(map(str, knockout.ks)),
        *option("--order", knockout.order, defaults.order),
        *option("--n-random", knockout.n_random, defaults.n_random),
        *option("--random-seed", knockout.seed, defaults.seed),
        *option("--method", knockout.method, defaults.method),
        *option("--positions", knockout.positions, defaults.positions),
        *switch("--judged", knockout.judged),
        *judge_argv(knockout.judge),
        *option("--batch-size", knockout.batch_size, defaults.batch_size),
        *option("--out", config.out),
        *option("--csv", config.csv),
        *option("--html", config.html),
    ]  # fmt: skip


def run(config: AblateConfig) -> "KnockoutResult":
    """Runs the knockouts, writes the outputs and prints the curve; returns the result."""
    from sycolens.ablation.run import run_knockout
    from sycolens.json_files import write_json
    from sycolens.viz.html import save_figure_html
    from sycolens.viz.knockout import knockout_figure

    result = run_knockout(config.job)
    if config.out:
        write_json(config.out, result.document)
    if config.csv:
        result.curve.frame.to_csv(config.csv, index=False)
    if config.html:
        heads = config.job.heads
        title = f"{config.job.model.name}: knockouts of " + (
            heads.text if isinstance(heads, HeadList) else heads.name
        )
        save_figure_html(knockout_figure(result.curve, title=title), config.html)
    base = result.curve.baseline
    held_out = " (held out)" if result.document["ranking"] is not None else ""
    print(f"questions{held_out}: {selection_note(result.document['questions'])}")
    print(f"ablation: {result.document['ablation']['positions_note']}")
    print(
        f"F reference {base['f_reference']:.4f} ± {base['f_reference_stderr']:.4f}, "
        f"counterfactual {base['f_counterfactual']:.4f} ± {base['f_counterfactual_stderr']:.4f}"
        f", contrast {base['contrast']:.4f} ± {base['contrast_stderr']:.4f}"
    )
    print(result.curve.summary().to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for path in (config.out, config.csv, config.html):
        if path:
            print(f"wrote {path}")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args(argv)
    prog = door_prog(_DOOR)
    with reported_failures(prog, NOTHING_KEPT):
        run(config)


if __name__ == "__main__":
    main()
