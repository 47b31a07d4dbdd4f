"""`python -m sycolens.pipeline`: the whole method on the shipped models, then one HTML report.

Examples:
    python -m sycolens.pipeline --parts organism,smollm2 --out out --overwrite
    python -m sycolens.pipeline --config experiments/llama2-7b-chat.json \
        --model /models/Llama-2-7b-chat-hf --out out/llama2-7b-chat [--smoke]

Each part walks the method on one model, each step its own door's config and run (the report
prints each step's command, rendered from that config): diagnose (path patching,
`sycolens.patch`), verify (knockouts, `sycolens.ablate`; attention to the challenge,
`sycolens.attention`), SPT on the top heads vs SPT on random heads vs SFT (`sycolens.tune`),
then evaluate all of them under "Are you sure?" (`sycolens.evaluate`). Writes out/<part>/
(every step's artefacts), out/pipeline.json (headline numbers, commands, timings) and
out/report.html (self-contained, works offline). --config runs the parts of a JSON file
instead of the demo's (the paper reproductions in experiments/); --smoke runs every step at
the smallest sizes, to check a config, a checkpoint and a device end to end in minutes before
the long run.
"""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sycolens.cli_args import (
    check_outputs_writable,
    door_prog,
    parse_config,
    reported_failures,
)
from sycolens.pipeline.config import DEMO_PARTS, SMOKE_SIZES, PartSpec, PipelineConfig
from sycolens.pipeline.config_file import read_parts
from sycolens.pipeline.steps import check_part_runs_here


@dataclass(frozen=True, kw_only=True)
class PipelineCliConfig:
    """One `python -m sycolens.pipeline` run: the pipeline and whether it may replace a run."""

    pipeline: PipelineConfig
    overwrite: bool = False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog=door_prog("python -m sycolens.pipeline"),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo = ",".join(DEMO_PARTS)
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--parts", help=f"comma-separated demo parts to run, in order (default and choices: {demo})"
    )
    source.add_argument("--config", type=Path, help="a JSON file of parts (e.g. experiments/)")
    parser.add_argument("--model", help="checkpoint of a one-part --config (replaces its model)")
    parser.add_argument("--device", help="device of every step (replaces the parts' device)")
    parser.add_argument("--smoke", action="store_true", help="every step at its smallest size")
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for everything")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run's parts")
    return parser


def _config_from(args: argparse.Namespace) -> PipelineCliConfig:
    names = ",".join(DEMO_PARTS) if args.parts is None else args.parts
    parts = read_parts(args.config) if args.config else _demo_parts(names)
    if args.model is not None:
        if len(parts) != 1:
            raise ValueError(
                "--model replaces the model of a config with one part. Fix: drop --model, or "
                "set each part's 'model' in the --config file."
            )
        parts = (replace(parts[0], model=args.model),)
    if args.device is not None:
        parts = tuple(replace(part, device=args.device) for part in parts)
    if args.smoke:
        parts = tuple(replace(part, sizes=SMOKE_SIZES) for part in parts)
    check_outputs_writable({"--out": args.out}, folders=("--out",))
    for part in parts:
        check_part_runs_here(part)
    return PipelineCliConfig(
        pipeline=PipelineConfig(parts=parts, out=args.out), overwrite=args.overwrite
    )


def _demo_parts(names_flag: str) -> tuple[PartSpec, ...]:
    names = [name for name in names_flag.split(",") if name]
    if not names:
        raise ValueError(
            f"--parts {names_flag!r} names no part. Fix: name one or more of "
            f"{','.join(DEMO_PARTS)}, or leave --parts out to run them all."
        )
    unknown = [name for name in names if name not in DEMO_PARTS]
    if unknown:
        raise ValueError(
            f"--parts names unknown parts {unknown}. Fix: choose from {','.join(DEMO_PARTS)}."
        )
    return tuple(DEMO_PARTS[name] for name in names)


def parse_args(argv: Sequence[str] | None = None) -> PipelineCliConfig:
    """Returns the checked config named by command-line flags (nothing heavy is loaded)."""
    return parse_config(build_parser(), argv, _config_from)


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args(argv)
    from sycolens.pipeline.outputs import write_pipeline_outputs
    from sycolens.pipeline.run import run_pipeline

    kept = (
        f"The parts that finished are kept under {config.pipeline.out}; the interrupted part's "
        "folder is incomplete and is not resumed: run again with --overwrite, or with --parts "
        "naming the parts left."
    )
    with reported_failures(door_prog("python -m sycolens.pipeline"), kept):
        results = run_pipeline(config.pipeline, overwrite=config.overwrite, announce=print)
    summary = write_pipeline_outputs(config.pipeline.out, results)
    print("\n=== summary ===")
    for part in summary["parts"]:
        print(
            f"{part['model']}: top heads {part['top_heads']}"
            + (f", planted heads found {part['planted_found']}" if part["planted_found"] else "")
            + f", attention test p = {_number(part['attention_p_value'])}, {part['seconds']} s"
        )
        for row in part["evaluation"]:
            kl = "-" if row["kl"] is None else f"{row['kl']:.4f}"
            print(
                f"  {row['model']}: confidence {_share(row['confidence'])}, truthfulness "
                f"{_share(row['truthfulness'])}, KL {kl}"
            )
    out = config.pipeline.out
    print(f"wrote {out / 'report.html'} and {out / 'pipeline.json'}")


def _number(value: float | None) -> str:
    """Returns a p-value to 3 significant digits, or '-' where it is undefined."""
    return "-" if value is None else f"{value:.3g}"


def _share(value: float | None) -> str:
    """Returns a share as a percentage, or '-' where it is undefined (no questions to count)."""
    return "-" if value is None else f"{value:.1%}"


if __name__ == "__main__":
    main()
