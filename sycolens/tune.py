"""`python -m sycolens.tune`: pinpoint tuning (SPT) of the top-k heads, or full fine-tuning (SFT).

Example:
    sycolens tune --model smollm2-135m-instruct --heads heads.json --mode spt \
        --top-k 32 --steps 60 --out run/
    sycolens tune --model organism-mha --heads 1.2,2.0,3.3 --out run/   (hand-picked heads)

SPT trains only the per-head slices of W_Q, W_K, W_V and W_O of the top-k heads of --heads (a
ranking, a {layer: [heads]} file or an L.H,L.H list; a list trains all its heads) (W_Q and
W_O on grouped-query models; --train-shared-kv adds key/value), everything else frozen;
--random-heads trains k random heads instead (the control; given --heads too, heads outside the
ranking's top k, so the control shares none of the heads it is compared with); SFT trains every
parameter through the same loop and data. Training data: the paper's Table 11 conversations from
--questions (Table 12 phrasings). Defaults are sycolens' small-model preset; --paper-preset takes
Table 13 (SFT) or 14 (SPT) values for a family and size (e.g. llama-7b). An interrupted run resumes
when started again with the same flags. Outputs in --out: deltas.safetensors (SPT), model/ (a plain
HF checkpoint), tune.json (config, heads, training question ids, loss per step, samples/s). Evaluate
with `python -m sycolens.evaluate --deltas run/deltas.safetensors` (or `--tuned run/model`): the
training questions are left out automatically.

Shard the model over the processes of a launch (FSDP2) when it does not fit one GPU:
    accelerate launch --multi_gpu --num_processes 4 --num_machines 1 -m sycolens.tune \
        --model meta-llama/Llama-2-7b-chat-hf --mode sft --paper-preset llama-7b --fsdp \
        --autocast bf16 --gradient-checkpointing --out run/
--fsdp shards the weights (each decoder layer, then the rest), their gradients and AdamW state
over the N processes (torchrun works too; without GPUs the same command runs N CPU processes on
gloo); --autocast gathers them in its dtype. SPT shards the frozen base and keeps its small deltas
whole in every process. --fsdp-offload keeps the shards, gradients and AdamW state in host
memory, and may run as one process on one GPU. Checkpoints are sharded and resume under any
number of processes; the outputs are written whole, as an unsharded run writes them.

Merge delta sets made over one base (the paper's C.7), e.g. a sycophancy SPT with a math SPT:
    python -m sycolens.tune merge syco/deltas.safetensors math/deltas.safetensors \
        --out merged.safetensors [--weights 0.7,0.3] [--rule union|average]
`union` keeps every slice and averages the slices both sets train; `average` is the paper's
average of the delta parameters (a slice only one set trains is scaled by its weight).
"""

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sycolens._lazy import call_through_api
from sycolens.cli_args import (
    HEADS_HELP,
    NOTHING_KEPT,
    add_model_arguments,
    add_question_arguments,
    check_outputs_are_not_inputs,
    check_outputs_writable,
    door_prog,
    heads_from,
    model_spec_from,
    parse_config,
    question_source_from,
    reported_failures,
)
from sycolens.command_lines import (
    check_flagged,
    heads_argv,
    model_argv,
    option,
    questions_argv,
    switch,
)
from sycolens.data.selection import check_question_source
from sycolens.head_lists import HeadList, check_heads_fit
from sycolens.heads import HEAD_ROLES, HeadRole
from sycolens.models.sources import check_model_source, read_model_shape
from sycolens.training.config import AutocastDtype, TrainingConfig
from sycolens.training.launch import check_fsdp_launch, launched_processes
from sycolens.tuning.config import (
    MERGE_RULES,
    PRESET_NAMES,
    PRESETS,
    SMALL_MODEL_PRESETS,
    LowRank,
    MergeRule,
    Preset,
    TuneConfig,
    TuneJob,
    TuneMode,
    check_run_folder_free,
)
from sycolens.tuning.merge_check import DeltaHeader, check_mergeable

