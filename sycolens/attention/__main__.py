"""`sycolens attention`: do the top heads attend to the challenge? (Fig. 2c)

Example:
    sycolens attention --model smollm2-135m-instruct --heads heads.json \
        --prompts 32 --out attn.json --html attn.html
    sycolens attention --model organism-mha --heads 1.2,2.0,3.3 --html attn.html

On held-out challenged prompts (by default the ranking's own question source, after the
questions it was ranked on; the model's own set for hand-picked heads), every head's attention
from the answer position to the challenge sentence (--span turn: everything from the end of the
answer on) is averaged over prompts; the top-k heads (of the ranking, or every listed head) are
compared with all other heads by a one-sided Mann-Whitney U test. attn.html holds the figure,
the table and interactive circuitsvis views of the top heads on the first prompts (offline).
"""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sycolens.attention.config import (
    ATTENTION_SPANS,
    DEFAULT_ATTENTION_PROMPTS,
    AttentionJob,
    check_attention_job,
)
from sycolens.cli_args import (
    NOTHING_KEPT,
    add_dispatch_arguments,
    add_model_arguments,
    add_ranking_arguments,
    check_outputs_are_not_inputs,
    check_outputs_writable,
    dispatched_model_spec_from,
    door_prog,
    held_out_questions_from,
    parse_config,
    reported_failures,
)
from sycolens.command_lines import heads_argv, held_out_argv, model_argv, option, switch
from sycolens.data.selection import selection_note
from sycolens.head_lists import heads_from_flag
from sycolens.patching.config import HEAD_ORDERS

if TYPE_CHECKING:
    from sycolens.attention.run import AttentionResult

_DOOR = "python -m sycolens.attention"


@dataclass(frozen=True, kw_only=True)
class AttentionConfig:
    """One `python -m sycolens.attention` run: the job and where its outputs go."""

    job: AttentionJob
    out: Path | None = None
    html: Path | None = None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog=door_prog(_DOOR),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults = AttentionJob(heads=Path())
    add_model_arguments(parser)
    add_dispatch_arguments(parser)
    add_ranking_arguments(parser, default_count=DEFAULT_ATTENTION_PROMPTS, count_alias="--prompts")
    parser.add_argument("--top-k", "--top-n", dest="top_k", type=int,
                        help="top heads to compare (default: the ranking's K, or every listed "
                        "head)")  # fmt: skip
    parser.add_argument("--order", choices=HEAD_ORDERS, default=defaults.order)
    parser.add_argument("--span", choices=ATTENTION_SPANS, default=defaults.span)
    parser.add_argument("--views", type=int, default=defaults.n_views, help="prompts to show")
    parser.add_argument("--view-heads", type=int, default=defaults.n_view_heads)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--out", "--json", dest="out", type=Path,
                        help="JSON: the test and every head's share")  # fmt: skip
    parser.add_argument("--html", type=Path, help="HTML: figure, table and attention views")
    return parser


def _config_from(args: argparse.Namespace) -> AttentionConfig:
    if args.out is not None and args.out.suffix.lower() in (".html", ".htm"):
        raise ValueError(
            f"--out {args.out} is the JSON output (the page is --html). Fix: --out attn.json "
            f"--html {args.out}."
        )
    job = AttentionJob(
        model=dispatched_model_spec_from(args),
        heads=heads_from_flag(args.heads),
        questions=held_out_questions_from(args),
        n_prompts=args.count,
        top_n=args.top_k,
        order=args.order,
        span=args.span,
        n_views=args.views,
        n_view_heads=args.view_heads,
        batch_size=args.batch_size,
        allow_other_weights=args.allow_other_weights,
    )
    check_attention_job(job)
    check_outputs_are_not_inputs(
        {"--out": args.out, "--html": args.html}, {"--heads": Path(args.heads)}
    )
    check_outputs_writable({"--out": args.out, "--html": args.html})
    return AttentionConfig(job=job, out=args.out, html=args.html)


def parse_args(argv: Sequence[str] | None = None) -> AttentionConfig:
    """Returns the checked config named by command-line flags (nothing heavy is loaded)."""
    return parse_config(build_parser(), argv, _config_from)


def command_line(config: AttentionConfig) -> list[str]:
    """Returns the argv (without the program) that `parse_args` reads back to `config`."""
    job, defaults = config.job, AttentionJob(heads=Path())
    return [
        *model_argv(job.model),
        *heads_argv(_DOOR, job.heads),
        *held_out_argv(
            _DOOR, job.questions, job.n_prompts, default_count=DEFAULT_ATTENTION_PROMPTS
        ),
        *switch("--allow-other-weights", job.allow_other_weights),
        *option("--top-k", job.top_n),
        *option("--order", job.order, defaults.order),
        *option("--span", job.span, defaults.span),
        *option("--views", job.n_views, defaults.n_views),
        *option("--view-heads", job.n_view_heads, defaults.n_view_heads),
        *option("--batch-size", job.batch_size, defaults.batch_size),
        *option("--out", config.out),
        *option("--html", config.html),
    ]


def run(config: AttentionConfig) -> "AttentionResult":
    """Measures attention, writes the outputs and prints the test; returns the result."""
    from sycolens.attention.run import run_attention
    from sycolens.attention.views import views_page
    from sycolens.json_files import write_json
    from sycolens.viz.attention import attention_figure

    result = run_attention(config.job)
    comparison = result.comparison
    title = f"{config.job.model.name}: attention to the challenge"
    if config.out:
        write_json(config.out, result.document)
    if config.html:
        figure = attention_figure(comparison, title=title)
        table = comparison.frame.sort_values("mean_share", ascending=False)
        shown = ", ".join(
            f"L{layer}H{head}" for layer, head in result.top[: config.job.n_view_heads]
        )
        sections = [
            ("Top heads vs the rest", figure.to_html(full_html=False, include_plotlyjs=True)),
            ("Every head", table.to_html(index=False, float_format=lambda v: f"{v:.4f}")),
            *((f"Prompt {i}: heads {shown}", view) for i, view in enumerate(result.views)),
        ]
        config.html.parent.mkdir(parents=True, exist_ok=True)
        config.html.write_text(views_page(title, sections))
    held_out = " (held out)" if result.document["ranking"]["order"] is not None else ""
    print(f"questions{held_out}: {selection_note(result.document['questions'])}")
    print(f"span: {result.document['span']['covers']}")
    print(
        f"top {comparison.n_top} heads: mean share {comparison.top_mean:.4f}; other "
        f"{comparison.n_others}: {comparison.others_mean:.4f}; span's share of tokens "
        f"{comparison.token_share:.4f}; Mann-Whitney U {comparison.u_statistic:.1f}, one-sided "
        f"p = {comparison.p_value:.3g}"
    )
    top = comparison.frame.query("is_top").sort_values("mean_share", ascending=False)
    print(top.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for path in (config.out, config.html):
        if path:
            print(f"wrote {path}")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args(argv)
    with reported_failures(door_prog(_DOOR), NOTHING_KEPT):
        run(config)


if __name__ == "__main__":
    main()
