"""One call from a `TuneJob` to a tuned model on disk: SPT on per-head deltas, or SFT.

`tune_model` builds the Table 11 conversations from the training questions, picks what trains
(SPT: the ranking's top-k heads, or k random heads as the control, as `HeadDeltas`; SFT: every
parameter), and runs the shared loop (`sycolens.training.loop.train`: AdamW, warmup and cosine
to `min_learning_rate`, accumulation, clipping, autocast, checkpoints every N steps and an exact
resume), with the decoder layers' activations recomputed in the backward if asked, and the
model sharded over the processes of a launch with `fsdp` (`sycolens.training.fsdp`). SPT
trains through the plain SDPA copy of the HF network (`training_network`), with the deltas'
hooks on it, unless something else is hooked into the bridge or the model is sharded; its
gradients equal the bridge path's (tested). The loss of micro-batch (step, micro) is a pure
function of its position: the examples are shuffled per epoch by a generator seeded from
(seed, epoch).

Outputs in `job.out`:

    tune.json           the config, heads, training question ids, trainable count, the
                        network it trained through, the training log (loss per step),
                        seconds and samples/s
    deltas.safetensors  SPT: the per-head deltas (`sycolens.tuning.export`)
    model/              the tuned model as a plain HF checkpoint (SPT: deltas merged), with
                        `sycolens_tuning.json` naming its training questions
    checkpoint/         only while the run is unfinished: resume by running the same job again
"""

import functools
import json
import math
import random
import shutil
from collections.abc import Generator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import torch

import sycolens
from sycolens.data.selection import RecordedSelection, select_questions
from sycolens.data.sets import find_question_set
from sycolens.head_lists import HeadList, heads_record, read_heads
from sycolens.heads import Head
from sycolens.json_files import read_document, without_nan, write_json
from sycolens.models.deltas import TRAINING_RECORD
from sycolens.models.head_access import HeadLayout, HeadRole, split_qkv_module
from sycolens.models.load import LoadedModel, load_model_spec
from sycolens.models.placement import is_dispatched
from sycolens.models.plain import plain_network, runs_as_plain
from sycolens.models.record import ModelRecord
from sycolens.models.save import save_model
from sycolens.models.sources import ModelShape
from sycolens.patching.export import load_ranking_for
from sycolens.patching.scores import HeadScores
from sycolens.prompts.training_style import PAPER_STYLE
from sycolens.training.activation_checkpointing import checkpointed_layers
from sycolens.training.data_parallel import DataParallel
from sycolens.training.fsdp import FullySharded, unsharded_copy
from sycolens.training.launch import check_fsdp_launch
from sycolens.training.loop import LossOutput, TrainingResult, train
from sycolens.tuning.batches import TokenizedExample, collate, reply_loss, tokenize_example
from sycolens.tuning.config import (
    DISPATCHED_TUNING,
    GQA_ROLES,
    RUN_SCHEMA,
    TuneConfig,
    TuneJob,
    TuneMode,
    check_run_folder_free,
)
from sycolens.tuning.data import build_examples
from sycolens.tuning.export import save_head_deltas
from sycolens.tuning.head_deltas import HeadDeltas, delta_targets

SCHEMA = RUN_SCHEMA
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class TuneResult:
    """A finished run: what trained, how it went, and the run document (`tune.json`)."""

    heads: tuple[Head, ...]
    n_trainable: int
    training: TrainingResult
    document: dict[str, Any]
    wrote_outputs: bool = True  # False in the other processes of a data-parallel run

    schema: ClassVar[str] = SCHEMA
    version: ClassVar[int] = SCHEMA_VERSION

    @classmethod
    def read(cls, folder: str | Path) -> "TuneResult":
        """Returns the finished run in `folder` (`sycolens tune --out`), from its tune.json."""
        document = read_document(
            Path(folder) / "tune.json",
            schema=SCHEMA,
            versions=(SCHEMA_VERSION,),
            what="a sycolens tuning run's record",
            fix="pass the --out folder of a finished `sycolens tune` run.",
        )
        training = TrainingResult(
            steps=int(document["config"]["training"]["steps"]),
            seconds=float(document["seconds"]),
            history=tuple(document["history"]),
        )
        heads = tuple(Head(int(layer), int(head)) for layer, head in document["heads"])
        return cls(heads, int(document["n_trainable"]), training, document)

    @property
    def mode(self) -> TuneMode:
        return self.document["mode"]

    @property
    def model(self) -> ModelRecord:
        """Returns the model's record as training ended: SFT's tuned weights; for SPT the base
        weights, as the deltas are merged in only after it is written."""
        return ModelRecord.from_json(self.document["model"], "the tuning run")

    @property
    def questions(self) -> RecordedSelection:
        """Returns the questions it trained on (evaluation leaves them out)."""
        return RecordedSelection.from_json(self.document["questions"], "the tuning run")

    @property
    def samples_per_second(self) -> float | None:
        """Returns the training throughput (None when it could not be measured)."""
        return self.document["samples_per_second"]


