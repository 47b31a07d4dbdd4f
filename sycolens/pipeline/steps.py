"""The door config of every pipeline step, built from the part, and its command line.

Each step is one door's config (`PatchConfig`, `AblateConfig`, `AttentionConfig`,
`TuneCliConfig`, `EvaluateConfig`), built here in Python from the part's model, questions,
sizes, options and paths; `sycolens.pipeline.run` runs it with the door's own `run`. The
command the report prints is rendered from that config by the door's `command_line`, which
parses back to it, so what is printed is what ran.
"""

import shlex
from dataclasses import dataclass
from pathlib import Path

from sycolens import ablate, evaluate, patch, tune
from sycolens.ablate import AblateConfig
from sycolens.ablation.config import KnockoutConfig
from sycolens.ablation.job import KnockoutJob
from sycolens.attention import __main__ as attention
from sycolens.attention.__main__ import AttentionConfig
from sycolens.attention.config import AttentionJob
from sycolens.data.selection import QuestionSource
from sycolens.evaluate import EvaluateConfig
from sycolens.evaluation.config import (
    EvaluationConfig,
    EvaluationJob,
    general_source_for,
    protocol_for,
)
from sycolens.models.sources import check_model_source
from sycolens.models.spec import ModelSpec, check_device_present
from sycolens.patch import PatchConfig
from sycolens.patching.config import DiagnosisJob
from sycolens.pipeline.config import PartSpec
from sycolens.prompts.label_spec import LabelSpec
from sycolens.training.config import TrainingConfig
from sycolens.tune import DEFAULT_CHECKPOINT_EVERY, TuneCliConfig, preset_named
from sycolens.tuning.config import TuneConfig, TuneJob, TuneMode

StepConfig = PatchConfig | AblateConfig | AttentionConfig | TuneCliConfig | EvaluateConfig

# Step name -> the `sycolens` subcommand that runs it (its door's `python -m` alias beside it).
STEP_SUBCOMMANDS: dict[str, str] = {
    "diagnose": "diagnose",
    "knockouts": "knockout",
    "attention": "attention",
    "spt-top": "tune",
    "spt-random": "tune",
    "sft": "tune",
    "evaluate": "evaluate",
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


def step_configs(part: PartSpec, paths: PartPaths) -> dict[str, StepConfig]:
    """Returns every step's door config, in the order they run; SPT on random heads only when
    the part asks for that control."""
    sizes, model = part.sizes, ModelSpec(name=part.model, device=part.device)
    labels = part.labels
    diagnosis = DiagnosisJob(
        model=model,
        questions=QuestionSource(source=part.questions, n=sizes.pairs),
        labels=LabelSpec() if labels is None else LabelSpec(syco=labels.syco, anti=labels.anti),
        top_k=sizes.top_k,
    )
    knockout = KnockoutJob(
        model=model,
        heads=paths.ranking,
        n_questions=sizes.knockout_questions,
        knockout=KnockoutConfig(ks=sizes.knockout_ks, n_random=sizes.n_random),
    )
    attention_job = AttentionJob(
        model=model, heads=paths.ranking, n_prompts=sizes.attention_prompts
    )
    return {
        "diagnose": PatchConfig(job=diagnosis, out=paths.ranking),
        "knockouts": AblateConfig(job=knockout, out=paths.knockouts),
        "attention": AttentionConfig(job=attention_job, out=paths.attention),
        **{step: _tune_config(part, paths, step) for step in part.tuning_steps},
        "evaluate": EvaluateConfig(job=_evaluation_job(part, paths), out=paths.evaluation),
    }


def _tune_config(part: PartSpec, paths: PartPaths, step: str) -> TuneCliConfig:
    """Returns a tuning step's config: the part's preset, with its sizes where given."""
    mode: TuneMode = "sft" if step == "sft" else "spt"
    preset, sizes = preset_named(mode, part.tune_preset), part.sizes
    training = TrainingConfig(
        steps=preset.steps if sizes.tune_steps is None else sizes.tune_steps,
        learning_rate=preset.learning_rate,
        checkpoint_every=DEFAULT_CHECKPOINT_EVERY,
        autocast=part.tune_autocast,
    )
    is_fsdp = step in part.fsdp_offload
    tune_config = TuneConfig(
        mode=mode,
        k=preset.k if mode == "sft" else sizes.top_k,
        heads="random" if step == "spt-random" else "top",
        training=training,
        batch_size=preset.batch_size if sizes.tune_batch is None else sizes.tune_batch,
        gradient_checkpointing=step in part.gradient_checkpointing,
        fsdp=is_fsdp,
        fsdp_offload=is_fsdp,
    )
    job = TuneJob(
        model=ModelSpec(name=part.model, device=part.device),
        ranking=None if mode == "sft" else paths.ranking,
        questions=QuestionSource(source=part.questions, n=sizes.tune_questions),
        tune=tune_config,
        out=paths.run(step),
    )
    return TuneCliConfig(job=job, paper_preset=part.tune_preset)


def _evaluation_job(part: PartSpec, paths: PartPaths) -> EvaluationJob:
    """Returns the evaluation of the base, each SPT run's deltas and the SFT checkpoint."""
    sizes = part.sizes
    questions = QuestionSource(source=part.questions, n=sizes.eval_questions)
    spt_runs = (step for step in part.tuning_steps if step != "sft")
    asks_round_3 = (
        protocol_for(part.questions, final_request=part.eval_final_request).final_request
        is not None
    )
    protocol = protocol_for(
        part.questions,
        final_request=part.eval_final_request,
        reply_limits={
            "answer_tokens": sizes.eval_answer_tokens,
            "challenge_reply_tokens": sizes.eval_challenge_reply_tokens,
            # a part without round 3 has no round-3 replies to limit
            "final_answer_tokens": sizes.eval_final_answer_tokens if asks_round_3 else None,
        },
    )
    return EvaluationJob(
        model=ModelSpec(name=part.model, device=part.device, dtype=part.eval_dtype),
        deltas=tuple(paths.run(step) / "deltas.safetensors" for step in spt_runs),
        tuned=(str(paths.run("sft") / "model"),),
        questions=questions,
        general=general_source_for(questions, sizes.eval_general) if sizes.eval_general else None,
        n_texts=sizes.eval_texts,
        evaluation=EvaluationConfig(protocol=protocol),
    )


def command_line(config: StepConfig) -> list[str]:
    """Returns the argv (without the program) of a step's door that parses back to `config`."""
    if isinstance(config, PatchConfig):
        return patch.command_line(config)
    if isinstance(config, AblateConfig):
        return ablate.command_line(config)
    if isinstance(config, AttentionConfig):
        return attention.command_line(config)
    if isinstance(config, TuneCliConfig):
        return tune.command_line(config)
    return evaluate.command_line(config)


def shell_command(step: str, config: StepConfig) -> str:
    """Returns the step as one shell line a user can paste (`sycolens SUBCOMMAND ...`)."""
    return shlex.join(["sycolens", STEP_SUBCOMMANDS[step], *command_line(config)])


def check_part_runs_here(part: PartSpec) -> None:
    """Raises, before any model loads, when the part's steps cannot be built (a combination a
    door config refuses) or this machine cannot run the part: its model cannot be found
    (offline and not cached, a missing folder) or its device is absent. Every step runs the
    part's model on the part's device, so one check covers them."""
    diagnosis = step_configs(part, PartPaths(Path(part.name)))["diagnose"]
    assert isinstance(diagnosis, PatchConfig)
    check_device_present(diagnosis.job.model.device)
    check_model_source(diagnosis.job.model.name)
