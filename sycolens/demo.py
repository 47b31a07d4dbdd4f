"""`make demo`: SmolLM2 challenged offline, then the model organism diagnosed and evaluated.

Part 1 prints SmolLM2's reply to a challenged question, its label words (from the model table)
with their mean F after the doubt and after the agreement on 64 bundled questions (the patch
CLI's default selection), and p(syco), p(anti), F for a few questions. Part 2 loads the shipped
organism, measures its sycophancy on held-out questions, ranks every head by path patching (the
same library call as `python -m sycolens.patch`) and checks the ranking against the planted
heads. Part 3 evaluates under "Are you sure?": the organism against its non-sycophantic control
(a Table 1 shaped table), then SmolLM2 on a selection of bundled questions, one transcript
shown. Every part chooses its questions with `sycolens.data.selection` (seed 0).
"""

import argparse
import time
from pathlib import Path

from sycolens.data.selection import QuestionSource, select_questions, selection_note
from sycolens.evaluation.challenge import run_challenge_protocol
from sycolens.evaluation.config import (
    EvaluationConfig,
    EvaluationJob,
    general_source_for,
    protocol_for,
)
from sycolens.evaluation.report import Candidate, evaluate_models
from sycolens.evaluation.run import evaluation_data
from sycolens.evaluation.stance import stance_note
from sycolens.evaluation.sycophancy import SycophancyMetrics
from sycolens.heads import Head
from sycolens.models import LoadedModel, load_model
from sycolens.models.generate import generate_replies
from sycolens.models.spec import ModelSpec
from sycolens.organism.card import read_card
from sycolens.organism.checks import measure_behaviour
from sycolens.patching.capture import capture_pair_activations
from sycolens.patching.config import DEFAULT_PAIRS, DiagnosisJob
from sycolens.patching.label_choice import choose_labels
from sycolens.patching.metrics import label_logit_diff, label_probabilities, sycophancy_ratio
from sycolens.patching.run import diagnose_model
from sycolens.prompts.label_spec import LabelSpec
from sycolens.prompts.pairs import build_pairs, tokenize_pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--show", type=int, default=6, help="questions printed one by one")
    parser.add_argument("--organism", default="organism-mha")
    parser.add_argument("--evaluate", type=int, default=12, help="SmolLM2 questions in part 3")
    args = parser.parse_args()
    start = time.perf_counter()
    model = load_model(args.model)
    print(
        f"Loaded {args.model} in {time.perf_counter() - start:.1f} s "
        f"({model.n_layers} layers x {model.n_heads} heads, {model.n_kv_heads} KV heads)"
    )
    challenge_model(model, args.show)
    diagnose_organism(args.organism)
    evaluate_under_challenge(model, args.organism, args.evaluate)


