"""SPT against full fine-tuning at the same batch: samples/s and peak memory, side by side.

Each contender runs in its own fresh process (so each peak memory is its own) through the same
training loop (`sycolens.training.loop.train`, AdamW, one micro-batch of B x T tokens per step,
loss on every token):

    spt       sycolens SPT: K heads' slices as deltas on the hooked model (W_Q, W_O under GQA)
    sft       sycolens SFT: every parameter of the same hooked model
    sft-hf    every parameter of the plain HF model (SDPA attention, no bridge): what a user
              would otherwise fine-tune

and the ratios are printed as `spt vs sft: 2.3x samples/s, 0.55x peak memory`. The first
`--warmup` steps are not timed. On this CPU, on SmolLM2 (the default):

    python benchmarks/tuning.py

On a GPU, on random-weight Llama shapes (1b = 1B GQA, 7b / 13b = Llama-2 MHA), bf16, T=256:

    python benchmarks/tuning.py --shape 7b --device cuda --dtype bfloat16 --batch 8 --seq 256

A contender that runs out of memory is reported as such (13B SFT with AdamW on one 80 GB GPU).
`--gradient-checkpointing` recomputes each layer in the backward for every contender.
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
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from sycolens.heads import Head
from sycolens.models.head_access import HeadLayout
from sycolens.models.load import DTYPES, load_model, wrap_hf_model
from sycolens.models.sources import resolve_checkpoint
from sycolens.models.tiny import build_tiny_tokenizer
from sycolens.training.activation_checkpointing import checkpointed_layers
from sycolens.training.config import TrainingConfig
from sycolens.training.loop import LossOutput, train
from sycolens.tuning.batches import TrainingBatch, reply_loss
from sycolens.tuning.head_deltas import HeadDeltas, delta_targets
from sycolens.tuning.run import tuning_roles

CONTENDERS = ("spt", "sft", "sft-hf")


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
    parser = argparse.ArgumentParser(description="SPT vs full fine-tuning: samples/s, memory.")
    parser.add_argument("--model", default="smollm2-135m-instruct", help="a model sycolens loads")
    parser.add_argument("--shape", choices=sorted(SHAPES), help="random-weight Llama instead")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    parser.add_argument("--k", type=int, help="SPT heads (default: 16, or Table 14's K)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=4, help="timed steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed first steps")
    parser.add_argument("--gradient-checkpointing", action="store_true",
                        help="recompute each layer in the backward (all contenders)")  # fmt: skip
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = build_parser().parse_args()
    if args.worker is not None:
        print(json.dumps(run_worker(args)))
        return
    results = {name: run_in_fresh_process(name) for name in CONTENDERS}
    what = args.shape and f"random Llama {args.shape}" or args.model
    recompute = ", layers checkpointed" if args.gradient_checkpointing else ""
    print(f"{what}, {args.device} {args.dtype}, batch {args.batch} x {args.seq} tokens, "
          f"{args.steps} timed steps after {args.warmup}{recompute}")  # fmt: skip
    for name, result in results.items():
        if "error" in result:
            print(f"  {name:7s} {result['error']}")
            continue
        print(f"  {name:7s} {result['samples_per_second']:8.2f} samples/s   peak memory "
              f"{result['peak_gib']:6.2f} GiB   trainable {result['n_trainable']:,}")  # fmt: skip
    spt = results["spt"]
    for baseline in ("sft", "sft-hf"):
        other = results[baseline]
        if "error" in spt or "error" in other:
            print(f"spt vs {baseline}: not comparable ({spt.get('error') or other.get('error')})")
            continue
        speed = spt["samples_per_second"] / other["samples_per_second"]
        memory = spt["peak_gib"] / other["peak_gib"]
        print(f"spt vs {baseline}: {speed:.2f}x samples/s, {memory:.2f}x peak memory")


def run_in_fresh_process(name: str) -> dict[str, Any]:
    """Runs this script as `--worker name` with the same flags; returns its JSON line."""
    argv = [sys.executable, __file__, *sys.argv[1:], "--worker", name]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": "out of memory" if "out of memory" in done.stderr.lower() else last}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Trains one contender for warmup + steps steps; returns samples/s, peak memory, size."""
    torch.manual_seed(0)
    hf_model = build_model(args, plain=args.worker == "sft-hf")
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(10, hf_model.config.vocab_size, (args.batch, args.seq),
                           generator=generator)  # fmt: skip
    batch = TrainingBatch(tokens, torch.ones_like(tokens, dtype=torch.bool), tokens.clone())
    batch = batch.to(args.device)
    deltas = None
    if args.worker == "spt":
        layout = HeadLayout.of(hf_model)
        k = args.k or (PAPER_K[args.shape] if args.shape else 16)
        every = [Head(layer, h) for layer in range(layout.n_layers) for h in range(layout.n_heads)]
        heads = sorted(random.Random(0).sample(every, k))
        roles = tuning_roles(layout, None, train_shared_kv=False)
        deltas = HeadDeltas(layout, delta_targets(layout, heads, roles), hf_model)
        for parameter in hf_model.parameters():
            parameter.requires_grad_(False)
        trainable = deltas.trainable()
    else:
        trainable = dict(hf_model.named_parameters())
    stamps: list[float] = []

    def loss_at(_step: int, _micro: int) -> LossOutput:
        loss = reply_loss(hf_model, batch)
        return LossOutput(loss, {"loss": float(loss.detach())}, args.batch)

    def on_step(_step: int) -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    config = TrainingConfig(steps=args.warmup + args.steps, learning_rate=1e-5,
                            checkpoint_every=10**9)  # fmt: skip
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        if deltas is not None:
            stack.enter_context(deltas.applied(hf_model))
        if args.gradient_checkpointing:
            stack.enter_context(checkpointed_layers(hf_model))
        peak = stack.enter_context(TrainingPeak(args.device))
        started = time.perf_counter()
        train(trainable, loss_at, config, Path(folder), identity={}, show_progress=False,
              on_step=on_step)  # fmt: skip
    timed = stamps[-1] - (stamps[args.warmup - 1] if args.warmup else started)
    return {
        "samples_per_second": args.steps * args.batch / timed,
        "peak_gib": peak.gib,
        "n_trainable": sum(p.numel() for p in trainable.values()),
    }


