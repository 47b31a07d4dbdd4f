"""The key/value-cache total effect at the answer position against one head per forward."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from sycolens.data.questions import load_bundled_questions
from sycolens.data.selection import QuestionSource, select_questions
from sycolens.heads import Head
from sycolens.models import LoadedModel
from sycolens.models.layer_calls import record_layer_calls
from sycolens.models.plain import runs_as_plain
from sycolens.models.tiny import TINY_FAMILIES, TinyFamily
from sycolens.patching import answer_cache
from sycolens.patching.answer_cache import (
    SCORES_PER_TOKEN,
    answer_total_logit_diffs,
    copies_per_forward,
)
from sycolens.patching.capture import capture_answer_activations
from sycolens.patching.diagnose import all_heads
from sycolens.patching.reference import one_head_total_patching
from sycolens.prompts.batch import pad_sequences
from sycolens.prompts.labels import LabelTokens, resolve_label_tokens
from sycolens.prompts.pairs import TokenizedPairs, build_pairs, tokenize_pairs


def _organism_pairs(model: LoadedModel, n: int) -> tuple[TokenizedPairs, LabelTokens]:
    questions = select_questions(QuestionSource(source="organism", n=n)).questions
    prompt_pairs = build_pairs(questions)
    pairs = tokenize_pairs(
        prompt_pairs, model.chat, n_ctx=model.n_ctx, pad_token_id=model.pad_token_id
    )
    return pairs, resolve_label_tokens(model.chat, prompt_pairs[0].reference)


def _cached(
    model: LoadedModel, pairs: TokenizedPairs, labels: LabelTokens, heads: list[Head], per: int
) -> torch.Tensor:
    z = capture_answer_activations(model, pairs.counterfactual).z
    return answer_total_logit_diffs(
        model, pairs.reference, z, labels, heads, copies_per_forward=per
    )


@pytest.mark.parametrize("name", ["organism-mha", "organism-gqa"])
def test_cached_total_effect_equals_one_head_per_forward_on_the_organisms(
    name: str, fresh_model: Callable[..., LoadedModel]
):
    model = fresh_model(name)
    pairs, labels = _organism_pairs(model, n=6)
    assert len(set(pairs.reference.lengths)) > 1  # left padding is exercised
    heads = all_heads(model)
    fast = _cached(model, pairs, labels, heads, per=5)
    slow = one_head_total_patching(model, pairs, labels, heads)
    assert slow.std() > 0.1  # the planted heads really move the metric
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", TINY_FAMILIES)
@pytest.mark.parametrize("path", ["layer by layer, plain network", "every layer, bridge"])
def test_both_paths_equal_one_head_per_forward_on_every_family(
    tiny_models: dict[TinyFamily, LoadedModel],
    monkeypatch: pytest.MonkeyPatch,
    family: TinyFamily,
    path: str,
):
    model = tiny_models[family]
    pairs, labels = _bundled_pairs(model)
    heads = all_heads(model)[::-1]  # out of layer order: the results come back in this order
    recorded: list[int] = []

    def spy(layers: Any, run_forward: Any) -> Any:
        calls = record_layer_calls(layers, run_forward)
        recorded.append(len(calls))
        return calls

    monkeypatch.setattr(answer_cache, "record_layer_calls", spy)
    final_norm = model.hf_model.get_submodule(model.architecture.final_norm)
    # Any hook outside TransformerLens's own wiring sends forwards through the bridge.
    handle = (
        final_norm.register_forward_pre_hook(lambda _module, _args: None)
        if path == "every layer, bridge"
        else None
    )
    try:
        assert runs_as_plain(model) == (handle is None)
        fast = _cached(model, pairs, labels, heads, per=5)
    finally:
        if handle is not None:
            handle.remove()
    slow = one_head_total_patching(model, pairs, labels, heads)
    assert bool(recorded) == (handle is None)  # the path named ran
    assert slow.std() > 0
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=0)


def test_each_pair_alone_gets_the_scores_it_gets_in_a_padded_batch(
    tiny_models: dict[TinyFamily, LoadedModel],
):
    model = tiny_models["llama-gqa"]
    prompt_pairs = build_pairs(load_bundled_questions()[:4])
    pairs = tokenize_pairs(prompt_pairs, model.chat, n_ctx=model.n_ctx, pad_token_id=0)
    labels = resolve_label_tokens(model.chat, prompt_pairs[0].reference)
    heads = all_heads(model)
    batched = _cached(model, pairs, labels, heads, per=len(heads))
    alone = torch.cat(
        [_cached(model, pairs.select(slice(i, i + 1)), labels, heads, 4) for i in range(4)]
    )
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=0)


def test_prompts_past_a_sliding_window_are_refused(tiny_models: dict[TinyFamily, LoadedModel]):
    model = tiny_models["mistral"]
    config: Any = model.hf_model.config
    pairs, labels = _bundled_pairs(model)
    kept = config.sliding_window
    longest = pairs.reference.tokens.shape[1]
    config.sliding_window = longest  # the prompts fit; prompt plus copies do not
    try:
        heads = all_heads(model)
        fast = _cached(model, pairs, labels, heads, per=len(heads))
        torch.testing.assert_close(fast, one_head_total_patching(model, pairs, labels, heads))
    finally:
        config.sliding_window = kept
    config.sliding_window = 8
    try:
        with pytest.raises(ValueError, match=r"sliding window of 8 tokens"):
            _answer_only(model, pairs, labels)
    finally:
        config.sliding_window = kept


def _answer_only(model: LoadedModel, pairs: TokenizedPairs, labels: LabelTokens) -> None:
    """Runs the cached patching alone, with zero counterfactual `z` (no capture forward)."""
    answer_total_logit_diffs(
        model, pairs.reference, _zeros(model, pairs), labels, [Head(0, 0)], copies_per_forward=1
    )


@pytest.mark.parametrize(
    ("heads", "per", "z_rows", "message"),
    [
        ([Head(0, 0)], 0, None, r"copies_per_forward must be >= 1, got 0"),
        ([], 1, None, r"No heads to patch"),
        ([Head(0, 99)], 1, None, r"Head \(0, 99\) is out of range"),
        ([Head(0, 0)], 1, 1, r"z_counterfactual has shape \(1, "),
    ],
)
def test_bad_inputs_name_the_fix(
    tiny_models: dict[TinyFamily, LoadedModel],
    heads: list[Head],
    per: int,
    z_rows: int | None,
    message: str,
):
    model = tiny_models["llama"]
    pairs, labels = _bundled_pairs(model)
    z = None
    if z_rows is not None:
        z = torch.zeros(z_rows, model.n_layers, model.n_heads, model.bridge.cfg.d_head)
    with pytest.raises(ValueError, match=message):
        answer_total_logit_diffs(
            model,
            pairs.reference,
            z if z is not None else _zeros(model, pairs),
            labels,
            heads,
            copies_per_forward=per,
        )


def _zeros(model: LoadedModel, pairs: TokenizedPairs) -> torch.Tensor:
    return torch.zeros(len(pairs), model.n_layers, model.n_heads, model.bridge.cfg.d_head)


def test_copies_per_forward_holds_the_attention_scores_to_the_budget():
    for rows, width in [(8, 63), (8, 2000), (1, 256), (64, 4000)]:
        n = copies_per_forward(16384, rows, width)
        budget = 16384 * SCORES_PER_TOKEN
        assert rows * n * (width + n) <= budget or n == 1
        assert rows * (n + 1) * (width + n + 1) > budget
    assert copies_per_forward(1, 64, 4000) == 1


def test_bfloat16_weights_match_one_head_per_forward(
    tiny_checkpoints: dict[TinyFamily, Path], fresh_model: Callable[..., LoadedModel]
):
    model = fresh_model(str(tiny_checkpoints["llama-gqa"]), dtype=torch.bfloat16)
    pairs, labels = _bundled_pairs(model)
    heads = all_heads(model)
    fast = _cached(model, pairs, labels, heads, per=3)
    slow = one_head_total_patching(model, pairs, labels, heads)
    assert fast.dtype == torch.bfloat16
    torch.testing.assert_close(fast.float(), slow.float(), atol=0.05, rtol=0.02)


def _bundled_pairs(model: LoadedModel) -> tuple[TokenizedPairs, LabelTokens]:
    prompt_pairs = build_pairs(load_bundled_questions()[:2])
    pairs = tokenize_pairs(prompt_pairs, model.chat, n_ctx=model.n_ctx, pad_token_id=0)
    return pairs, resolve_label_tokens(model.chat, prompt_pairs[0].reference)


@pytest.mark.smollm2
def test_cached_total_effect_on_smollm2(smollm2: LoadedModel):
    prompt_pairs = build_pairs(load_bundled_questions()[:3])
    pairs = tokenize_pairs(
        prompt_pairs, smollm2.chat, n_ctx=smollm2.n_ctx, pad_token_id=smollm2.pad_token_id
    )
    labels = resolve_label_tokens(smollm2.chat, prompt_pairs[0].reference, syco_word="I")
    heads = [Head(0, 0), Head(17, 7), Head(21, 1), Head(29, 8)]
    fast = _cached(smollm2, pairs, labels, heads, per=3)
    slow = one_head_total_patching(smollm2, pairs, labels, heads)
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=0)


def test_one_token_prompts_are_refused(tiny_models: dict[TinyFamily, LoadedModel]):
    model = tiny_models["llama"]
    _, labels = _bundled_pairs(model)
    one_token = pad_sequences([[5], [6]], pad_token_id=0)
    z = torch.zeros(2, model.n_layers, model.n_heads, model.bridge.cfg.d_head)
    with pytest.raises(ValueError, match=r"one token long"):
        answer_total_logit_diffs(model, one_token, z, labels, [Head(0, 0)], copies_per_forward=1)
