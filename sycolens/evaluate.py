"""`python -m sycolens.evaluate`: confidence, truthfulness, general ability and KL, per model.

Example:
    python -m sycolens.evaluate --model smollm2-135m-instruct --deltas spt.safetensors \
        --questions bundled --n-questions 64 --out results.json --html results.html

The base model is always evaluated first; each `--deltas` file (base + deltas) and each
`--tuned` checkpoint is another row. Questions are a seeded, de-duplicated, kind-stratified
selection; a question file smaller than `--n-questions` is used whole. General ability comes
from the next questions of the same named set (never overlapping), or from the bundled set
when `--questions` is your own file, unless `--general` names another source. `--out` is
written after every model; a rerun with the same data skips the models already in it and keeps
every earlier record.

Confidence is the share of challenged replies that do not admit a mistake (the paper's Table 1
column); the answer-change rate and regressive rate (correct -> wrong) stand beside it. A reply
is judged by `--judge MODULE:FUNCTION` (default: the rule judge,
sycolens.evaluation.stance:judge_reply), a callable from a transcript to a
sycolens.evaluation.judge.ReplyJudgement; the report records which judge scored it.

Re-judge a saved report (no model is loaded; the replies are read back as generated, see
`sycolens.evaluation.rejudge`), optionally with another judge:
    python -m sycolens.evaluate rejudge results.json --out results.rejudged.json
"""

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sycolens._lazy import call_through_api
from sycolens.cli_args import (
    NOTHING_KEPT,
    add_dispatch_arguments,
    add_judge_argument,
    add_model_arguments,
    add_question_arguments,
    check_outputs_are_not_inputs,
    check_outputs_writable,
    dispatched_model_spec_from,
    door_prog,
    judge_from,
    parse_config,
    question_source_from,
    reported_failures,
)
from sycolens.command_lines import (
    check_flagged,
    judge_argv,
    model_argv,
    option,
    questions_argv,
    switch,
)
from sycolens.data.selection import QuestionSource, check_question_source, selection_note
from sycolens.evaluation.config import (
    DEFAULT_GENERAL,
    DEFAULT_QUESTIONS,
    EvaluationConfig,
    EvaluationJob,
    check_evaluation_job,
    general_source_for,
    protocol_for,
)
from sycolens.evaluation.judge import RULE_JUDGE, judgement_note
from sycolens.evaluation.saved_report import read_saved_report
from sycolens.prompts.protocol import FINAL_ANSWER_REQUEST, REPLY_LIMIT_FLAGS, ChallengeProtocol
from sycolens.prompts.schema import DOUBT_CHALLENGES

REJUDGE = "rejudge"
_DOOR = "python -m sycolens.evaluate"

if TYPE_CHECKING:
    from sycolens.evaluation.report import EvaluationReport


@dataclass(frozen=True, kw_only=True)
class EvaluateConfig:
    """One `python -m sycolens.evaluate` run: the evaluation job and where its outputs go."""

    job: EvaluationJob
    out: Path | None = None
    html: Path | None = None


@dataclass(frozen=True, kw_only=True)
class RejudgeConfig:
    """One `python -m sycolens.evaluate rejudge` run: which report, where the result goes."""

    report: Path
    out: Path
    questions: str | None = None
    judge: str = RULE_JUDGE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog=door_prog(_DOOR),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(parser)
    add_dispatch_arguments(parser)
    parser.add_argument("--deltas", type=Path, action="append", default=[],
                        help="safetensors deltas over the base (repeatable)")  # fmt: skip
    parser.add_argument("--allow-other-weights", action="store_true",
                        help="apply deltas made over other weights (a transfer; its row is "
                        "named '(other base)')")  # fmt: skip
    parser.add_argument("--tuned", action="append", default=[],
                        help="another checkpoint, e.g. an SFT dir (repeatable)")  # fmt: skip
    add_question_arguments(parser, default_count=DEFAULT_QUESTIONS)
    parser.add_argument("--challenge", default="0",
                        help="Table 12 phrasing by index (0-9) or the text itself")  # fmt: skip
    parser.add_argument("--final-request", action=argparse.BooleanOptionalAction, default=None,
                        help="ask for the bare answer in round 3 (default: by set)")  # fmt: skip
    rounds = ("1, the answer", "2, the reply to the challenge", "3, the bare answer")
    for flag, round_name in zip(REPLY_LIMIT_FLAGS.values(), rounds, strict=True):
        parser.add_argument(flag, type=int, metavar="N",
                            help=f"most tokens generated in round {round_name} (default: by "
                            "set)")  # fmt: skip
    parser.add_argument("--general", help="general-ability questions: a set or a file "
                        "(default: the same set, or bundled for a file)")  # fmt: skip
    parser.add_argument("--n-general", type=int, default=DEFAULT_GENERAL,
                        help="general-ability questions (0: measure none)")  # fmt: skip
    parser.add_argument("--texts", help="KL text: a set name, a .txt/.jsonl file or a folder")
    parser.add_argument("--n-texts", type=int, help="use the first N texts (default: all)")
    add_judge_argument(parser)
    parser.add_argument("--batch-size", type=int, default=EvaluationConfig().batch_size)
    parser.add_argument("--out", type=Path, help="results JSON (written after every model)")
    parser.add_argument("--html", type=Path, help="bar chart HTML to write")
    return parser


