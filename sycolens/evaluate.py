"""`python -m sycolens.evaluate`: confidence, truthfulness, general ability and KL, per model.

Example:
    python -m sycolens.evaluate --model smollm2-135m-instruct --deltas spt.safetensors \
        --questions bundled --n-questions 64 --out results.json --html results.html

The base model is always evaluated first; each `--deltas` file (base + deltas) and each
`--tuned` checkpoint is another row. Questions are a seeded random sample of the set; general
ability uses the next questions of the same sample when it reads the same set, so the two never
overlap (`sycolens.evaluation.data.sample_evaluation_data`). `--out` is rewritten after every
model, and a run started again with the same flags skips the models already done.
"""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sycolens.data.sets import QUESTION_SETS
from sycolens.evaluation.data import sample_evaluation_data
from sycolens.evaluation.report import (
    Candidate,
    EvaluationConfig,
    EvaluationReport,
    evaluate_models,
)
from sycolens.models import load_model
from sycolens.models.deltas import apply_deltas
from sycolens.models.load import DTYPES, DtypeName, LoadedModel
from sycolens.prompts.protocol import DEFAULT_PROTOCOL, FINAL_ANSWER_REQUEST, ChallengeProtocol
from sycolens.prompts.schema import DOUBT_CHALLENGES
from sycolens.viz.bars import evaluation_bar_chart
from sycolens.viz.html import save_figure_html


@dataclass(frozen=True, kw_only=True)
class EvaluateConfig:
    """Everything one `python -m sycolens.evaluate` run needs; each field is one CLI flag."""

    model: str = "smollm2-135m-instruct"
    deltas: tuple[Path, ...] = ()
    tuned: tuple[str, ...] = ()
    questions: str = "bundled"
    n_questions: int = 64
    challenge: str = "0"
    final_request: bool | None = None
    general: str | None = None
    n_general: int = 64
    texts: str | None = None
    n_texts: int | None = None
    batch_size: int = 16
    device: str = "cpu"
    dtype: DtypeName = "float32"
    out: Path | None = None
    html: Path | None = None


def parse_args(argv: Sequence[str] | None = None) -> EvaluateConfig:
    """Returns the config named by command-line flags."""
    parser = argparse.ArgumentParser(
        prog="python -m sycolens.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = EvaluateConfig()
    sets = ", ".join(QUESTION_SETS)
    parser.add_argument("--model", default=d.model, help="base: name, checkpoint dir or hub id")
    parser.add_argument("--deltas", type=Path, action="append", default=[],
                        help="safetensors deltas over the base (repeatable)")  # fmt: skip
    parser.add_argument("--tuned", action="append", default=[],
                        help="another checkpoint, e.g. an SFT dir (repeatable)")  # fmt: skip
    parser.add_argument("--questions", default=d.questions, help=f"{sets}, or a .jsonl/.csv file")
    parser.add_argument("--n-questions", type=int, default=d.n_questions)
    parser.add_argument("--challenge", default=d.challenge,
                        help="Table 12 phrasing by index (0-9) or the text itself")  # fmt: skip
    parser.add_argument("--final-request", action=argparse.BooleanOptionalAction, default=None,
                        help="ask for the bare answer in round 3 (default: by set)")  # fmt: skip
    parser.add_argument("--general", help="questions for general ability (default: --questions)")
    parser.add_argument("--n-general", type=int, default=d.n_general)
    parser.add_argument("--texts", help=f"KL text: {sets}, a .txt/.jsonl file or a folder")
    parser.add_argument("--n-texts", type=int, help="use the first N texts (default: all)")
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--device", default=d.device)
    parser.add_argument("--dtype", choices=sorted(DTYPES), default=d.dtype)
    parser.add_argument("--out", type=Path, help="results JSON (rewritten after every model)")
    parser.add_argument("--html", type=Path, help="bar chart HTML to write")
    args = vars(parser.parse_args(argv))
    args["deltas"], args["tuned"] = tuple(args["deltas"]), tuple(args["tuned"])
    return EvaluateConfig(**args)


def challenge_text(choice: str) -> str:
    """Returns the Table 12 phrasing at index `choice`, or `choice` itself when it is text."""
    if choice.isdigit():
        index = int(choice)
        if index >= len(DOUBT_CHALLENGES):
            raise ValueError(
                f"--challenge {index} is not a Table 12 phrasing (0..{len(DOUBT_CHALLENGES) - 1})."
                " Fix: pick an index in range or pass the challenge text."
            )
        return DOUBT_CHALLENGES[index]
    if not choice.strip():
        raise ValueError("--challenge is empty. Fix: pass an index (0-9) or a challenge text.")
    return choice


def build_protocol(config: EvaluateConfig) -> ChallengeProtocol:
    """Returns the question set's protocol (else the default) with the chosen challenge and,
    where flagged, round 3 switched on or off."""
    question_set = QUESTION_SETS.get(config.questions)
    protocol = question_set.protocol if question_set else DEFAULT_PROTOCOL
    protocol = replace(protocol, challenge=challenge_text(config.challenge))
    if config.final_request is not None:
        final_request = FINAL_ANSWER_REQUEST if config.final_request else None
        protocol = replace(protocol, final_request=final_request)
    return protocol


def build_candidates(config: EvaluateConfig) -> list[Candidate]:
    """Returns the base, the base plus each deltas file, and each tuned checkpoint."""

    def load(source: str) -> LoadedModel:
        return load_model(source, device=config.device, dtype=DTYPES[config.dtype])

    candidates = [Candidate(config.model, load(config.model))]
    for path in config.deltas:
        model = load(config.model)
        apply_deltas(model, path)
        candidates.append(Candidate(f"{config.model}+{path.stem}", model))
    candidates += [Candidate(source, load(source)) for source in config.tuned]
    return candidates


def run(config: EvaluateConfig) -> EvaluationReport:
    """Evaluates every candidate and writes the requested files; returns the report."""
    data = sample_evaluation_data(
        config.questions,
        n_questions=config.n_questions,
        n_general=config.n_general,
        general=config.general,
        texts=config.texts,
        n_texts=config.n_texts,
    )
    evaluation = EvaluationConfig(protocol=build_protocol(config), batch_size=config.batch_size)
    report = evaluate_models(build_candidates(config), data, evaluation, save_to=config.out)
    if config.html:
        figure = evaluation_bar_chart(report.table(), title=f"{config.model}: evaluation")
        save_figure_html(figure, config.html)
    return report


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args(argv)
    report = run(config)
    print(report.to_markdown())
    for record in report.records:
        counts = record["sycophancy"]
        print(
            f"{record['name']}: {counts['n_questions']} questions, stances {counts['stances']}, "
            f"no answer before/after {counts['n_no_answer_before']}/"
            f"{counts['n_no_answer_after']}, replies cut off at the token limit "
            f"{counts['n_cut_off']} ({counts['n_cut_off_without_answer']} without an answer), "
            f"{record['seconds']:.0f} s"
        )
    for path in (config.out, config.html):
        if path:
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
