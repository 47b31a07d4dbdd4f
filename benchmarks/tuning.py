"""SPT against its floor and full fine-tuning at the same batch: samples/s and peak memory.

Each contender runs in its own fresh process (so each peak memory is its own), one micro-batch
of B x T tokens per step, loss on every token, AdamW through the training loop
(`sycolens.training.loop.train`):

    spt               sycolens SPT: K heads' slices as deltas, trained through the plain SDPA
                      network that shares the model's weights (what `sycolens tune` runs)
    spt-bridge        the same deltas through the network TransformerBridge wired (eager
                      attention): what SPT ran through before, and does when hooks are in
    floor             no training at all: the frozen plain network's forward and its backward
                      down to the lowest tuned layer, no weight gradient, no optimizer (SPT's
                      cost with its deltas free: the fastest SPT could be)
    sft               sycolens SFT: every parameter of the hooked model
    sft-hf            every parameter of the plain HF model (SDPA, no bridge): what a user
                      would otherwise fine-tune
    sft-fsdp-offload  sycolens SFT sharded by FSDP2 with CPU offload (`tune --fsdp
                      --fsdp-offload`): parameters, gradients and AdamW state in host memory,
                      each layer brought to the device for its forward and backward; in a
                      process group of one process (gloo on a CPU, NCCL on a GPU)

and SPT against each is printed as ratios, `spt vs sft-hf: 2.3x samples/s, 0.55x peak memory`,
with the goals of issue #28 beside the ratios they concern. The first `--warmup` steps are not
timed; `--rounds R` runs every contender R times, round-robin, and keeps each one's fastest run
(on a machine shared with other jobs, load that comes and goes slows runs unevenly). On this
CPU, on SmolLM2 (the default):

    python benchmarks/tuning.py

On a GPU, on random-weight Llama shapes (1b = 1B GQA, 7b / 13b = Llama-2 MHA), bf16, T=256:

    python benchmarks/tuning.py --shape 7b --device cuda --dtype bfloat16 --batch 8 --seq 256

Timings synchronize the GPU at every step; on a GPU the peak is CUDA memory allocated, and the
host's resident peak is printed beside it (FSDP's offload lives there). A contender that runs
out of memory is reported as such (13B SFT with AdamW on one 80 GB GPU). `--contenders` picks
some; `--gradient-checkpointing` recomputes each layer in the backward for every contender.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from sycolens.heads import Head
from sycolens.models.head_access import HeadLayout
from sycolens.models.load import DTYPES, LoadedModel, load_model, wrap_hf_model
from sycolens.models.plain import plain_network
from sycolens.models.sources import resolve_checkpoint
from sycolens.models.tiny import build_tiny_tokenizer
from sycolens.training.activation_checkpointing import checkpointed_layers
from sycolens.training.config import TrainingConfig
from sycolens.training.data_parallel import DataParallel
from sycolens.training.fsdp import FullySharded
from sycolens.training.loop import LossOutput, train
from sycolens.tuning.batches import TrainingBatch, reply_loss
from sycolens.tuning.head_deltas import HeadDeltas, delta_targets
from sycolens.tuning.run import tuning_roles

CONTENDERS = ("spt", "spt-bridge", "floor", "sft", "sft-hf", "sft-fsdp-offload")
# Issue #28's goals (7B bf16, B=8, T=256, one GPU): SPT's samples/s over each contender's.
GOALS = {
    "sft-hf": "goal >= 1.8x",
    "floor": "goal >= 0.87x: within 1.15x of the floor",
    "sft-fsdp-offload": "goal >= 3.5x",
}


@dataclass(frozen=True)
class LlamaShape:
    d_model: int
    d_mlp: int
    n_layers: int
    n_heads: int
    n_kv_heads: int


SHAPES = {  # Llama-3.2-1B-like GQA; Llama-2 7B and 13B (MHA)
    "1b": LlamaShape(d_model=2048, d_mlp=8192, n_layers=16, n_heads=32, n_kv_heads=8),
    "7b": LlamaShape(d_model=4096, d_mlp=11008, n_layers=32, n_heads=32, n_kv_heads=32),
    "13b": LlamaShape(d_model=5120, d_mlp=13824, n_layers=40, n_heads=40, n_kv_heads=40),
}
PAPER_K = {"1b": 32, "7b": 32, "13b": 64}  # Table 14's K for 7B and 13B


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="SPT vs its floor and full fine-tuning.")
    parser.add_argument("--model", default="smollm2-135m-instruct", help="a model sycolens loads")
    parser.add_argument("--shape", choices=sorted(SHAPES), help="random-weight Llama instead")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    parser.add_argument("--k", type=int, help="SPT heads (default: 16, or Table 14's K)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=4, help="timed steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed first steps")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every contender this many times, round-robin, and keep "
                        "each one's fastest run (a busy machine slows runs unevenly)")  # fmt: skip
    parser.add_argument(
        "--contenders", default=",".join(CONTENDERS), help="comma-separated, spt first"
    )
    parser.add_argument("--gradient-checkpointing", action="store_true",
                        help="recompute each layer in the backward (all contenders)")  # fmt: skip
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = build_parser().parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: torch {torch.__version__} sees no CUDA GPU.")
    if args.worker is not None:
        print(json.dumps(run_worker(args)))
        return
    names = [name.strip() for name in args.contenders.split(",")]
    unknown = sorted(set(names) - set(CONTENDERS))
    if unknown or names[0] != "spt":
        raise SystemExit(f"--contenders: start with spt, then any of {', '.join(CONTENDERS)}.")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            runs[name].append(run_in_fresh_process(name))
    results = {name: fastest(found) for name, found in runs.items()}
    what = args.shape and f"random Llama {args.shape}" or args.model
    recompute = ", layers checkpointed" if args.gradient_checkpointing else ""
    rounds = f", fastest of {args.rounds} rounds" if args.rounds > 1 else ""
    print(f"{what}, {args.device} {args.dtype}, batch {args.batch} x {args.seq} tokens, "
          f"{args.steps} timed steps after {args.warmup}{recompute}{rounds}")  # fmt: skip
    for name, result in results.items():
        print(f"  {name:17s} {_line(result)}")
    spt = results["spt"]
    for baseline in names[1:]:
        other = results[baseline]
        if "error" in spt or "error" in other:
            print(f"spt vs {baseline}: not comparable ({spt.get('error') or other.get('error')})")
            continue
        speed = spt["samples_per_second"] / other["samples_per_second"]
        memory = spt["peak_gib"] / other["peak_gib"]
        goal = f"   ({GOALS[baseline]} at 7B on a GPU)" if baseline in GOALS else ""
        print(f"spt vs {baseline}: {speed:.2f}x samples/s, {memory:.2f}x peak memory{goal}")


def _line(result: dict[str, Any]) -> str:
    if "error" in result:
        return str(result["error"])
    host = f" (host {result['host_peak_gib']:.2f} GiB)" if result["is_cuda"] else ""
    speed, peak = result["samples_per_second"], result["peak_gib"]
    return f"{speed:8.2f} samples/s   peak memory {peak:6.2f} GiB{host}   " + (
        f"trainable {result['n_trainable']:,}"
    )


def fastest(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Returns the run with the most samples/s (an error only if every run failed)."""
    done = [run for run in runs if "error" not in run]
    return max(done, key=lambda run: run["samples_per_second"]) if done else runs[0]