def _general_from(args: argparse.Namespace, questions: QuestionSource) -> QuestionSource | None:
    if args.n_general < 0:
        raise ValueError(f"--n-general must be >= 0, got {args.n_general}. Fix --n-general.")
    if args.n_general == 0:
        return None
    if args.general is None:
        return general_source_for(questions, args.n_general)
    return QuestionSource(source=args.general, n=args.n_general, seed=args.seed)


def _config_from(args: argparse.Namespace) -> EvaluateConfig:
    questions = question_source_from(args)
    protocol = protocol_for(
        questions.source,
        challenge=args.challenge,
        final_request=args.final_request,
        reply_limits={name: getattr(args, name) for name in REPLY_LIMIT_FLAGS},
    )
    job = EvaluationJob(
        model=dispatched_model_spec_from(args),
        deltas=tuple(args.deltas),
        tuned=tuple(args.tuned),
        questions=questions,
        general=_general_from(args, questions),
        texts=args.texts,
        n_texts=args.n_texts,
        evaluation=EvaluationConfig(
            protocol=protocol, judge=judge_from(args), batch_size=args.batch_size
        ),
        allow_other_weights=args.allow_other_weights,
    )
    inputs = {f"--deltas {path}": path for path in args.deltas}
    check_outputs_are_not_inputs({"--out": args.out, "--html": args.html}, inputs)
    check_outputs_writable({"--out": args.out, "--html": args.html})
    check_evaluation_job(job)
    return EvaluateConfig(job=job, out=args.out, html=args.html)


def command_line(config: EvaluateConfig) -> list[str]:
    """Returns the argv (without the program) that `parse_args` reads back to `config`."""
    job, evaluation = config.job, config.job.evaluation
    check_flagged(
        _DOOR, "kl_max_tokens", evaluation.kl_max_tokens, EvaluationConfig().kl_max_tokens
    )
    return [
        *model_argv(job.model),
        *(item for path in job.deltas for item in ("--deltas", str(path))),
        *switch("--allow-other-weights", job.allow_other_weights),
        *(item for tuned in job.tuned for item in ("--tuned", tuned)),
        *questions_argv(_DOOR, job.questions, default_count=DEFAULT_QUESTIONS),
        *_protocol_argv(job.questions.source, evaluation.protocol),
        *_general_argv(job.questions, job.general),
        *option("--texts", job.texts),
        *option("--n-texts", job.n_texts),
        *judge_argv(evaluation.judge),
        *option("--batch-size", evaluation.batch_size, EvaluationConfig().batch_size),
        *option("--out", config.out),
        *option("--html", config.html),
    ]


def _protocol_argv(questions: str, protocol: ChallengeProtocol) -> list[str]:
    """Returns --challenge (an index of Table 12 where it is one), --[no-]final-request and
    the reply limits where the protocol differs from the question set's."""
    challenge = protocol.challenge
    if challenge in DOUBT_CHALLENGES:
        challenge = str(DOUBT_CHALLENGES.index(challenge))
    by_set = protocol_for(questions, challenge=challenge)
    is_default = protocol.final_request == by_set.final_request
    final_request = None if is_default else protocol.final_request == FINAL_ANSWER_REQUEST
    limits = {
        name: getattr(protocol, name)
        for name in REPLY_LIMIT_FLAGS
        if getattr(protocol, name) != getattr(by_set, name)
    }
    given = protocol_for(
        questions, challenge=challenge, final_request=final_request, reply_limits=limits
    )
    check_flagged(_DOOR, "protocol", protocol, given)
    return [
        *option("--challenge", challenge, "0"),
        *(
            []
            if final_request is None
            else ["--final-request" if final_request else "--no-final-request"]
        ),
        *(item for name, value in limits.items() for item in (REPLY_LIMIT_FLAGS[name], str(value))),
    ]


def _general_argv(questions: QuestionSource, general: QuestionSource | None) -> list[str]:
    """Returns --n-general (0: none) and --general where it is not the default source."""
    if general is None:
        return option("--n-general", 0, DEFAULT_GENERAL)
    if general.n is None:
        raise ValueError(
            f"{_DOOR}: general asks for all of {general.source} (n=None), which no flag sets. "
            "Fix: give the general-ability question count (n)."
        )
    n_general = option("--n-general", general.n, DEFAULT_GENERAL)
    if general == general_source_for(questions, general.n):
        return n_general
    check_flagged(_DOOR, "general.seed (--seed sets it)", general.seed, questions.seed)
    return ["--general", general.source, *n_general]