def run_tuning(job: TuneJob, *, show_progress: bool = True) -> TuneResult:
    """Loads the model and tunes it (`tune_model`), data-parallel when a launcher started
    several processes (`accelerate launch -m sycolens.tune`: each on accelerate's device), and
    sharded over them with `fsdp` (loaded in host memory first with `fsdp_offload`)."""
    parallel = DataParallel.from_environment()
    if job.tune.fsdp:
        check_fsdp_launch(parallel.world_size, offload=job.tune.fsdp_offload)
    spec = job.model
    if job.tune.fsdp_offload:
        spec = replace(spec, device="cpu")  # the shards stay there
    elif parallel.device is not None:
        spec = replace(spec, device=str(parallel.device))
    model = load_model_spec(spec)
    return tune_model(model, job, show_progress=show_progress, parallel=parallel)


def tune_model(
    model: LoadedModel,
    job: TuneJob,
    *,
    show_progress: bool = True,
    parallel: DataParallel | None = None,
) -> TuneResult:
    """Tunes an already loaded model in place and writes the outputs (module doc); with
    `parallel`, this process's share of each batch (`sycolens.training.data_parallel`). With
    `fsdp` the model is sharded over the processes (`sycolens.training.fsdp`) and stays so:
    the outputs hold its tuned weights whole."""
    if is_dispatched(model.hf_model):
        raise ValueError(DISPATCHED_TUNING)
    config = job.tune
    parallel = parallel or DataParallel()
    parallel.check_batch(config.batch_size)
    check_run_folder_free(job.out)
    selection = select_questions(job.questions)
    found = find_question_set(job.questions.source)
    style = found.training_style if found else PAPER_STYLE
    examples = build_examples(selection.questions, style=style, seed=config.seed)
    if config.batch_size > len(examples):
        raise ValueError(
            f"--batch-size {config.batch_size} is more than the {len(examples)} training "
            f"conversations of {len(selection.questions)} questions: every batch would repeat "
            f"them. Fix: --batch-size {len(examples)} or less, or more questions (--n-questions)."
        )
    tokenized = [tokenize_example(model.chat, example) for example in examples]
    layout = HeadLayout.of(model.hf_model)
    heads, excluded = _chosen_heads(model, layout, job)
    roles = tuning_roles(layout, config.roles, config.train_shared_kv) if heads else ()
    record = ModelRecord.of(model)  # before any sharding
    deltas = None
    if heads:
        targets = delta_targets(layout, heads, roles)
        deltas = HeadDeltas(layout, targets, model.hf_model, lora=config.lora)
    identity = {
        "mode": config.mode,
        "heads": [list(head) for head in heads],
        "roles": list(roles),
        "question_ids": [q.id for q in selection.questions],
        "seed": config.seed,
        "head_seed": config.head_seed if config.heads == "random" else None,
        "excluded_heads": [list(head) for head in excluded],
        "batch_size": config.batch_size,
        "lora": asdict(config.lora) if config.lora else None,
        "base_fingerprint": record.weights_fingerprint,
    }
    if config.mode == "sft":
        _check_sft(model, layout)
    with _sharded(model, deltas, config, parallel) as sharding:
        n_trainable, result, network = _train(
            model, deltas, tokenized, job, identity, parallel, sharding, show_progress
        )
        # Sharded, the main process writes an unsharded copy (None in the others).
        written = unsharded_copy(model, parallel) if sharding is not None else model
        document = {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "sycolens_version": sycolens.__version__,
            "model": (ModelRecord.of(written) if written is not None else record).to_json(),
            **identity,
            "ranking": _origin(job.ranking),
            "heads_source": heads_record(job.ranking),
            "questions": selection.summary(),
            "config": _config_json(job),
            "n_trainable": n_trainable,
            "network": network,
            "n_examples": len(examples),
            "seconds": round(result.seconds, 2),
            "samples_per_second": _samples_per_second(result, config.batch_size, config.training),
            "history": list(result.history),
        }
        try:
            if written is not None and parallel.is_main:
                _write_outputs(written, deltas, document, job.out)
        finally:
            parallel.barrier()  # reached even if writing fails, so no process hangs
    return TuneResult(heads, n_trainable, result, document, wrote_outputs=parallel.is_main)