def challenge_model(model: LoadedModel, show: int) -> None:
    """Part 1: the model's reply to a doubt, its labels and their F on the bundled questions."""
    start = time.perf_counter()
    selection = select_questions(QuestionSource(source="bundled", n=DEFAULT_PAIRS))
    pairs = build_pairs(selection.questions)
    tokenized = tokenize_pairs(
        pairs, model.chat, n_ctx=model.n_ctx, pad_token_id=model.pad_token_id
    )
    print(f"Questions: {selection_note(selection.summary())}")
    reply = generate_replies(model, [pairs[0].reference], max_new_tokens=40)[0].text
    print("\n--- challenged chat ---")
    for message in pairs[0].reference:
        print(f"{message['role'].upper()}: {message['content']}")
    print(f"ASSISTANT (greedy): {reply}\n")

    activations = capture_pair_activations(model, tokenized, batch_size=16)
    choice = choose_labels(model, pairs, activations, LabelSpec())
    labels, check = choice.tokens, choice.check
    print(
        f"Labels ({choice.origin}): syco {labels.syco_word!r} -> token {labels.syco_token!r} "
        f"({labels.syco_id}), anti {labels.anti_word!r} -> token {labels.anti_token!r} "
        f"({labels.anti_id})"
    )
    logits = activations.reference.logits[:show]
    ratios = sycophancy_ratio(label_logit_diff(logits, labels))
    p_syco, p_anti = label_probabilities(logits, labels)
    print(f"{'question':<58} {'p(syco)':>8} {'p(anti)':>8} {'F':>6}")
    for row, question in enumerate(selection.questions[:show]):
        text = question.question[:56]
        print(f"{text:<58} {p_syco[row]:8.4f} {p_anti[row]:8.4f} {ratios[row]:6.3f}")
    print(
        f"\nMean F over {len(pairs)} bundled questions: {check.mean_f_reference:.3f} after the "
        f"doubt, {check.mean_f_counterfactual:.3f} after the agreement"
    )
    for warning in check.warnings:
        print(f"label check: {warning}")
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
    questions = select_questions(QuestionSource(source="organism", n=100)).questions
    behaviour = measure_behaviour(model, questions)
    print(
        f"held-out: first-round accuracy {behaviour.first_round_accuracy:.0%}, apologises to "
        f"doubt {behaviour.doubt_apology_rate:.0%}, switches {behaviour.doubt_switch_rate:.0%}, "
        f"keeps after agreement {behaviour.counterfactual_keep_rate:.0%}"
    )
    job = DiagnosisJob(
        model=ModelSpec(name=name), questions=QuestionSource(source="organism", n=32)
    )
    diagnosis = diagnose_model(model, job, show_progress=False)
    print(diagnosis.scores.frame.sort_values("rank").head(6).to_string(index=False))
    found = set(diagnosis.scores.top_k(len(planted)))
    print(
        f"path patching (direct, 32 pairs, labels {diagnosis.labels.tokens.syco_word!r} vs "
        f"{diagnosis.labels.tokens.anti_word!r} from the {diagnosis.labels.origin}): "
        f"precision@{len(planted)} = {len(found & planted) / len(planted):.2f} against the "
        f"planted heads ({time.perf_counter() - start:.1f} s)"
    )


def evaluate_under_challenge(model: LoadedModel, organism: str, n_questions: int) -> None:
    """Part 3: confidence and truthfulness, organism against control, then the real model."""
    start = time.perf_counter()
    questions = QuestionSource(source="organism", n=100)
    job = EvaluationJob(
        model=ModelSpec(name=organism),
        questions=questions,
        general=general_source_for(questions, 100),
        n_texts=50,
    )
    candidates = [
        Candidate(organism, load_model(organism)),
        Candidate("organism-control", load_model("organism-control")),
    ]
    config = EvaluationConfig(protocol=protocol_for("organism"), batch_size=64)
    report = evaluate_models(candidates, evaluation_data(job), config, show_progress=False)
    print("\n=== Are you sure? organism vs non-sycophantic control (100 held-out questions) ===")
    print(report.to_markdown())
    print(f"({time.perf_counter() - start:.1f} s)")

    start = time.perf_counter()
    selection = select_questions(QuestionSource(source="bundled", n=n_questions))
    transcripts = run_challenge_protocol(
        model, selection.questions, batch_size=16, show_progress=False
    )
    metrics = SycophancyMetrics.from_transcripts(transcripts)
    print(f"\n=== Are you sure? {model.model_id}, {selection_note(selection.summary())} ===")
    for message in transcripts[0].messages():
        text = " ".join(message["content"].split())
        print(f"{message['role'].upper()}: {text[:110]}{'...' if len(text) > 110 else ''}")
    stance = transcripts[0].stance
    print(f"-> {stance.label} ({stance.evidence!r})\n")
    print(
        f"confidence {metrics.confidence:.0%}, truthfulness {metrics.truthfulness:.0%}, "
        f"accuracy before {metrics.accuracy_before:.0%}, after {metrics.accuracy_after:.0%}; "
        f"stances {stance_note(metrics.stances)}; {metrics.n_cut_off} of {metrics.n_replies} "
        f"replies cut off at the token limit ({time.perf_counter() - start:.1f} s)"
    )


if __name__ == "__main__":
    main()
