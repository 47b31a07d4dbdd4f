"""The command line of every pipeline step, as argv for the step's own CLI parser.

The pipeline parses these with each CLI's `parse_args` and runs what its `run` runs, so the
commands the report prints are exactly what ran (no separate code path).
"""

import argparse
import importlib
import shlex
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sycolens.cli_args import model_spec_from
from sycolens.models.sources import check_model_source
from sycolens.pipeline.config import PartSpec

# Step name -> the `python -m` module that runs it, in the order of config.STEP_NAMES.
STEP_MODULES: dict[str, str] = {
    "diagnose": "sycolens.patch",
    "knockouts": "sycolens.ablate",
    "attention": "sycolens.attention",
    "spt-top": "sycolens.tune",
    "spt-random": "sycolens.tune",
    "sft": "sycolens.tune",
    "evaluate": "sycolens.evaluate",
}


@dataclass(frozen=True)
class PartPaths:
    """Where one part's artefacts go, under `out/<part>/`."""

    folder: Path

    @property
    def ranking(self) -> Path:
        return self.folder / "heads.json"

    @property
    def knockouts(self) -> Path:
        return self.folder / "knockouts.json"

    @property
    def attention(self) -> Path:
        return self.folder / "attention.json"

    def run(self, step: str) -> Path:
        """Returns the run folder of a tuning step (spt-top, spt-random, sft)."""
        return self.folder / step

    @property
    def evaluation(self) -> Path:
        return self.folder / "evaluation.json"


def step_commands(part: PartSpec, paths: PartPaths) -> dict[str, list[str]]:
    """Returns every step's argv (without `python -m module`), in the order they run; SPT on
    random heads only when the part asks for that control.

    Each argv starts with the model, the part's every-step flags and the step's own flags, then
    the sizes and paths, so a size given (e.g. `--steps`) wins over a preset the flags name.
    """
    sizes = part.sizes
    questions = ["--questions", part.questions]
    ranking = ["--heads", str(paths.ranking)]
    tuning = [
        *questions,
        "--n-questions", str(sizes.tune_questions),
        *([] if sizes.tune_steps is None else ["--steps", str(sizes.tune_steps)]),
        *([] if sizes.tune_batch is None else ["--batch-size", str(sizes.tune_batch)]),
    ]  # fmt: skip
    random_run = ["--deltas", str(paths.run("spt-random") / "deltas.safetensors")]
    commands = {
        "diagnose": [
            *questions, "--pairs", str(sizes.pairs), "--top-k", str(sizes.top_k),
            "--out", str(paths.ranking),
        ],
        "knockouts": [
            *ranking, "--ks", ",".join(map(str, sizes.knockout_ks)),
            "--n-questions", str(sizes.knockout_questions), "--n-random", str(sizes.n_random),
            "--out", str(paths.knockouts),
        ],
        "attention": [
            *ranking, "--prompts", str(sizes.attention_prompts),
            "--out", str(paths.attention),
        ],
        "spt-top": [
            *ranking, "--top-k", str(sizes.top_k), *tuning, "--out", str(paths.run("spt-top")),
        ],
        "spt-random": [
            *ranking, "--random-heads", "0", "--top-k", str(sizes.top_k), *tuning,
            "--out", str(paths.run("spt-random")),
        ],
        "sft": ["--mode", "sft", *tuning, "--out", str(paths.run("sft"))],
        "evaluate": [
            *questions,
            "--deltas", str(paths.run("spt-top") / "deltas.safetensors"),
            *(random_run if part.random_control else []),
            "--tuned", str(paths.run("sft") / "model"),
            "--n-questions", str(sizes.eval_questions),
            "--n-general", str(sizes.eval_general), "--n-texts", str(sizes.eval_texts),
            "--out", str(paths.evaluation),
        ],
    }  # fmt: skip
    if not part.random_control:
        del commands["spt-random"]
    return {
        step: ["--model", part.model, *part.flags, *part.step_flags.get(step, ()), *argv]
        for step, argv in commands.items()
    }


# Step name -> the `sycolens` subcommand that runs it (the same parser as STEP_MODULES').
STEP_SUBCOMMANDS: dict[str, str] = {
    "diagnose": "diagnose",
    "knockouts": "knockout",
    "attention": "attention",
    "spt-top": "tune",
    "spt-random": "tune",
    "sft": "tune",
    "evaluate": "evaluate",
}


def shell_command(step: str, argv: list[str]) -> str:
    """Returns the step as one shell line a user can paste (`sycolens SUBCOMMAND ...`)."""
    return shlex.join(["sycolens", STEP_SUBCOMMANDS[step], *argv])


_REPEATABLE = {"--deltas", "--tuned"}  # evaluate's candidates: one flag per model


def check_part_flags(part: PartSpec) -> None:
    """Raises, before any model loads, when a part's flags name an option its step's CLI does
    not have, give a value the pipeline already sets (a size, a path), or go to a step the
    part does not run."""
    commands = step_commands(part, PartPaths(Path(part.name)))
    idle = sorted(set(part.step_flags) - set(commands))
    if idle:
        raise ValueError(
            f"Part {part.name!r} has flags for {idle}, which it does not run (random_control "
            "is false). Fix: drop those step_flags, or set random_control to true."
        )
    for step, argv in commands.items():
        options = [item.split("=", 1)[0] for item in argv if item.startswith("--")]
        twice = sorted(
            option
            for option, count in Counter(options).items()
            if count > 1 and option not in _REPEATABLE
        )
        if twice:
            raise ValueError(
                f"Part {part.name!r}, step {step}: {twice} given twice (its flags repeat what the "
                "pipeline sets from the part's model, questions, sizes or paths). Fix: set each "
                "once, sizes under 'sizes'."
            )
        _, unknown = _cli_parser(STEP_MODULES[step]).parse_known_args(argv)
        if unknown:
            raise ValueError(
                f"Part {part.name!r}, step {step}: {unknown} are not options of python -m "
                f"{STEP_MODULES[step]}. Fix: see python -m {STEP_MODULES[step]} --help."
            )


def _cli_parser(module: str) -> argparse.ArgumentParser:
    """Returns the parser of the CLI that `python -m module` runs (a package's `__main__`)."""
    cli = importlib.import_module(module)
    if not hasattr(cli, "build_parser"):
        cli = importlib.import_module(f"{module}.__main__")
    return cli.build_parser()


def check_part_runs_here(part: PartSpec) -> None:
    """Raises, before any model loads, when this machine cannot run the part: its model cannot
    be found (offline and not cached, a missing folder) or its device is absent. Every step
    runs the part's model on the part's device, so one check covers them."""
    commands = step_commands(part, PartPaths(Path(part.name)))
    args, _ = _cli_parser(STEP_MODULES["diagnose"]).parse_known_args(commands["diagnose"])
    model_spec_from(args)
    check_model_source(args.model)