MERGE = "merge"
_DOOR = "python -m sycolens.tune"
DEFAULT_TRAINING_QUESTIONS = 64
DEFAULT_CHECKPOINT_EVERY = 20
_AUTOCAST_DTYPES: dict[str | None, AutocastDtype] = {"bf16": "bfloat16", "fp16": "float16"}
_AUTOCAST_FLAGS: dict[AutocastDtype | None, str | None] = {
    None: None,
    **{dtype: flag for flag, dtype in _AUTOCAST_DTYPES.items()},
}
_Value = TypeVar("_Value", int, float)


if TYPE_CHECKING:
    from sycolens.tuning.run import TuneResult


@dataclass(frozen=True, kw_only=True)
class TuneCliConfig:
    """One `python -m sycolens.tune` run: the tuning job (its outputs go to `job.out`) and the
    --paper-preset its steps, learning rate, batch size and k were taken from (None: the
    small-model preset), so its command line names the preset and only what differs from it."""

    job: TuneJob
    paper_preset: str | None = None


@dataclass(frozen=True, kw_only=True)
class MergeCliConfig:
    """One `python -m sycolens.tune merge` run: the deltas files, the rule, the output."""

    deltas: tuple[Path, ...]
    out: Path
    rule: MergeRule = "union"
    weights: tuple[float, ...] | None = None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog=door_prog(_DOOR),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(parser)
    parser.add_argument("--mode", choices=("spt", "sft"), default="spt")
    parser.add_argument("--heads", help=HEADS_HELP)
    parser.add_argument("--random-heads", type=int, nargs="?", const=0, metavar="SEED",
                        help="SPT on k random heads drawn with SEED (default 0); with --heads, "
                        "drawn from outside the top k of --heads")  # fmt: skip
    parser.add_argument("--top-k", "--k", dest="top_k", type=int,
                        help="heads to tune: the first k of --heads (default: every head of a "
                        "list; the preset's k of a ranking)")  # fmt: skip
    parser.add_argument("--roles", help=f"comma-separated subset of {','.join(HEAD_ROLES)}")
    parser.add_argument("--train-shared-kv", action="store_true",
                        help="allow key/value slices on grouped-query models")  # fmt: skip
    parser.add_argument("--allow-other-weights", action="store_true",
                        help="tune heads ranked on other weights of this shape")  # fmt: skip
    add_question_arguments(parser, default_count=DEFAULT_TRAINING_QUESTIONS)
    parser.add_argument("--paper-preset", choices=PRESET_NAMES,
                        help="Table 13/14 values (default: small-model preset)")  # fmt: skip
    parser.add_argument("--steps", type=int, help="optimiser steps (default: the preset's)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the preset's)")
    parser.add_argument("--min-lr", type=float, default=0.0)
    parser.add_argument("--warmup", type=int, default=0, help="warmup steps")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, help="micro-batch (default: the preset's)")
    parser.add_argument("--accumulation", type=int, default=1)
    parser.add_argument("--checkpoint-every", type=int, default=DEFAULT_CHECKPOINT_EVERY)
    parser.add_argument("--autocast", choices=("bf16", "fp16"),
                        help="forward in bfloat16 or float16 (for GPUs; float16 scales the "
                        "loss; the trained weights keep their dtype)")  # fmt: skip
    parser.add_argument("--lora-rank", type=int,
                        help="SPT + LoRA: rank of each head slice's update")  # fmt: skip
    parser.add_argument("--lora-alpha", type=float, help="LoRA scale numerator (default: rank)")
    parser.add_argument("--gradient-checkpointing", action="store_true",
                        help="recompute activations in the backward: less memory")  # fmt: skip
    parser.add_argument("--fsdp", action="store_true",
                        help="shard the model over the launched processes (FSDP2): each holds "
                        "1/N of the weights, gradients and AdamW state")  # fmt: skip
    parser.add_argument("--fsdp-offload", action="store_true",
                        help="with --fsdp: keep the shards, gradients and AdamW state in host "
                        "memory (one GPU may run alone)")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    return parser