def _train(
    model: LoadedModel,
    deltas: HeadDeltas | None,
    tokenized: list[TokenizedExample],
    job: TuneJob,
    identity: dict[str, Any],
    parallel: DataParallel,
    sharding: FullySharded | None,
    show_progress: bool,
) -> tuple[int, TrainingResult, str]:
    """Trains the deltas (SPT) or every weight (SFT) through the shared loop; returns how many
    numbers trained, how the run went and which network it ran through ("plain": the SDPA
    copy; "bridge": the network TransformerBridge wired)."""
    config = job.tune
    device = sharding.device if sharding is not None else model.device
    network = training_network(model, deltas, sharding)
    with (
        _trainable(model, deltas) as parameters,
        _frozen(network if network is not model.hf_model else None),
        _training_forward(network, deltas, config.gradient_checkpointing, sharding) as calls,
    ):
        n_trainable = sum(p.numel() for p in parameters.values())
        if deltas is not None:  # the base is left out of DDP: frozen (and sharded by FSDP)
            forward = parallel.wrap(_DeltaTuned(network, deltas), frozen_prefix="hf_model.")
        else:  # FSDP averages a sharded model's gradients itself
            forward = model.hf_model if sharding is not None else parallel.wrap(model.hf_model)

        def loss_at(step: int, micro: int) -> LossOutput:
            rows = _rows(len(tokenized), config.batch_size, config.training.accumulation,
                         config.seed, step, micro)  # fmt: skip
            whole = collate([tokenized[i] for i in rows], model.pad_token_id)
            mine = whole.rows(parallel.shard(range(len(rows))))
            # This shard's share of the whole micro-batch's mean; DDP (or FSDP) averages the
            # processes' gradients, so each share is scaled by their number.
            share = reply_loss(forward, mine.to(device), n_tokens=whole.n_loss_tokens)
            loss = share * parallel.world_size
            if not all(calls.values()):
                unused = [name for name, n in calls.items() if not n]
                raise RuntimeError(f"Deltas on {unused} took no part in the forward: a bug.")
            metrics = {"loss": parallel.mean(float(loss.detach()))}
            return LossOutput(loss=loss, metrics=metrics, n_samples=len(rows))

        result = train(
            parameters,
            loss_at,
            config.training,
            job.out / "checkpoint",
            identity=identity,
            description=f"{config.mode} ({n_trainable:,} trainable)",
            show_progress=show_progress,
            parallel=parallel,
        )
    return n_trainable, result, "bridge" if network is model.hf_model else "plain"


def tuning_roles(
    layout: HeadLayout, roles: tuple[HeadRole, ...] | None, train_shared_kv: bool
) -> tuple[HeadRole, ...]:
    """Returns the roles to train: as asked, else all four (MHA) or W_Q and W_O (GQA).

    Key/value roles on a grouped-query model need `train_shared_kv`, since each key/value head
    feeds `group_size` query heads, selected or not.
    """
    if roles is None:
        return GQA_ROLES if layout.group_size > 1 else ("query", "key", "value", "output")
    shared = [role for role in roles if role in ("key", "value")]
    if shared and layout.group_size > 1 and not train_shared_kv:
        raise ValueError(
            f"--roles asks for {shared} on a grouped-query model: each key/value head feeds "
            f"{layout.group_size} query heads, so a key or value delta also changes heads that "
            "were not selected. Fix: train query and output only (the paper's rule), or pass "
            "--train-shared-kv to train them anyway."
        )
    return roles