def build_rejudge_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog=door_prog(f"python -m sycolens.evaluate {REJUDGE}"),
        description="Re-judge a saved evaluation report with the current judge.",
    )
    parser.add_argument("report", type=Path, help="a results JSON written by --out")
    parser.add_argument("--out", type=Path,
                        help="where to write (default: REPORT.rejudged.json)")  # fmt: skip
    parser.add_argument("--questions", help="the question set or file the report was run on, "
                        "for v1 reports whose questions moved (default: as recorded)")  # fmt: skip
    add_judge_argument(parser)
    return parser


def _rejudge_config_from(args: argparse.Namespace) -> RejudgeConfig:
    report: Path = args.report
    if not report.is_file():
        raise FileNotFoundError(f"Report {report} does not exist. Fix: pass a results JSON.")
    read_saved_report(report)  # a damaged report is refused here, before the judge loads
    out: Path = args.out or report.with_suffix(".rejudged.json")
    if out.resolve() == report.resolve():
        raise ValueError(f"--out {out} would overwrite the report. Fix: write to another path.")
    check_outputs_writable({"--out": out})
    if args.questions is not None:
        check_question_source(args.questions)
    return RejudgeConfig(report=report, out=out, questions=args.questions, judge=judge_from(args))


def parse_args(argv: Sequence[str] | None = None) -> EvaluateConfig:
    """Returns the checked config named by command-line flags (nothing heavy is loaded)."""
    return parse_config(build_parser(), argv, _config_from)


def parse_rejudge_args(argv: Sequence[str]) -> RejudgeConfig:
    """Returns the checked config of `rejudge`, from the flags after the word `rejudge`."""
    return parse_config(build_rejudge_parser(), argv, _rejudge_config_from)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [REJUDGE]:
        rejudge = parse_rejudge_args(argv[1:])
        prog = door_prog(f"python -m sycolens.evaluate {REJUDGE}")
        with reported_failures(prog, NOTHING_KEPT):
            _rejudge(rejudge)
        return
    config = parse_args(argv)
    kept = (
        f"Every model finished is kept in {config.out}: run the same command again to go on "
        "from there (finished models are skipped)."
        if config.out is not None
        else "Nothing was kept (no --out): pass --out to keep finished models across runs."
    )
    prog = door_prog(_DOOR)
    with reported_failures(prog, kept):
        run(config)


def run(config: EvaluateConfig) -> "EvaluationReport":
    """Evaluates, writes the outputs and prints the table; returns the report."""
    from sycolens.evaluation.run import run_evaluation
    from sycolens.viz.bars import evaluation_bar_chart
    from sycolens.viz.html import save_figure_html

    report = run_evaluation(config.job, save_to=config.out)
    if not report.is_main_process:
        return report  # the main process of a launch writes and reports
    if config.html:
        title = f"{config.job.model.name}: evaluation"
        save_figure_html(evaluation_bar_chart(report.table(), title=title), config.html)
    data = report.document["data"]
    print(f"questions: {selection_note(data['questions'])}")
    general = data["general"]
    print(f"general ability: {selection_note(general) if general else 'not measured'}")
    _print_report(report)
    for path in (config.out, config.html):
        if path:
            print(f"wrote {path}")
    return report


def _rejudge(config: RejudgeConfig) -> None:
    from sycolens.evaluation.rejudge import describe_changes, rejudge_report

    report = rejudge_report(config.report, questions=config.questions, judge=config.judge)
    report.save(config.out)
    _print_report(report)
    for line in describe_changes(report.document):
        print(line)
    print(f"wrote {config.out}")


def _print_report(report: "EvaluationReport") -> None:
    print(report.to_markdown())
    print(f"judged by {report.document['judge']}")
    for record in report.records:
        counts = record["sycophancy"]
        print(
            f"{record['name']}: {counts['n_questions']} questions, "
            f"{judgement_note(counts['judgements'])}; {counts['n_apologises']} apologise; "
            f"{counts['n_compared']} with two answers to compare; no answer before/after "
            f"{counts['n_no_answer_before']}/{counts['n_no_answer_after']}; of "
            f"{counts['n_replies']} replies, {counts['n_cut_off']} cut off at the token limit "
            f"({counts['n_cut_off_without_answer']} without an answer), "
            f"{counts['n_stopped_repeating']} stopped repeating a line; {record['seconds']:.0f} s"
        )


# `sycolens.evaluate(model, ...)` is the notebook call (`sycolens.api.evaluate`).
call_through_api(__name__)


if __name__ == "__main__":
    main()
