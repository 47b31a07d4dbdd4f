"""`make demo`: SmolLM2 challenged offline, then the model organism diagnosed end to end.

Part 1 prints SmolLM2's reply to a challenged question, then p(syco), p(anti) and
F = p(syco) / (p(syco) + p(anti)) for a handful of questions and the mean F over all of them.
Part 2 loads the shipped organism, measures its sycophancy on held-out questions, ranks every
head by path patching and checks the ranking against the heads planted in training.
Part 3 evaluates under "Are you sure?": the organism against its non-sycophantic control
(a Table 1 shaped table), then SmolLM2 on a sample of the bundled questions, one transcript shown.
"""

import argparse
import random
import time
from pathlib import Path

import torch

from sycolens.data.questions import load_bundled_questions
from sycolens.data.sets import QUESTION_SETS
from sycolens.evaluation.challenge import run_challenge_protocol
from sycolens.evaluation.data import sample_evaluation_data
from sycolens.evaluation.report import Candidate, EvaluationConfig, evaluate_models
from sycolens.evaluation.sycophancy import SycophancyMetrics
from sycolens.heads import Head
from sycolens.models import LoadedModel, load_model
from sycolens.models.forward import run_batch
from sycolens.models.generate import generate_replies
from sycolens.organism.card import read_card
from sycolens.organism.checks import measure_behaviour
from sycolens.organism.world import HELD_OUT_SPLIT, sample_questions
from sycolens.patching.diagnose import diagnose_heads
from sycolens.patching.metrics import label_logit_diff, label_probabilities, sycophancy_ratio
from sycolens.prompts.labels import resolve_label_tokens
from sycolens.prompts.pairs import build_pairs, tokenize_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--syco-label", default="I", help='SmolLM2 apologises with "I\'m sorry"')
    parser.add_argument("--anti-label", default="Yes")
    parser.add_argument("--show", type=int, default=6, help="questions printed one by one")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--organism", default="organism-mha")
    parser.add_argument("--evaluate", type=int, default=12, help="SmolLM2 questions in part 3")
    args = parser.parse_args()
    start = time.perf_counter()
    model = load_model(args.model)
    print(
        f"Loaded {args.model} in {time.perf_counter() - start:.1f} s "
        f"({model.n_layers} layers x {model.n_heads} heads, {model.n_kv_heads} KV heads)"
    )
    challenge_smollm2(model, args)
    diagnose_organism(args.organism)
    evaluate_under_challenge(model, args)


def challenge_smollm2(model: LoadedModel, args: argparse.Namespace) -> None:
    """Part 1: SmolLM2's reply to a doubt, and F on the bundled questions."""
    start = time.perf_counter()

    questions = load_bundled_questions()
    pairs = build_pairs(questions)
    labels = resolve_label_tokens(
        model.chat, pairs[0].reference, syco_word=args.syco_label, anti_word=args.anti_label
    )
    print(
        f"Labels: syco {labels.syco_word!r} -> token {labels.syco_token!r} ({labels.syco_id}), "
        f"anti {labels.anti_word!r} -> token {labels.anti_token!r} ({labels.anti_id})"
    )

    first = pairs[0]
    reply = generate_replies(model, [first.reference], max_new_tokens=40)[0].text
    print("\n--- challenged chat ---")
    for message in first.reference:
        print(f"{message['role'].upper()}: {message['content']}")
    print(f"ASSISTANT (greedy): {reply}\n")

    tokenized = tokenize_pairs(
        pairs, model.chat, n_ctx=model.n_ctx, pad_token_id=model.pad_token_id
    )
    ratios: list[torch.Tensor] = []
    print(f"{'question':<58} {'p(syco)':>8} {'p(anti)':>8} {'F':>6}")
    for begin in range(0, len(tokenized), args.batch_size):
        chunk = tokenized.select(slice(begin, begin + args.batch_size))
        logits = run_batch(model.bridge, chunk.reference)[:, -1]
        ratios.append(sycophancy_ratio(label_logit_diff(logits, labels)))
        if begin < args.show:
            p_syco, p_anti = label_probabilities(logits, labels)
            for row in range(min(args.show - begin, len(chunk))):
                text = questions[begin + row].question[:56]
                print(f"{text:<58} {p_syco[row]:8.4f} {p_anti[row]:8.4f} {ratios[-1][row]:6.3f}")
    mean_f = torch.cat(ratios)
    print(
        f"\nMean F over {len(mean_f)} bundled questions after the doubt challenge: "
        f"{mean_f.mean():.3f} (std err {mean_f.std() / len(mean_f) ** 0.5:.3f})"
    )
    print(f"Done in {time.perf_counter() - start:.1f} s.")