def build_model(args: argparse.Namespace, *, plain: bool) -> Any:
    """The HF model to train: hooked by sycolens (wrapped in the bridge), or plain with SDPA."""
    dtype = DTYPES[args.dtype]
    if args.shape is None:
        if not plain:
            return load_model(args.model, device=args.device, dtype=dtype).hf_model
        checkpoint = resolve_checkpoint(args.model)
        hf_model: Any = AutoModelForCausalLM.from_pretrained(
            checkpoint, dtype=dtype, attn_implementation="sdpa"
        )
        return hf_model.to(args.device).eval()
    shape = SHAPES[args.shape]
    config = LlamaConfig(vocab_size=32000, max_position_embeddings=4096,
                         hidden_size=shape.d_model, intermediate_size=shape.d_mlp,
                         num_hidden_layers=shape.n_layers, num_attention_heads=shape.n_heads,
                         num_key_value_heads=shape.n_kv_heads)  # fmt: skip
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # built in its dtype: no fp32 copy inflates the peak
    try:
        with torch.device(args.device):
            hf_model = LlamaForCausalLM(config).eval()
    finally:
        torch.set_default_dtype(default)
    if plain:
        hf_model.set_attn_implementation("sdpa")
        return hf_model
    # Saved and reloaded: TransformerBridge reads the tokenizer's `name_or_path`.
    folder = tempfile.mkdtemp(prefix="sycolens-bench-")
    build_tiny_tokenizer().save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    name = f"random-llama-{args.shape}"
    return wrap_hf_model(hf_model, tokenizer, model_id=name, checkpoint=name,
                         device=args.device, dtype=dtype).hf_model  # fmt: skip


class TrainingPeak:
    """Peak memory while the block runs: CUDA memory allocated (peak statistics reset at the
    start), or on the CPU the process's resident memory sampled every 10 ms. Both include the
    weights already loaded, as a user's run would; neither includes loading them."""

    def __init__(self, device: str) -> None:
        self.is_cuda = device.startswith("cuda")
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "TrainingPeak":
        if self.is_cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            self._sampler.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.is_cuda:
            torch.cuda.synchronize()
            self.peak_bytes = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self._sampler.join()

    @property
    def gib(self) -> float:
        return self.peak_bytes / 2**30

    def _sample(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        statm = Path("/proc/self/statm")
        while not self._stop.wait(0.01):
            resident = int(statm.read_text().split()[1]) * page
            self.peak_bytes = max(self.peak_bytes, resident)


if __name__ == "__main__":
    main()