def run_in_fresh_process(name: str) -> dict[str, Any]:
    """Runs this script as `--worker name` with the same flags; returns its JSON line."""
    argv = [sys.executable, __file__, *sys.argv[1:], "--worker", name]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": "out of memory" if "out of memory" in done.stderr.lower() else last}
    return json.loads(done.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class Contender:
    """What one contender trains: the network its loss runs through, the tensors AdamW steps
    (none: the floor, which only runs forward and backward), and the device of its batch."""

    network: Any
    trainable: dict[str, torch.nn.Parameter]
    device: str


def run_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Trains one contender for warmup + steps steps; returns samples/s, peak memory, size."""
    torch.manual_seed(0)
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        contender = prepare(args.worker, args, stack)
        generator = torch.Generator().manual_seed(0)
        vocab = contender.network.config.vocab_size
        tokens = torch.randint(10, vocab, (args.batch, args.seq), generator=generator)
        batch = TrainingBatch(tokens, torch.ones_like(tokens, dtype=torch.bool), tokens.clone())
        batch = batch.to(contender.device)
        is_cuda = contender.device.startswith("cuda")

        def on_step(_step: int) -> None:
            if is_cuda:
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())

        if args.gradient_checkpointing:
            stack.enter_context(checkpointed_layers(contender.network))
        peak = stack.enter_context(TrainingPeak(is_cuda))
        started = time.perf_counter()
        if contender.trainable:
            _train(contender, batch, args, Path(folder), on_step)
        else:
            for step in range(args.warmup + args.steps):
                reply_loss(contender.network, batch).backward()
                on_step(step)
    timed = stamps[-1] - (stamps[args.warmup - 1] if args.warmup else started)
    return {
        "samples_per_second": args.steps * args.batch / timed,
        "peak_gib": peak.gib,
        "host_peak_gib": peak.host_gib,
        "is_cuda": is_cuda,
        "n_trainable": sum(p.numel() for p in contender.trainable.values()),
    }


def _train(
    contender: Contender,
    batch: TrainingBatch,
    args: argparse.Namespace,
    folder: Path,
    on_step: Callable[[int], None],
) -> None:
    def loss_at(_step: int, _micro: int) -> LossOutput:
        loss = reply_loss(contender.network, batch)
        return LossOutput(loss, {"loss": float(loss.detach())}, args.batch)

    config = TrainingConfig(steps=args.warmup + args.steps, learning_rate=1e-5,
                            checkpoint_every=10**9)  # fmt: skip
    train(contender.trainable, loss_at, config, folder, identity={}, show_progress=False,
          on_step=on_step)  # fmt: skip


def prepare(name: str, args: argparse.Namespace, stack: ExitStack) -> Contender:
    """Loads the model and sets up contender `name`'s training; its hooks, process group and
    sharding stay in place while `stack` is open."""
    if name == "sft-hf":
        network = build_plain_hf(args)
        return Contender(network, dict(network.named_parameters()), args.device)
    if name == "sft-fsdp-offload":
        model = build_model(args, device="cpu")  # the shards stay in host memory
        sharding = stack.enter_context(
            FullySharded.started(DataParallel(), autocast=None, offload=True)
        )
        sharding.shard(model)
        stack.enter_context(sharding.quiet())
        return Contender(model.hf_model, model.hf_parameters(), str(sharding.device))
    model = build_model(args, device=args.device)
    if name == "sft":
        return Contender(model.hf_model, dict(model.hf_model.named_parameters()), args.device)
    for parameter in model.hf_model.parameters():
        parameter.requires_grad_(False)
    layout = HeadLayout.of(model.hf_model)
    heads = spt_heads(layout, args)
    network: Any = model.hf_model if name == "spt-bridge" else plain_network(model)
    for parameter in network.parameters():  # the plain copy's own Parameter objects
        parameter.requires_grad_(False)
    if name == "floor":
        stack.callback(_gradients_from(network, min(head.layer for head in heads)).remove)
        return Contender(network, {}, args.device)
    roles = tuning_roles(layout, None, train_shared_kv=False)
    deltas = HeadDeltas(layout, delta_targets(layout, heads, roles), model.hf_model)
    stack.enter_context(deltas.applied(network))
    return Contender(network, deltas.trainable(), args.device)


def spt_heads(layout: HeadLayout, args: argparse.Namespace) -> list[Head]:
    """The K heads SPT tunes: a fixed random sample (the same in every contender)."""
    k = args.k or (PAPER_K[args.shape] if args.shape else 16)
    every = [Head(layer, h) for layer in range(layout.n_layers) for h in range(layout.n_heads)]
    return sorted(random.Random(0).sample(every, k))


def _gradients_from(network: Any, layer: int) -> Any:
    """Makes the hidden states entering decoder layer `layer` require a gradient, so the
    backward of the frozen network runs from the loss down to that layer and no further."""
    layers = network.get_submodule(HeadLayout.of(network).architecture.layers_path)

    def start_graph(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if args:
            return (args[0].detach().requires_grad_(), *args[1:]), kwargs
        hidden = kwargs["hidden_states"].detach().requires_grad_()
        return args, {**kwargs, "hidden_states": hidden}

    return layers[layer].register_forward_pre_hook(start_graph, with_kwargs=True)


def build_plain_hf(args: argparse.Namespace) -> Any:
    """The plain HF model (SDPA attention, no bridge), on the device, in the dtype."""
    if args.shape is None:
        checkpoint = resolve_checkpoint(args.model)
        hf_model: Any = AutoModelForCausalLM.from_pretrained(
            checkpoint, dtype=DTYPES[args.dtype], attn_implementation="sdpa"
        )
        return hf_model.to(args.device).eval()
    hf_model = _random_llama(args, args.device)
    hf_model.set_attn_implementation("sdpa")
    return hf_model


def build_model(args: argparse.Namespace, *, device: str) -> LoadedModel:
    """The model as sycolens loads it (the HF model wrapped in the bridge), on `device`."""
    dtype = DTYPES[args.dtype]
    if args.shape is None:
        return load_model(args.model, device=device, dtype=dtype)
    hf_model = _random_llama(args, device)
    # Saved and reloaded: TransformerBridge reads the tokenizer's `name_or_path`.
    folder = tempfile.mkdtemp(prefix="sycolens-bench-")
    build_tiny_tokenizer().save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    name = f"random-llama-{args.shape}"
    return wrap_hf_model(hf_model, tokenizer, model_id=name, checkpoint=name, device=device,
                         dtype=dtype)  # fmt: skip


def _random_llama(args: argparse.Namespace, device: str) -> Any:
    """A random-weight Llama of `--shape`, built on `device` in its dtype (no fp32 copy)."""
    shape = SHAPES[args.shape]
    config = LlamaConfig(vocab_size=32000, max_position_embeddings=4096,
                         hidden_size=shape.d_model, intermediate_size=shape.d_mlp,
                         num_hidden_layers=shape.n_layers, num_attention_heads=shape.n_heads,
                         num_key_value_heads=shape.n_kv_heads)  # fmt: skip
    default = torch.get_default_dtype()
    torch.set_default_dtype(DTYPES[args.dtype])
    try:
        with torch.device(device):
            return LlamaForCausalLM(config).eval()
    finally:
        torch.set_default_dtype(default)


class TrainingPeak:
    """Peak memory while the block runs: CUDA memory allocated (peak statistics reset at the
    start) on a GPU, and the process's resident memory sampled every 10 ms (the peak on a CPU;
    the host's beside a GPU's). Both include the weights already loaded, as a user's run would;
    neither includes loading them."""

    def __init__(self, is_cuda: bool) -> None:
        self.is_cuda = is_cuda
        self.cuda_bytes = 0
        self.host_bytes = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "TrainingPeak":
        if self.is_cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self._sampler.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.is_cuda:
            torch.cuda.synchronize()
            self.cuda_bytes = torch.cuda.max_memory_allocated()
        self._stop.set()
        self._sampler.join()

    @property
    def gib(self) -> float:
        return (self.cuda_bytes if self.is_cuda else self.host_bytes) / 2**30

    @property
    def host_gib(self) -> float:
        return self.host_bytes / 2**30

    def _sample(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        statm = Path("/proc/self/statm")
        while not self._stop.wait(0.01):
            resident = int(statm.read_text().split()[1]) * page
            self.host_bytes = max(self.host_bytes, resident)


if __name__ == "__main__":
    main()
