"""The notebook API: one call per step, each taking a loaded model or a model name.

    import sycolens as sl
    model = sl.load_model("organism-mha")
    diagnosis = sl.diagnose(model, n=32)
    sl.save_ranking(diagnosis, "heads.json")
    curve = sl.knockout(model, "heads.json")            # or sl.heads("3.3,2.0")
    run = sl.tune(model, sl.heads("3.3,2.0,1.2"), out="spt")
    report = sl.evaluate(model, deltas=["spt/deltas.safetensors"])

Each call builds the same frozen job its CLI builds (`DiagnosisJob`, `KnockoutJob`, ...) and
runs it on the model given, so nothing is loaded twice; the jobs stay the way to write a
reproducible run down. Questions default to the model's own set (the organism's world, else
the bundled set), as on the command line.
"""

from collections.abc import Generator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch

from sycolens.ablation.config import KnockoutConfig, default_head_counts
from sycolens.ablation.job import DEFAULT_KNOCKOUT_QUESTIONS, KnockoutJob
from sycolens.ablation.run import KnockoutResult, knockout_model
from sycolens.attention.config import DEFAULT_ATTENTION_PROMPTS, AttentionJob
from sycolens.attention.run import AttentionResult, attention_model
from sycolens.data.selection import QuestionSource
from sycolens.evaluation.config import (
    DEFAULT_QUESTIONS,
    EvaluationConfig,
    EvaluationJob,
    general_source_for,
    protocol_for,
)
from sycolens.evaluation.data import build_evaluation_data
from sycolens.evaluation.judge import RULE_JUDGE
from sycolens.evaluation.report import Candidate, EvaluationReport, evaluate_models
from sycolens.evaluation.run import trained_on
from sycolens.head_lists import HeadList, heads_from_flag, parse_head_list
from sycolens.models.deltas import apply_deltas
from sycolens.models.load import LoadedModel, load_again, load_model
from sycolens.models.registry import question_set_for
from sycolens.models.spec import ModelSpec
from sycolens.patching.config import DEFAULT_PAIRS, DiagnoseConfig, DiagnosisJob, PatchMode
from sycolens.patching.export import save_head_ranking
from sycolens.patching.run import Diagnosis, diagnose_model
from sycolens.prompts.schema import COUNTERFACTUAL_CHALLENGE
from sycolens.training.config import TrainingConfig
from sycolens.tuning.config import TuneConfig, TuneJob, TuneMode
from sycolens.tuning.run import TuneResult, tune_model

HeadsLike = str | Path | HeadList


def heads(text: str) -> HeadList:
    """Returns hand-picked heads from `L.H,L.H` text, e.g. `sl.heads("3.3,2.0")`."""
    return parse_head_list(text)


def diagnose(
    model: LoadedModel | str,
    *,
    questions: str | None = None,
    n: int = DEFAULT_PAIRS,
    seed: int = 0,
    mode: PatchMode = "direct",
    top_k: int | None = None,
    counterfactual: str = COUNTERFACTUAL_CHALLENGE,
    show_progress: bool = True,
) -> Diagnosis:
    """Returns every head's path-patching score on `n` questions (`sycolens diagnose`);
    `counterfactual` is the agreeing challenge patched in (aligned token by token with the
    doubt for `mode="attribution"` or every position)."""
    loaded = _loaded(model)
    job = DiagnosisJob(
        model=_spec(loaded),
        questions=_questions(loaded, questions, n, seed),
        diagnose=DiagnoseConfig(mode=mode),
        top_k=top_k,
        counterfactual=counterfactual,
    )
    return diagnose_model(loaded, job, show_progress=show_progress)


def save_ranking(diagnosis: Diagnosis, path: str | Path) -> Path:
    """Writes a diagnosis as the ranking JSON every later step reads; returns its path."""
    save_head_ranking(Path(path), diagnosis.document)
    return Path(path)


def knockout(
    model: LoadedModel | str,
    heads: HeadsLike,
    *,
    questions: str | None = None,
    n: int = DEFAULT_KNOCKOUT_QUESTIONS,
    ks: Sequence[int] | None = None,
    n_random: int = KnockoutConfig().n_random,
    judged: bool = False,
    judge: str = RULE_JUDGE,
    show_progress: bool = True,
) -> KnockoutResult:
    """Returns the knockout curve of a ranking's or a head list's heads (`sycolens knockout`);
    `questions=None` holds out a ranking's own questions, or takes the model's own set.
    `judged` also runs the challenge protocol under every knockout, judged by `judge`
    (MODULE:FUNCTION, as `--judge`)."""
    loaded = _loaded(model)
    given = _heads(heads)
    n_listed = len(given.heads) if isinstance(given, HeadList) else None
    n_heads = loaded.n_layers * loaded.n_heads
    counts = tuple(ks) if ks is not None else default_head_counts(n_heads, n_listed=n_listed)
    job = KnockoutJob(
        model=_spec(loaded),
        heads=given,
        questions=None if questions is None else QuestionSource(source=questions, n=n),
        n_questions=n,
        knockout=KnockoutConfig(ks=counts, n_random=n_random, judged=judged, judge=judge),
    )
    return knockout_model(loaded, job, show_progress=show_progress)


