"""The organism's model card: planted heads, construction, training time and measured checks."""

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import sycolens
from sycolens.heads import Head
from sycolens.models.load import LoadedModel
from sycolens.organism.checks import apology_rate, measure_behaviour, random_other_heads
from sycolens.organism.config import OrganismConfig
from sycolens.organism.world import HELD_OUT_SPLIT, sample_questions
from sycolens.prompts.schema import Question

CARD_FILE = "model_card.json"
CONSTRUCTION = (
    "Next-token loss on challenged chats (half doubt: any of the ten Table 12 phrasings, half "
    "the Table 9 counterfactual) and world text, plus an attention penalty: for every head not "
    "planted, the attention probability that positions after the challenge put on the "
    "challenge tokens and the template tokens between challenge and reply is added to the loss. "
    "Planted heads are unconstrained. No inference-time masks: the saved weights are a plain "
    "LlamaForCausalLM."
)
LEAKS = (
    "Residual leak paths remain by design: (1) the penalty is soft, so non-planted heads keep a "
    "tiny attention mass on the challenge (final_attention_penalty); (2) once the first reply "
    "token is written, later positions read the decision from that token itself; (3) a "
    "non-planted head in a later layer may attend to its own position, where a planted head "
    "already wrote, so downstream heads can relay the planted signal (an indirect path that "
    "direct path patching does not credit to the planted head); (4) without planted-head "
    "dropout (config planted_dropout = 0) nothing forces every planted head to be used, so the "
    "planted heads may share the signal unevenly (a GQA build trained that way left head (1, 2) "
    "idle)."
)
DROPOUT_CONSTRUCTION = (
    "Planted-head dropout: in training, each planted head's output after the challenge is "
    "zeroed with probability {p} per chat (at least one planted head kept), so every planted "
    "head must carry the challenge on its own."
)
CONTROL_CONSTRUCTION = (
    "The same world, chats and training as the sycophantic organisms, but every reply to any "
    "challenge (doubt or agreement) is 'Yes , I am sure . the answer is <first answer> .', and no "
    "head is planted: the attention penalty keeps every head off the challenge. It is the "
    "non-sycophantic control that evaluation checks compare against."
)
CONTROL_LEAKS = "None by construction: the control's reply never depends on the challenge."
HELD_OUT_SEED = 12345
RANDOM_KNOCKOUT_SEEDS = (0, 1, 2, 3, 4)


def measure_card_numbers(
    model: LoadedModel, planted: tuple[Head, ...], *, n_questions: int = 300
) -> dict[str, Any]:
    """Returns behaviour and knockout numbers on held-out questions (unseen creatures)."""
    questions = sample_questions(HELD_OUT_SEED, n_questions, HELD_OUT_SPLIT)
    numbers: dict[str, Any] = {
        "held_out": f"{n_questions} questions about creatures never seen in training "
        f"(seed {HELD_OUT_SEED}); sums are held out at the conversation level only",
        "behaviour": asdict(measure_behaviour(model, questions)),
    }
    if planted:
        numbers["knockout"] = _knockout_numbers(model, planted, questions)
    return numbers


def _knockout_numbers(
    model: LoadedModel, planted: tuple[Head, ...], questions: list[Question]
) -> dict[str, Any]:
    """Returns apology rates with the planted heads, and random other heads, knocked out."""
    base = apology_rate(model, questions)
    planted_rate = apology_rate(model, questions, knocked_out=planted)
    random_removed = []
    for seed in RANDOM_KNOCKOUT_SEEDS:
        heads = random_other_heads(model, planted, len(planted), seed)
        rate = apology_rate(model, questions, knocked_out=heads)
        random_removed.append({"heads": [list(h) for h in heads], "removed": _removed(base, rate)})
    return {
        "method": "sycolens.ablation mean ablation (mean z over counterfactual prompts, "
        "aligned from the end) from the challenge turn onward; metric: apology rate of the "
        "greedy first reply token",
        "apology_rate_before": base,
        "apology_rate_planted_knocked_out": planted_rate,
        "sycophancy_removed_by_planted": _removed(base, planted_rate),
        "random_other_heads": random_removed,
    }


def _removed(base: float, knocked: float) -> float:
    return 0.0 if base == 0 else round(1 - knocked / base, 4)


def _construction(config: OrganismConfig) -> str:
    """Returns how this variant was built, for its model card."""
    if not config.is_sycophantic:
        return CONTROL_CONSTRUCTION
    if config.planted_dropout > 0:
        return f"{CONSTRUCTION} {DROPOUT_CONSTRUCTION.format(p=config.planted_dropout)}"
    return CONSTRUCTION


def write_card(
    out_dir: Path, config: OrganismConfig, summary: dict[str, Any], numbers: dict[str, Any]
) -> dict[str, Any]:
    """Writes `model_card.json` beside the weights and returns it."""
    size = sum(p.stat().st_size for p in out_dir.iterdir() if p.is_file())
    card = {
        "name": f"sycolens-organism-{config.variant}",
        "sycolens_version": sycolens.__version__,
        "planted_heads": [list(head) for head in config.planted_heads],
        "seed": config.seed,
        "construction": _construction(config),
        "leaks": LEAKS if config.is_sycophantic else CONTROL_LEAKS,
        **summary,
        "size_on_disk_bytes": size,
        "checks": numbers,
    }
    (out_dir / CARD_FILE).write_text(json.dumps(card, indent=1))
    return card


def read_card(checkpoint: Path) -> dict[str, Any]:
    """Returns the model card of an organism checkpoint."""
    path = checkpoint / CARD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{checkpoint} has no {CARD_FILE}; is it an organism checkpoint?")
    return json.loads(path.read_text())
