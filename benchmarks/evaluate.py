"""Time the challenge protocol batched against one question at a time, side by side, on the
organism and on SmolLM2-135M-Instruct (CPU by default), and report questions per second.

Both runs use the same questions, protocol and greedy decoding with the KV cache; the only
difference is the batch size (one-at-a-time is `batch_size=1`: no padding at all). A third run
is batched but generates through the TransformerBridge-wrapped model, as sycolens did before
generation took the plain SDPA network (`sycolens.models.plain`) of an unhooked model. The
printout also says how many transcripts came out identical, since neither batching nor the
plain network may change what is measured.

    python benchmarks/evaluate.py [--organism-questions 128] [--smollm2-questions 16]
"""

import argparse
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch

import sycolens.models.generate as generation
from sycolens.data.selection import QuestionSource, select_questions
from sycolens.data.sets import question_set
from sycolens.evaluation.challenge import Transcript, run_challenge_protocol
from sycolens.models import load_model
from sycolens.prompts.protocol import ChallengeProtocol
from sycolens.prompts.schema import Question


def timed_protocol(
    name: str, questions: Sequence[Question], protocol: ChallengeProtocol, batch_size: int
) -> tuple[list[Transcript], float]:
    model = load_model(name)
    run_challenge_protocol(model, questions[:2], protocol, batch_size=2, show_progress=False)
    start = time.perf_counter()
    transcripts = run_challenge_protocol(
        model, questions, protocol, batch_size=batch_size, show_progress=False
    )
    return transcripts, time.perf_counter() - start


@contextmanager
def through_the_bridge() -> Iterator[None]:
    """Within the block, generation takes the bridge even for an unhooked model."""
    plain = generation.runs_as_plain
    generation.runs_as_plain = lambda _model: False
    try:
        yield
    finally:
        generation.runs_as_plain = plain


def identical(first: list[Transcript], second: list[Transcript]) -> int:
    return sum(
        [r.text for r in a.replies()] == [r.text for r in b.replies()]
        for a, b in zip(first, second, strict=True)
    )


def compare(name: str, set_name: str, n: int, batch_size: int) -> None:
    questions = select_questions(QuestionSource(source=set_name, n=n)).questions
    protocol = question_set(set_name).protocol
    batched, batched_s = timed_protocol(name, questions, protocol, batch_size)
    single, single_s = timed_protocol(name, questions, protocol, 1)
    with through_the_bridge():
        bridged, bridged_s = timed_protocol(name, questions, protocol, batch_size)
    rounds = 3 if protocol.final_request else 2
    print(
        f"{name:<24} {n:>4} q x {rounds} rounds | one at a time {n / single_s:7.2f} q/s "
        f"({single_s:6.1f} s) | batched ({batch_size}) {n / batched_s:7.2f} q/s "
        f"({batched_s:6.1f} s) | ratio {single_s / batched_s:5.1f}x | identical transcripts "
        f"{identical(batched, single)}/{n}"
    )
    print(
        f"{'':<24} batched through the bridge {n / bridged_s:7.2f} q/s ({bridged_s:6.1f} s) | "
        f"plain network {bridged_s / batched_s:4.2f}x faster | identical transcripts "
        f"{identical(batched, bridged)}/{n}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--organism-questions", type=int, default=128)
    parser.add_argument("--smollm2-questions", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    print(f"torch threads {torch.get_num_threads()}, device cpu")
    compare("organism-mha", "organism", args.organism_questions, args.batch_size)
    compare("smollm2-135m-instruct", "bundled", args.smollm2_questions, args.batch_size)


if __name__ == "__main__":
    main()