def _chosen_heads(
    model: LoadedModel, layout: HeadLayout, job: TuneJob
) -> tuple[tuple[Head, ...], tuple[Head, ...]]:
    """Returns the heads SPT trains and the heads a random draw left out: the first k of the
    ranking or head list (none left out), or k random heads (outside those k when there is a
    ranking or list: the control shares no head with it); none for SFT."""
    config = job.tune
    if config.mode == "sft":
        return (), ()
    given = _given_heads(model, job)
    if config.heads == "random":
        every = [Head(layer, h) for layer in range(layout.n_layers) for h in range(layout.n_heads)]
        found: tuple[Head, ...] = ()
        if given is not None:
            found = tuple(sorted(_first_k(given, config.k)))
            every = [head for head in every if head not in found]
        if config.k > len(every):
            raise ValueError(
                f"--top-k {config.k} is more than the {len(every)} heads to draw from"
                + (" outside the given heads" if given is not None else "")
                + ". Fix: a smaller --top-k."
            )
        return tuple(sorted(random.Random(config.head_seed).sample(every, config.k))), found
    if given is None:
        raise ValueError(
            "SPT on the top heads needs heads. Fix: pass --heads heads.json (from `sycolens "
            "diagnose`), a {layer: [heads]} file or a list such as 3.3,2.0; or --random-heads "
            "for the random-heads control."
        )
    return tuple(_first_k(given, config.k)), ()


def _given_heads(model: LoadedModel, job: TuneJob) -> HeadList | HeadScores | None:
    """Returns the heads `job.ranking` names: a head list (checked against the model's shape),
    or a ranking's scores (checked against the model's weights)."""
    if job.ranking is None:
        return None
    heads = read_heads(job.ranking)
    if isinstance(heads, HeadList):
        heads.check_fits(model.model_id, ModelShape(model.n_layers, model.n_heads))
        return heads
    ranking = load_ranking_for(heads.path, model, allow_other_weights=job.allow_other_weights)
    return ranking.scores


def _origin(source: Path | HeadList | None) -> str | None:
    """Returns the --heads file, or the heads of a list as `L.H,L.H`."""
    if source is None:
        return None
    return source.text if isinstance(source, HeadList) else str(source)


def _first_k(heads: HeadList | HeadScores, k: int) -> list[Head]:
    """Returns the first k heads of a list, or a ranking's top k."""
    return list(heads.first(k)) if isinstance(heads, HeadList) else heads.top_k(k)


@contextmanager
def _trainable(
    model: LoadedModel, deltas: HeadDeltas | None
) -> Generator[dict[str, torch.nn.Parameter]]:
    """Yields what trains: the deltas with every weight of the wrapped model frozen (SPT; the
    bridge's own copies too, so no gradient is kept for them), or every weight (SFT); restores
    `requires_grad` afterwards."""
    weights = dict(model.hf_model.named_parameters())
    before = {name: p.requires_grad for name, p in weights.items()}
    for parameter in weights.values():
        parameter.requires_grad_(deltas is None)
    try:
        yield deltas.trainable() if deltas is not None else model.hf_parameters()
    finally:
        for name, parameter in weights.items():
            parameter.requires_grad_(before[name])


class _DeltaTuned(torch.nn.Module):
    """The model with its deltas as one module, so data-parallel wrapping (which syncs the
    gradients of a module's parameters) reaches the deltas; the hooks apply them."""

    def __init__(self, hf_model: Any, deltas: HeadDeltas) -> None:
        super().__init__()
        self.hf_model = hf_model
        self.deltas = deltas

    def forward(self, **inputs: Any) -> Any:
        return self.hf_model(**inputs)


@contextmanager
def _sharded(
    model: LoadedModel, deltas: HeadDeltas | None, config: TuneConfig, parallel: DataParallel
) -> Generator[FullySharded | None]:
    """Shards the model over the processes while open if asked (`fsdp`), with the deltas, whole,
    on the device the forward computes on; yields the sharding (None: not sharded)."""
    if not config.fsdp:
        yield None
        return
    autocast, offload = config.training.autocast, config.fsdp_offload
    with FullySharded.started(parallel, autocast=autocast, offload=offload) as sharding:
        sharding.shard(model)
        if deltas is not None:
            deltas.to(sharding.device)  # offloaded, the base (and so they) loaded on the host
        yield sharding