def attention(
    model: LoadedModel | str,
    heads: HeadsLike,
    *,
    questions: str | None = None,
    n: int = DEFAULT_ATTENTION_PROMPTS,
    top_k: int | None = None,
    show_progress: bool = True,
) -> AttentionResult:
    """Returns the top heads' attention to the challenge vs the rest (`sycolens attention`)."""
    loaded = _loaded(model)
    job = AttentionJob(
        model=_spec(loaded),
        heads=_heads(heads),
        questions=None if questions is None else QuestionSource(source=questions, n=n),
        n_prompts=n,
        top_n=top_k,
    )
    return attention_model(loaded, job, show_progress=show_progress)


def tune(
    model: LoadedModel | str,
    heads: HeadsLike | None = None,
    *,
    out: str | Path,
    mode: TuneMode = "spt",
    top_k: int | None = None,
    random_heads: bool = False,
    steps: int = 60,
    learning_rate: float | None = None,
    batch_size: int | None = None,
    questions: str | None = None,
    n: int = 64,
    show_progress: bool = True,
) -> TuneResult:
    """Trains the heads' slices (SPT; every head of a list unless `top_k`) or every weight
    (`mode="sft"`) and writes the run folder `out` (`sycolens tune`). `random_heads` trains as
    many random heads outside the ranking's top ones instead (the control). The model passed in
    keeps its weights: training changes them in place, so they are put back afterwards (the
    tuned weights are in `out`) and `evaluate(model, deltas=...)` then adds the deltas to the
    model as it was."""
    loaded = _loaded(model)
    given = None if heads is None else _heads(heads)
    k = top_k if top_k is not None else len(given.heads) if isinstance(given, HeadList) else 3
    defaults = TuneConfig(mode=mode)
    training = TrainingConfig(
        steps=steps, learning_rate=learning_rate or defaults.training.learning_rate
    )
    job = TuneJob(
        model=_spec(loaded),
        ranking=given,
        questions=_questions(loaded, questions, n, 0),
        tune=replace(
            defaults,
            k=k if mode == "spt" else 0,
            heads="random" if random_heads else "top",
            training=training,
            batch_size=batch_size or defaults.batch_size,
        ),
        out=Path(out),
    )
    with _weights_kept(loaded):
        return tune_model(loaded, job, show_progress=show_progress)


def evaluate(
    model: LoadedModel | str,
    *,
    deltas: Sequence[str | Path] = (),
    tuned: Sequence[str | Path] = (),
    questions: str | None = None,
    n: int = DEFAULT_QUESTIONS,
    n_general: int = 0,
    n_texts: int = 32,
    judge: str = RULE_JUDGE,
    show_progress: bool = True,
) -> EvaluationReport:
    """Returns confidence, truthfulness and KL of the model, the model plus each deltas file and
    each `tuned` checkpoint folder (`sycolens tune`'s `OUT/model`), on questions none of them
    trained on (`sycolens evaluate`); `n_general` general-ability questions; replies judged by
    `judge` (MODULE:FUNCTION, as `--judge`)."""
    loaded = _loaded(model)
    paths = tuple(Path(path) for path in deltas)
    checkpoints = tuple(str(path) for path in tuned)
    source = _questions(loaded, questions, n, 0)
    excluded = trained_on(EvaluationJob(deltas=paths, tuned=checkpoints))
    general = general_source_for(source, n_general) if n_general else None
    data = build_evaluation_data(source, general=general, n_texts=n_texts, exclude=excluded)
    candidates = [Candidate(loaded.model_id, loaded)]
    for path in paths:
        with_deltas = load_again(loaded)
        apply_deltas(with_deltas, path)
        name = f"{loaded.model_id}+{path.parent.name or path.stem}"
        candidates.append(Candidate(name, with_deltas))
    for checkpoint in checkpoints:
        dtype = next(loaded.hf_model.parameters()).dtype  # as the base, on its device
        candidates.append(
            Candidate(checkpoint, load_model(checkpoint, device=loaded.device, dtype=dtype))
        )
    config = EvaluationConfig(protocol=protocol_for(source.source), judge=judge)
    return evaluate_models(candidates, data, config, show_progress=show_progress)


@contextmanager
def _weights_kept(model: LoadedModel) -> Generator[None]:
    """Puts the model's weights back as they were on leaving (a copy waits on the CPU)."""
    kept = {name: tensor.detach().to("cpu", copy=True)
            for name, tensor in model.hf_model.state_dict().items()}  # fmt: skip
    try:
        yield
    finally:
        with torch.no_grad():
            for name, tensor in model.hf_model.state_dict().items():
                tensor.copy_(kept[name])


def _loaded(model: LoadedModel | str) -> LoadedModel:
    return load_model(model) if isinstance(model, str) else model


def _spec(model: LoadedModel) -> ModelSpec:
    return ModelSpec(
        name=model.model_id, device_map=model.device_map, offload_dir=model.offload_dir
    )


def _questions(model: LoadedModel, questions: str | None, n: int, seed: int) -> QuestionSource:
    source = questions if questions is not None else question_set_for(model.model_id)
    return QuestionSource(source=source, n=n, seed=seed)


def _heads(heads: HeadsLike) -> Path | HeadList:
    return heads if isinstance(heads, HeadList) else heads_from_flag(str(heads))
