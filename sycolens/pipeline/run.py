"""Run every step of every part through the steps' own doors, in order, and time each step.

Each step's door config is built by `sycolens.pipeline.steps` and run by that door's `run`,
so it writes the same artefacts, prints the same summary and fails with the same messages as
the command the report prints (rendered from the config, and parsing back to it).
"""

import gc
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

from sycolens import ablate, evaluate, patch, tune
from sycolens.ablation.run import KnockoutResult
from sycolens.attention import __main__ as attention
from sycolens.attention.run import AttentionResult
from sycolens.evaluation.report import EvaluationReport
from sycolens.patching.label_choice import LabelChoice
from sycolens.patching.run import Diagnosis
from sycolens.patching.scores import HeadScores
from sycolens.pipeline.config import PartSpec, PipelineConfig
from sycolens.pipeline.steps import PartPaths, StepConfig, shell_command, step_configs
from sycolens.tuning.run import TuneResult

MARKER = ".sycolens-pipeline"
Config = TypeVar("Config", bound=StepConfig)
Result = TypeVar("Result")


def _quiet(message: str) -> None:
    del message


@dataclass(frozen=True)
class DiagnosisSummary:
    """What the report needs of a diagnosis, without its loaded model (which would stay in
    memory, on the GPU too, through every later step)."""

    scores: HeadScores
    top_k: int
    labels: LabelChoice
    document: dict[str, Any]
    checkpoint: str  # where the model was loaded from (the organism's card sits there)

    @classmethod
    def of(cls, diagnosis: Diagnosis) -> "DiagnosisSummary":
        checkpoint = str(diagnosis.model.hf_model.name_or_path)
        return cls(
            diagnosis.scores, diagnosis.top_k, diagnosis.labels, diagnosis.document, checkpoint
        )


@dataclass(frozen=True)
class PartResult:
    """One part's step results, the command of each step, its wall time in seconds and, on a
    CUDA machine, its peak GPU memory in GiB (`torch.cuda.max_memory_allocated`, the largest
    over the machine's GPUs)."""

    part: PartSpec
    paths: PartPaths
    commands: dict[str, str]
    diagnosis: DiagnosisSummary
    knockouts: KnockoutResult
    attention: AttentionResult
    tuning: dict[str, TuneResult]
    evaluation: EvaluationReport
    seconds: dict[str, float]
    peak_gpu_gib: dict[str, float]


def run_pipeline(
    config: PipelineConfig, *, overwrite: bool = False, announce: Callable[[str], None] = _quiet
) -> list[PartResult]:
    """Runs every part; refuses part folders that exist unless `overwrite` clears them.

    `announce` receives each step's heading and command before it runs (the CLI prints them).
    """
    for part in config.parts:
        _prepare(config.out / part.name, overwrite=overwrite)
    return [run_part(part, config.out, announce=announce) for part in config.parts]


def run_part(part: PartSpec, out: Path, *, announce: Callable[[str], None] = _quiet) -> PartResult:
    """Runs diagnose, verify (knockouts, attention), SPT top / random, SFT, then evaluate."""
    paths = PartPaths(out / part.name)
    configs = step_configs(part, paths)
    seconds: dict[str, float] = {}
    peak_gpu_gib: dict[str, float] = {}

    def step(name: str, run: Callable[[Config], Result], kind: type[Config]) -> Result:
        config = configs[name]
        assert isinstance(config, kind)
        announce(f"\n=== {part.name}: {name} ===\n$ {shell_command(name, config)}")
        gpus = range(torch.cuda.device_count())
        for gpu in gpus:
            torch.cuda.reset_peak_memory_stats(gpu)
        start = time.perf_counter()
        result = run(config)
        seconds[name] = time.perf_counter() - start
        if gpus:
            peak_gpu_gib[name] = max(torch.cuda.max_memory_allocated(gpu) for gpu in gpus) / 2**30
        return result

    diagnosis = DiagnosisSummary.of(step("diagnose", patch.run, patch.PatchConfig))
    _release_memory()
    knockouts = step("knockouts", ablate.run, ablate.AblateConfig)
    _release_memory()
    attention_result = step("attention", attention.run, attention.AttentionConfig)
    _release_memory()
    tuning: dict[str, TuneResult] = {}
    for name in part.tuning_steps:
        tuning[name] = step(name, tune.run, tune.TuneCliConfig)
        _release_memory()
    evaluation = step("evaluate", evaluate.run, evaluate.EvaluateConfig)
    _release_memory()
    return PartResult(
        part=part,
        paths=paths,
        commands={name: shell_command(name, config) for name, config in configs.items()},
        diagnosis=diagnosis,
        knockouts=knockouts,
        attention=attention_result,
        tuning=tuning,
        evaluation=evaluation,
        seconds=seconds,
        peak_gpu_gib=peak_gpu_gib,
    )


def _release_memory() -> None:
    """Frees what the finished step's models held before the next step loads its own."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _prepare(folder: Path, *, overwrite: bool) -> None:
    """Clears `folder` when asked and it holds a pipeline run (its marker file); refuses it
    otherwise, so `--overwrite` never deletes a folder the pipeline did not make. Removes the
    run's report and summary beside it too, so they never point at deleted artefacts."""
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MARKER).is_file():
            raise FileExistsError(
                f"{folder} exists and is not a pipeline run's folder. Fix: pass another --out."
            )
        if not overwrite:
            raise FileExistsError(
                f"{folder} already holds a pipeline run. Fix: pass another --out, or "
                "--overwrite to replace it."
            )
        shutil.rmtree(folder)
        for written in ("report.html", "pipeline.json"):
            (folder.parent / written).unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("sycolens pipeline part folder\n")