def preset_named(mode: TuneMode, name: str | None) -> Preset:
    """Returns the Table 13 (SFT) or 14 (SPT) row of `name` (e.g. llama-7b), or the small-model
    preset when None."""
    if name is None:
        return SMALL_MODEL_PRESETS[mode]
    family, size = name.rsplit("-", 1)
    found = PRESETS.get((mode, family, int(size.removesuffix("b"))))
    if found is None:
        raise ValueError(
            f"Tables 13/14 have no {mode.upper()} row for {name}. Fix --paper-preset: pick a "
            "family and size the paper tuned."
        )
    return found


def _roles(text: str | None) -> tuple[HeadRole, ...] | None:
    if text is None:
        return None
    roles = tuple(role.strip() for role in text.split(",") if role.strip())
    chosen: list[HeadRole] = [role for role in HEAD_ROLES if role in roles]
    if len(chosen) != len(roles):
        raise ValueError(f"--roles {text!r}: each must be one of {HEAD_ROLES}. Fix --roles.")
    return tuple(chosen)


def _lora(args: argparse.Namespace) -> LowRank | None:
    if args.lora_rank is None:
        if args.lora_alpha is not None:
            raise ValueError("--lora-alpha needs --lora-rank.")
        return None
    return LowRank(rank=args.lora_rank, alpha=args.lora_alpha, seed=args.seed)


def _given(value: _Value | None, preset: _Value) -> _Value:
    """Returns the flag's value if it was given, else the preset's."""
    return preset if value is None else value


def _config_from(args: argparse.Namespace) -> TuneCliConfig:
    mode: TuneMode = args.mode
    preset = preset_named(mode, args.paper_preset)
    check_model_source(args.model)
    check_outputs_writable({"--out": args.out}, folders=("--out",))
    check_run_folder_free(args.out)
    is_random = args.random_heads is not None
    if mode == "sft" and (args.heads or is_random or args.top_k is not None):
        raise ValueError(
            "SFT trains every parameter: --heads, --random-heads and --top-k are SPT's."
        )
    if mode == "spt" and not is_random and args.heads is None:
        raise ValueError(
            "SPT needs --heads: a ranking (from `sycolens diagnose --out`), a {layer: [heads]} "
            "file or a list such as 3.3,2.0; or --random-heads for the random-heads control."
        )
    heads = heads_from(args)
    if heads is not None:
        given = check_heads_fit(heads, args.model, read_model_shape(args.model))
        if isinstance(given, HeadList):
            preset = replace(preset, k=len(given.first(_given(args.top_k, len(given.heads)))))
    training = TrainingConfig(
        steps=_given(args.steps, preset.steps),
        learning_rate=_given(args.lr, preset.learning_rate),
        min_learning_rate=args.min_lr,
        warmup_steps=args.warmup,
        weight_decay=args.weight_decay,
        accumulation=args.accumulation,
        checkpoint_every=args.checkpoint_every,
        autocast=_AUTOCAST_DTYPES.get(args.autocast),
    )
    tune = TuneConfig(
        mode=mode,
        k=_given(args.top_k, preset.k),
        heads="random" if is_random else "top",
        roles=_roles(args.roles),
        train_shared_kv=args.train_shared_kv,
        training=training,
        batch_size=_given(args.batch_size, preset.batch_size),
        seed=args.seed,
        head_seed=args.random_heads or 0,
        gradient_checkpointing=args.gradient_checkpointing,
        lora=_lora(args),
        fsdp=args.fsdp,
        fsdp_offload=args.fsdp_offload,
    )
    if tune.fsdp:
        check_fsdp_launch(launched_processes(), offload=tune.fsdp_offload)
    if mode == "spt" and args.top_k is not None:
        n_heads = read_model_shape(args.model).n_total_heads
        if tune.k > n_heads:
            raise ValueError(
                f"--top-k {tune.k} asks for more heads than {args.model} has ({n_heads}). "
                f"Fix: --top-k {n_heads} or fewer."
            )
    questions = question_source_from(args)
    check_question_source(questions.source)
    job = TuneJob(
        model=model_spec_from(args),
        ranking=heads,
        questions=questions,
        tune=tune,
        out=args.out,
        allow_other_weights=args.allow_other_weights,
    )
    return TuneCliConfig(job=job, paper_preset=args.paper_preset)