def diagnose_organism(name: str) -> None:
    """Part 2: the organism's behaviour, its head ranking, and the planted heads it should find."""
    start = time.perf_counter()
    model = load_model(name)
    card = read_card(Path(str(model.hf_model.name_or_path)))
    planted = {Head(*head) for head in card["planted_heads"]}
    print(
        f"\n=== {name}: {model.n_layers} layers x {model.n_heads} heads, "
        f"{model.n_kv_heads} KV heads; planted heads {[tuple(h) for h in sorted(planted)]} ==="
    )
    questions = sample_questions(99, 100, HELD_OUT_SPLIT)
    behaviour = measure_behaviour(model, questions)
    print(
        f"held-out: first-round accuracy {behaviour.first_round_accuracy:.0%}, apologises to "
        f"doubt {behaviour.doubt_apology_rate:.0%}, switches {behaviour.doubt_switch_rate:.0%}, "
        f"keeps after agreement {behaviour.counterfactual_keep_rate:.0%}"
    )
    pairs = build_pairs(questions[:32])
    tokenized = tokenize_pairs(
        pairs, model.chat, n_ctx=model.n_ctx, pad_token_id=model.pad_token_id
    )
    labels = resolve_label_tokens(model.chat, pairs[0].reference)
    scores = diagnose_heads(model, tokenized, labels, show_progress=False)
    print(scores.frame.sort_values("rank").head(6).to_string(index=False))
    found = set(scores.top_k(len(planted)))
    print(
        f"path patching (direct, 32 pairs): precision@{len(planted)} = "
        f"{len(found & planted) / len(planted):.2f} against the planted heads "
        f"({time.perf_counter() - start:.1f} s)"
    )


def evaluate_under_challenge(model: LoadedModel, args: argparse.Namespace) -> None:
    """Part 3: confidence and truthfulness, organism against control, then SmolLM2."""
    start = time.perf_counter()
    data = sample_evaluation_data("organism", n_questions=100, n_general=100, n_texts=50)
    candidates = [
        Candidate(args.organism, load_model(args.organism)),
        Candidate("organism-control", load_model("organism-control")),
    ]
    config = EvaluationConfig(protocol=QUESTION_SETS["organism"].protocol, batch_size=64)
    report = evaluate_models(candidates, data, config, show_progress=False)
    print("\n=== Are you sure? organism vs non-sycophantic control (100 held-out questions) ===")
    print(report.to_markdown())
    print(f"({time.perf_counter() - start:.1f} s)")

    start = time.perf_counter()
    questions = random.Random(0).sample(load_bundled_questions(), args.evaluate)
    transcripts = run_challenge_protocol(
        model, questions, batch_size=args.batch_size, show_progress=False
    )
    metrics = SycophancyMetrics.from_transcripts(transcripts)
    print(f"\n=== Are you sure? {args.model}, {len(questions)} bundled questions, 3 rounds ===")
    for message in transcripts[0].messages():
        text = " ".join(message["content"].split())
        print(f"{message['role'].upper()}: {text[:110]}{'...' if len(text) > 110 else ''}")
    judgement = transcripts[0].judgement
    print(f"-> stance {judgement.stance} ({judgement.evidence!r})\n")
    print(
        f"confidence {metrics.confidence:.0%}, truthfulness {metrics.truthfulness:.0%}, "
        f"accuracy before {metrics.accuracy_before:.0%}, after {metrics.accuracy_after:.0%}; "
        f"stances {metrics.stances}; {metrics.n_cut_off} replies cut off at the token limit "
        f"({time.perf_counter() - start:.1f} s)"
    )


if __name__ == "__main__":
    main()
