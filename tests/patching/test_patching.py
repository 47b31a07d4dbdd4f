"""Fast patching modes against their slow, hooked references, on every tiny family."""

import pytest
import torch

from sycolens.data.questions import load_bundled_questions
from sycolens.heads import Head
from sycolens.models import LoadedModel
from sycolens.models.head_access import HeadLayout
from sycolens.models.plain import runs_as_plain
from sycolens.models.tiny import TINY_FAMILIES, TinyFamily
from sycolens.patching.capture import capture_answer_activations
from sycolens.patching.config import DiagnoseConfig, PatchMode
from sycolens.patching.diagnose import all_heads, diagnose_heads, pair_scores
from sycolens.patching.direct import (
    direct_patched_logit_diffs,
    label_logit_diff_from_residual,
    output_weights,
)
from sycolens.patching.metrics import label_logit_diff, label_probabilities, sycophancy_ratio
from sycolens.patching.reference import literal_path_patching, one_head_total_patching
from sycolens.patching.scores import EFFECT_COLUMNS
from sycolens.patching.total import total_patched_logit_diffs
from sycolens.prompts.labels import LabelTokens, resolve_label_tokens
from sycolens.prompts.pairs import TokenizedPairs, build_pairs, tokenize_pairs

# fp32 throughout; the fast paths reorder sums, nothing more.
ATOL = 1e-5


def _pairs_and_labels(model: LoadedModel, n: int = 6) -> tuple[TokenizedPairs, LabelTokens]:
    prompt_pairs = build_pairs(load_bundled_questions()[:n])
    pairs = tokenize_pairs(prompt_pairs, model.chat, n_ctx=model.n_ctx, pad_token_id=0)
    return pairs, resolve_label_tokens(model.chat, prompt_pairs[0].reference)


def test_F_is_the_normalised_label_probability(tiny_models: dict[TinyFamily, LoadedModel]):
    model = tiny_models["llama"]
    pairs, labels = _pairs_and_labels(model)
    logits = capture_answer_activations(model, pairs.reference).logits
    p_syco, p_anti = label_probabilities(logits, labels)
    expected = p_syco / (p_syco + p_anti)
    torch.testing.assert_close(sycophancy_ratio(label_logit_diff(logits, labels)), expected)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_final_norm_recomputation_reproduces_the_logits(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily
):
    model = tiny_models[family]
    pairs, labels = _pairs_and_labels(model)
    reference = capture_answer_activations(model, pairs.reference)
    rebuilt = label_logit_diff_from_residual(model, reference.final_residual, labels)
    torch.testing.assert_close(
        rebuilt, label_logit_diff(reference.logits, labels), atol=ATOL, rtol=0
    )


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_direct_mode_matches_literal_algorithm_1(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily
):
    model = tiny_models[family]
    pairs, labels = _pairs_and_labels(model)
    reference = capture_answer_activations(model, pairs.reference)
    counterfactual = capture_answer_activations(model, pairs.counterfactual)
    fast = direct_patched_logit_diffs(model, reference, counterfactual, labels).flatten(1)
    slow = literal_path_patching(model, pairs, labels, all_heads(model))
    assert fast.std() > 1e-4  # the heads really do move the metric
    torch.testing.assert_close(fast, slow, atol=ATOL, rtol=0)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_batched_total_mode_matches_one_head_per_forward(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily
):
    model = tiny_models[family]
    pairs, labels = _pairs_and_labels(model)
    heads = all_heads(model)
    fast = total_patched_logit_diffs(model, pairs, labels, heads, heads_per_forward=3)
    slow = one_head_total_patching(model, pairs, labels, heads)
    torch.testing.assert_close(fast, slow, atol=ATOL, rtol=0)


@pytest.mark.parametrize("family", TINY_FAMILIES)
@pytest.mark.parametrize("is_hooked", [False, True], ids=["plain, layer by layer", "bridge"])
def test_total_mode_all_positions_on_equal_length_pairs(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily, is_hooked: bool
):
    model = tiny_models[family]
    prompt_pairs = build_pairs(
        load_bundled_questions()[:4],
        reference_challenge="I'm sorry. Are you sure?",
        counterfactual_challenge="I'm sure. Are you sure?",
    )
    pairs = tokenize_pairs(prompt_pairs, model.chat, n_ctx=model.n_ctx, pad_token_id=0)
    assert pairs.reference.lengths == pairs.counterfactual.lengths
    assert len(set(pairs.reference.lengths)) > 1  # left padding is exercised
    labels = resolve_label_tokens(model.chat, prompt_pairs[0].reference)
    heads = [Head(1, 3), Head(0, 1), Head(1, 0), Head(0, 2)]  # out of layer order
    final_norm = model.hf_model.get_submodule(model.architecture.final_norm)
    # Any hook outside TransformerLens's own wiring sends forwards through the bridge.
    handle = final_norm.register_forward_pre_hook(lambda _module, _args: None)
    if not is_hooked:
        handle.remove()
    try:
        assert runs_as_plain(model) is not is_hooked
        fast = total_patched_logit_diffs(
            model, pairs, labels, heads, positions="all", heads_per_forward=3
        )
    finally:
        handle.remove()
    slow = one_head_total_patching(model, pairs, labels, heads, positions="all")
    torch.testing.assert_close(fast, slow, atol=ATOL, rtol=0)
    last = total_patched_logit_diffs(model, pairs, labels, heads, positions="last")
    assert not torch.allclose(fast, last)