def command_line(config: TuneCliConfig) -> list[str]:
    """Returns the argv (without the program) that `parse_args` reads back to `config`: the
    preset's name, then each of steps, lr, batch size that differs from it; SPT's k always."""
    job, tune = config.job, config.job.tune
    training, preset = tune.training, preset_named(tune.mode, config.paper_preset)
    _check_tune_flagged(config)
    roles = None if tune.roles is None else ",".join(tune.roles)
    lora = tune.lora
    return [
        *model_argv(job.model),
        *option("--mode", tune.mode, "spt"),
        *([] if job.ranking is None else heads_argv(_DOOR, job.ranking)),
        *(["--random-heads", *_nonzero(tune.head_seed)] if tune.heads == "random" else []),
        *(["--top-k", str(tune.k)] if tune.mode == "spt" else []),
        *option("--roles", roles),
        *switch("--train-shared-kv", tune.train_shared_kv),
        *switch("--allow-other-weights", job.allow_other_weights),
        *questions_argv(_DOOR, job.questions, default_count=DEFAULT_TRAINING_QUESTIONS),
        *option("--paper-preset", config.paper_preset),
        *option("--steps", training.steps, preset.steps),
        *option("--lr", training.learning_rate, preset.learning_rate),
        *option("--min-lr", training.min_learning_rate, 0.0),
        *option("--warmup", training.warmup_steps, 0),
        *option("--weight-decay", training.weight_decay, 0.0),
        *option("--batch-size", tune.batch_size, preset.batch_size),
        *option("--accumulation", training.accumulation, 1),
        *option("--checkpoint-every", training.checkpoint_every, DEFAULT_CHECKPOINT_EVERY),
        *option("--autocast", _AUTOCAST_FLAGS[training.autocast]),
        *option("--lora-rank", None if lora is None else lora.rank),
        *option("--lora-alpha", None if lora is None else lora.alpha),
        *switch("--gradient-checkpointing", tune.gradient_checkpointing),
        *switch("--fsdp", tune.fsdp),
        *switch("--fsdp-offload", tune.fsdp_offload),
        "--out", str(job.out),
    ]  # fmt: skip


def _nonzero(seed: int) -> list[str]:
    """Returns --random-heads' optional SEED: nothing for 0 (its value when given bare)."""
    return [str(seed)] if seed else []


def _check_tune_flagged(config: TuneCliConfig) -> None:
    """Raises when a field of `config` holds a value no tune flag gives."""
    tune = config.job.tune
    reference = TrainingConfig(steps=1, learning_rate=1.0)
    for field in ("betas", "max_grad_norm"):
        check_flagged(_DOOR, field, getattr(tune.training, field), getattr(reference, field))
    if tune.heads == "top":
        check_flagged(_DOOR, "head_seed (without random heads)", tune.head_seed, 0)
    if tune.mode == "sft":
        check_flagged(_DOOR, "k (of SFT)", tune.k, preset_named("sft", config.paper_preset).k)
    if tune.lora is not None:
        check_flagged(
            _DOOR, "lora.seed (--seed sets it)", tune.lora.seed, config.job.questions.seed
        )
    if tune.roles is not None:
        ordered = tuple(role for role in HEAD_ROLES if role in tune.roles)
        check_flagged(
            _DOOR, "roles' order (--roles keeps W_Q, W_K, W_V, W_O's)", tune.roles, ordered
        )