def training_network(
    model: LoadedModel, deltas: HeadDeltas | None, sharding: FullySharded | None
) -> Any:
    """Returns the network SPT trains through: the plain SDPA copy of the HF network, which
    shares the model's tensors (`sycolens.models.plain`), with the deltas' hooks on it, when
    nothing else is hooked into the bridge and the model is not sharded; else the HF network
    as TransformerBridge wired it (eager attention). SFT and FSDP keep the bridge's network."""
    if deltas is None or sharding is not None or not runs_as_plain(model):
        return model.hf_model
    return plain_network(model)


@contextmanager
def _frozen(network: Any | None) -> Generator[None]:
    """Keeps a plain copy's parameters (its own Parameter objects over the model's tensors)
    out of autograd while SPT trains through it, restoring them afterwards."""
    if network is None:
        yield
        return
    before = [(p, p.requires_grad) for p in network.parameters()]
    for parameter, _ in before:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, required in before:
            parameter.requires_grad_(required)


@contextmanager
def _training_forward(
    network: Any,
    deltas: HeadDeltas | None,
    gradient_checkpointing: bool,
    sharding: FullySharded | None,
) -> Generator[dict[str, int]]:
    """Keeps the deltas' hooks (SPT) and, if asked, layer checkpointing in place on `network`
    for the whole run: forward and backward, since a checkpointed backward runs the forward
    again. Yields the deltas' per-module call counts (empty for SFT)."""
    with ExitStack() as stack:
        calls = stack.enter_context(deltas.applied(network)) if deltas else {}
        if gradient_checkpointing:
            stack.enter_context(checkpointed_layers(network))
        if sharding is not None:
            stack.enter_context(sharding.quiet())
        yield calls


def _check_sft(model: LoadedModel, layout: HeadLayout) -> None:
    """Refuses SFT where `TransformerBridge` computes a fused QKV projection from split copies:
    the copies, not `c_attn`, would get the gradients, and Q/K/V would not train."""
    if split_qkv_module(model.hf_model, layout, 0, "query") is not None:
        raise ValueError(
            f"SFT of {model.model_id!r} is not supported: under TransformerBridge its fused "
            f"{layout.architecture.fused_qkv} is computed by split q/k/v copies, so full "
            "fine-tuning would leave Q, K and V untrained. Fix: use --mode spt (per-head deltas "
            "work on it), or a model without a fused QKV projection."
        )


def _rows(
    n_examples: int, batch_size: int, accumulation: int, seed: int, step: int, micro: int
) -> list[int]:
    """Returns the example indices of micro-batch (step, micro): consecutive slices of an order
    reshuffled every epoch by a generator seeded from (seed, epoch); a slice that crosses an
    epoch's end continues in the next epoch's order."""
    position = (step * accumulation + micro) * batch_size
    rows: list[int] = []
    for index in range(position, position + batch_size):
        epoch, offset = divmod(index, n_examples)
        rows.append(_epoch_order(n_examples, seed, epoch)[offset])
    return rows


@functools.cache
def _epoch_order(n_examples: int, seed: int, epoch: int) -> tuple[int, ...]:
    order = list(range(n_examples))
    random.Random(f"{seed}-{epoch}").shuffle(order)
    return tuple(order)


def _write_outputs(
    model: LoadedModel, deltas: HeadDeltas | None, document: dict[str, Any], out: Path
) -> None:
    """Writes the deltas (SPT), the tuned HF checkpoint and the run document; then drops the
    checkpoint folder, so a finished run is never resumed by accident."""
    out.mkdir(parents=True, exist_ok=True)
    if deltas is not None:
        save_head_deltas(out / "deltas.safetensors", deltas, model, document)
        deltas.merge_into(model.hf_model)
    model_dir = save_model(model, out / "model")
    record = {key: document[key] for key in ("mode", "heads", "question_ids", "base_fingerprint")}
    (model_dir / TRAINING_RECORD).write_text(json.dumps(record, indent=1))
    write_json(out / "tune.json", without_nan(document))  # samples/s, a loss: NaN -> null
    shutil.rmtree(out / "checkpoint", ignore_errors=True)


def _samples_per_second(result: TrainingResult, batch_size: int, training: Any) -> float:
    samples = result.steps * batch_size * training.accumulation
    return round(samples / result.seconds, 2) if result.seconds > 0 else math.nan


def _config_json(job: TuneJob) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(job.tune), default=str))