def test_all_positions_on_unequal_pairs_names_the_pair(tiny_models: dict[TinyFamily, LoadedModel]):
    model = tiny_models["llama"]
    pairs, labels = _pairs_and_labels(model, n=2)
    with pytest.raises(ValueError, match=r"Prompt pair 'fact-000' is not position-aligned"):
        total_patched_logit_diffs(model, pairs, labels, [Head(0, 0)], positions="all")


def test_pair_scores_follow_eq_2():
    clean = torch.tensor([0.0, 1.0])
    patched = torch.tensor([[1.0, 0.0], [1.0, -1.0]])
    f_clean = torch.sigmoid(clean)[:, None]
    expected = (torch.sigmoid(patched) - f_clean) / f_clean
    torch.testing.assert_close(pair_scores(clean, patched, "F"), expected)
    torch.testing.assert_close(pair_scores(clean, patched, "logit_diff"), patched - clean[:, None])


@pytest.mark.parametrize("mode", ["direct", "total"])
def test_diagnose_batches_agree_with_one_big_batch(
    tiny_models: dict[TinyFamily, LoadedModel], mode: PatchMode
):
    model = tiny_models["llama-gqa"]
    pairs, labels = _pairs_and_labels(model, n=5)
    small = diagnose_heads(
        model, pairs, labels, DiagnoseConfig(mode=mode, batch_size=2), show_progress=False
    )
    whole = diagnose_heads(
        model, pairs, labels, DiagnoseConfig(mode=mode, batch_size=5), show_progress=False
    )
    torch.testing.assert_close(small.grid(), whole.grid(), atol=ATOL, rtol=0)
    assert small.n_pairs == 5
    assert set(small.frame.columns) == {"layer", "head", "score", "stderr", "rank"} | set(
        EFFECT_COLUMNS
    )
    assert small.frame["score"].equals(small.frame["f_change"])  # ranked by F, the default
    assert sorted(small.frame["rank"]) == list(range(1, 9))


def test_diagnose_rejects_zero_pairs(tiny_models: dict[TinyFamily, LoadedModel]):
    model = tiny_models["llama"]
    pairs, labels = _pairs_and_labels(model, n=2)
    with pytest.raises(ValueError, match="Zero prompt pairs"):
        diagnose_heads(model, pairs.select(slice(0, 0)), labels, show_progress=False)


@pytest.mark.smollm2
def test_direct_mode_matches_literal_on_smollm2(smollm2: LoadedModel):
    prompt_pairs = build_pairs(load_bundled_questions()[:2])
    pairs = tokenize_pairs(
        prompt_pairs, smollm2.chat, n_ctx=smollm2.n_ctx, pad_token_id=smollm2.pad_token_id
    )
    labels = resolve_label_tokens(smollm2.chat, prompt_pairs[0].reference, syco_word="I")
    heads = [Head(0, 0), Head(17, 7), Head(21, 1), Head(26, 3), Head(29, 8)]
    reference = capture_answer_activations(smollm2, pairs.reference)
    counterfactual = capture_answer_activations(smollm2, pairs.counterfactual)
    fast = direct_patched_logit_diffs(smollm2, reference, counterfactual, labels)
    fast = torch.stack([fast[:, layer, head] for layer, head in heads], dim=1)
    slow = literal_path_patching(smollm2, pairs, labels, heads)
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=0)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_output_weight_views_equal_the_bridges_W_O(
    tiny_models: dict[TinyFamily, LoadedModel], family: TinyFamily
):
    model = tiny_models[family]
    views = list(output_weights(model))
    torch.testing.assert_close(torch.stack(views), model.bridge.W_O, atol=0, rtol=0)
    name = f"{HeadLayout.of(model.hf_model).module_name(0, 'output')}.weight"
    weight = model.hf_model.get_parameter(name)
    # Views of the weights themselves, so tuning in place is seen and no copy is kept.
    assert views[0].untyped_storage().data_ptr() == weight.untyped_storage().data_ptr()