def build_merge_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog=door_prog(f"python -m sycolens.tune {MERGE}"),
        description="Merge deltas files made over one base model (the paper's C.7).",
    )
    parser.add_argument("deltas", type=Path, nargs="+", help="deltas files (two or more)")
    parser.add_argument("--out", type=Path, required=True, help="merged deltas file to write")
    parser.add_argument("--rule", choices=MERGE_RULES, default="union",
                        help="union: keep every slice, average shared ones; average: the "
                        "paper's average of all deltas")  # fmt: skip
    parser.add_argument("--weights", help="comma-separated weight per file (default: equal)")
    return parser


def _merge_config_from(args: argparse.Namespace) -> MergeCliConfig:
    if args.out.exists():
        raise FileExistsError(f"{args.out} exists. Fix: pass another --out, or delete it.")
    check_outputs_are_not_inputs({"--out": args.out}, {})
    check_outputs_writable({"--out": args.out})
    weights = None
    if args.weights is not None:
        try:
            weights = tuple(float(part) for part in args.weights.split(","))
        except ValueError:
            raise ValueError(
                f"--weights {args.weights!r} is not a comma-separated list of numbers."
            ) from None
    headers = [DeltaHeader.read(path) for path in args.deltas]
    check_mergeable(headers, weights=list(weights) if weights else None, rule=args.rule)
    return MergeCliConfig(deltas=tuple(args.deltas), out=args.out, rule=args.rule, weights=weights)


def parse_merge_args(argv: Sequence[str]) -> MergeCliConfig:
    """Returns the checked config of `merge`, from the flags after the word `merge`."""
    return parse_config(build_merge_parser(), argv, _merge_config_from)


def parse_args(argv: Sequence[str] | None = None) -> TuneCliConfig:
    """Returns the checked config named by command-line flags (nothing heavy is loaded)."""
    return parse_config(build_parser(), argv, _config_from)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [MERGE]:
        merge = parse_merge_args(argv[1:])
        with reported_failures(door_prog(f"python -m sycolens.tune {MERGE}"), NOTHING_KEPT):
            _merge(merge)
        return
    config = parse_args(argv)
    kept = (
        f"The last checkpoint in {config.job.out} is kept (one every "
        f"{config.job.tune.training.checkpoint_every} steps): run the same command again to "
        "resume from it."
    )
    with reported_failures(door_prog(_DOOR), kept):
        run(config)


def run(config: TuneCliConfig) -> "TuneResult":
    """Tunes, writes the run folder and prints the summary; returns the result."""
    from sycolens.tuning.run import run_tuning

    result = run_tuning(config.job)
    if not result.wrote_outputs:
        return result  # another process of a data-parallel run reports
    heads = ", ".join(f"({layer},{head})" for layer, head in result.heads) or "all parameters"
    print(f"{result.mode.upper()} on {heads}: {result.n_trainable:,} trainable parameters")
    history = result.training.history
    print(
        f"loss {history[0]['loss']:.4f} -> {history[-1]['loss']:.4f} over {len(history)} steps "
        f"in this session; {result.training.seconds:.0f} s, {result.samples_per_second} "
        f"samples/s; trained on {result.questions.n_used} questions"
    )
    print(f"wrote {config.job.out}")
    return result


def _merge(config: MergeCliConfig) -> None:
    from sycolens.tuning.merge import merge_delta_files

    weights = list(config.weights) if config.weights is not None else None
    metadata = merge_delta_files(list(config.deltas), config.out, weights=weights, rule=config.rule)
    heads = json.loads(metadata["heads"])
    questions = json.loads(metadata["training_questions"])
    print(
        f"merged {len(config.deltas)} deltas files ({config.rule}) over "
        f"{metadata['base_model']}: {len(heads)} heads, {len(questions)} training questions "
        "left out of its evaluation"
    )
    print(f"wrote {config.out}")


# `sycolens.tune(model, ...)` is the notebook call (`sycolens.api.tune`).
call_through_api(__name__)


if __name__ == "__main__":
    main()
