"""The command line of every pipeline step, as argv for the step's own CLI parser.

The pipeline parses these with each CLI's `parse_args` and runs what its `run` runs, so the
commands the report prints are exactly what ran (no separate code path).
"""

import shlex
from dataclasses import dataclass
from pathlib import Path

from sycolens.pipeline.config import PartSpec

# Step name -> the `python -m` module that runs it.
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
    random heads only when the part asks for that control."""
    sizes, model = part.sizes, ["--model", part.model]
    questions = ["--questions", part.questions]
    ranking = ["--heads", str(paths.ranking)]
    tuning = [
        *questions,
        "--n-questions", str(sizes.tune_questions),
        "--steps", str(sizes.tune_steps),
        "--batch-size", str(sizes.tune_batch),
    ]  # fmt: skip
    random_run = ["--deltas", str(paths.run("spt-random") / "deltas.safetensors")]
    commands = {
        "diagnose": [
            *model, *questions, "--pairs", str(sizes.pairs), "--top-k", str(sizes.top_k),
            "--out", str(paths.ranking),
        ],
        "knockouts": [
            *model, *ranking, "--k", ",".join(map(str, sizes.knockout_ks)),
            "--n-questions", str(sizes.knockout_questions), "--n-random", str(sizes.n_random),
            "--out", str(paths.knockouts),
        ],
        "attention": [
            *model, *ranking, "--prompts", str(sizes.attention_prompts),
            "--json", str(paths.attention),
        ],
        "spt-top": [
            *model, *ranking, "--k", str(sizes.top_k), *tuning, "--out", str(paths.run("spt-top")),
        ],
        "spt-random": [
            *model, *ranking, "--random-heads", "0", "--k", str(sizes.top_k), *tuning,
            "--out", str(paths.run("spt-random")),
        ],
        "sft": [*model, "--mode", "sft", *tuning, "--out", str(paths.run("sft"))],
        "evaluate": [
            *model, *questions,
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
    return commands


def shell_command(step: str, argv: list[str]) -> str:
    """Returns the step as one shell line a user can paste."""
    return shlex.join(["python", "-m", STEP_MODULES[step], *argv])
