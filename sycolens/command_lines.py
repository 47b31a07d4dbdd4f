"""The shared flags of `sycolens.cli_args`, rendered back as argv for each door's `command_line`.

A door's `command_line(config)` is the inverse of its `parse_args`: the argv that parses back
to an equal config. The pipeline builds door configs in Python and prints these, so a printed
command, pasted at the shell, runs what the pipeline ran. A flag is rendered only where its
value differs from the parser's default; the model and the questions are always named. A value
that no flag can give (a config field without a flag) is refused by `check_flagged`: no
command line could reproduce it.
"""

from pathlib import Path

from sycolens.data.selection import QuestionSource
from sycolens.evaluation.judge import RULE_JUDGE
from sycolens.head_lists import HeadList, parse_head_list
from sycolens.models.spec import ModelSpec
from sycolens.prompts.label_spec import LabelSpec

Value = str | int | float | Path | None


def option(flag: str, value: Value, default: Value = None) -> list[str]:
    """Returns `[flag, value]`, or nothing when `value` is the parser's `default`."""
    return [] if value == default or value is None else [flag, str(value)]


def switch(flag: str, is_on: bool) -> list[str]:
    """Returns `[flag]` for a store-true flag that is on, else nothing."""
    return [flag] if is_on else []


def check_flagged(door: str, field: str, value: object, default: object) -> None:
    """Raises when a config field that no flag of `door` sets is not the parser's value."""
    if value != default:
        raise ValueError(
            f"{door}: {field} is {value!r}, which no flag sets (a command line gives "
            f"{default!r}), so no command reproduces this config. Fix: keep {field} at "
            f"{default!r} to print a command, or run the config from Python."
        )


def model_argv(spec: ModelSpec) -> list[str]:
    """Returns --model and, where they differ from the defaults, the device and dispatch flags."""
    return [
        "--model", spec.name,
        *option("--device", spec.device, "cpu"),
        *option("--dtype", spec.dtype, "float32"),
        *option("--device-map", spec.device_map),
        *option("--offload-dir", spec.offload_dir),
    ]  # fmt: skip


def questions_argv(door: str, source: QuestionSource, *, default_count: int) -> list[str]:
    """Returns --questions, and --n-questions and --seed where not the defaults."""
    if source.n is None:
        raise ValueError(
            f"{door}: the questions ask for all of {source.source} (n=None), which no flag "
            "sets. Fix: give the question count (n)."
        )
    return [
        "--questions", source.source,
        *option("--n-questions", source.n, default_count),
        *option("--seed", source.seed, 0),
    ]  # fmt: skip


def held_out_argv(
    door: str, questions: QuestionSource | None, n: int, *, default_count: int
) -> list[str]:
    """Returns the question flags of a door that acts on heads: the ranking's own questions
    (held out) when `questions` is None, else --questions, its count `n` and seed."""
    if questions is not None and questions.n != n:
        raise ValueError(
            f"{door}: the questions ask for {questions.n} of {questions.source} but the job "
            f"for {n}; one flag (--n-questions) sets both. Fix: make them equal."
        )
    return [
        *option("--questions", None if questions is None else questions.source),
        *option("--n-questions", n, default_count),
        *option("--seed", None if questions is None else questions.seed, 0),
    ]


def heads_argv(door: str, heads: Path | HeadList, *, reads_layer_files: bool = False) -> list[str]:
    """Returns --heads naming a file, or a head list as its `L.H,L.H` text.

    A list read from a `{layer: [heads]}` file renders as that file, which only a door that
    reads such files into a list up front (`reads_layer_files`) parses back to the list.
    """
    if isinstance(heads, Path):
        return ["--heads", str(heads)]
    if heads.kind == "heads_by_layer" and not reads_layer_files:
        raise ValueError(
            f"{door}: heads listed from {heads.origin} read back as that file's path, not a "
            "list. Fix: pass the file as a Path."
        )
    if heads.kind == "list" and parse_head_list(heads.origin) != heads:
        raise ValueError(
            f"{door}: the head list's origin {heads.origin!r} does not name its heads "
            f"({heads.text}). Fix: build it with parse_head_list."
        )
    return ["--heads", heads.origin]


def labels_argv(labels: LabelSpec) -> list[str]:
    """Returns the label flags that are set."""
    return [
        *option("--syco-label", labels.syco),
        *option("--anti-label", labels.anti),
        *switch("--propose-labels", labels.propose),
    ]


def judge_argv(judge: str) -> list[str]:
    """Returns --judge unless it is the rule judge."""
    return option("--judge", judge, RULE_JUDGE)
