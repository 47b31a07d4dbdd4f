"""Deltas: save, apply, validate; and the fingerprint sees a one-head change."""

import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from sycolens.models import LoadedModel
from sycolens.models.deltas import (
    apply_deltas,
    compute_deltas,
    count_changed_elements,
    save_deltas,
    training_question_ids,
)
from sycolens.models.fingerprint import weights_fingerprint
from sycolens.models.tiny import TinyFamily

Q_PROJ = "model.layers.1.self_attn.q_proj.weight"


def _tune_one_head(model: LoadedModel, head: int = 2) -> int:
    """Adds noise to one query head's rows of W_Q (what pinpoint tuning changes)."""
    weight = model.hf_model.get_parameter(Q_PROJ)
    d_head = weight.shape[0] // model.n_heads
    with torch.no_grad():
        weight[head * d_head : (head + 1) * d_head] += 0.01
    return d_head * weight.shape[1]


@pytest.fixture
def base_and_tuned(
    tiny_checkpoints: dict[TinyFamily, Path], fresh_model: Callable[..., LoadedModel]
) -> tuple[LoadedModel, LoadedModel]:
    base = fresh_model(str(tiny_checkpoints["llama-gqa"]))
    tuned = fresh_model(str(tiny_checkpoints["llama-gqa"]))
    _tune_one_head(tuned)
    return base, tuned


def test_deltas_round_trip_to_the_tuned_weights(
    base_and_tuned: tuple[LoadedModel, LoadedModel],
    tiny_checkpoints: dict[TinyFamily, Path],
    tmp_path: Path,
    fresh_model: Callable[..., LoadedModel],
):
    base, tuned = base_and_tuned
    deltas = compute_deltas(base, tuned)
    assert list(deltas) == [Q_PROJ]
    save_deltas(tmp_path / "d.safetensors", deltas, base)
    fresh = fresh_model(str(tiny_checkpoints["llama-gqa"]))
    changed = apply_deltas(fresh, tmp_path / "d.safetensors")
    assert changed == count_changed_elements(base, tuned) == 8 * 32
    for name, parameter in tuned.hf_model.named_parameters():
        torch.testing.assert_close(fresh.hf_model.get_parameter(name), parameter)


def test_tied_embeddings_are_stored_and_applied_once(
    tiny_checkpoints: dict[TinyFamily, Path], fresh_model: Callable[..., LoadedModel]
):
    base = fresh_model(str(tiny_checkpoints["gpt2"]))  # GPT-2 ties lm_head to wte
    tuned = fresh_model(str(tiny_checkpoints["gpt2"]))
    with torch.no_grad():
        tuned.hf_model.get_parameter("transformer.wte.weight")[3] += 1.0
    deltas = compute_deltas(base, tuned)
    assert list(deltas) == ["transformer.wte.weight"]
    apply_deltas(base, _saved(deltas, base, tiny_checkpoints))
    torch.testing.assert_close(
        base.hf_state_dict()["lm_head.weight"], tuned.hf_state_dict()["lm_head.weight"]
    )


def _saved(deltas: dict[str, torch.Tensor], base: LoadedModel, paths: dict) -> Path:
    path = paths["gpt2"].parent / "gpt2-deltas.safetensors"
    save_deltas(path, deltas, base)
    return path


def test_fingerprint_sees_a_change_to_one_head_slice(
    tiny_checkpoints: dict[TinyFamily, Path], fresh_model: Callable[..., LoadedModel]
):
    model = fresh_model(str(tiny_checkpoints["llama"]))
    before = weights_fingerprint(model)
    _tune_one_head(model, head=1)  # a middle head: edge values alone would not change
    assert weights_fingerprint(model) != before


def test_unknown_names_and_shapes_are_refused(
    base_and_tuned: tuple[LoadedModel, LoadedModel], tmp_path: Path
):
    base, _ = base_and_tuned
    save_file({"model.nope.weight": torch.ones(2)}, str(tmp_path / "name.safetensors"))
    with pytest.raises(ValueError, match=r"changes parameter 'model.nope.weight', which"):
        apply_deltas(base, tmp_path / "name.safetensors")
    save_file({Q_PROJ: torch.ones(3, 3)}, str(tmp_path / "shape.safetensors"))
    with pytest.raises(ValueError, match=r"holds 'model.layers.1.self_attn.q_proj.weight' shaped"):
        apply_deltas(base, tmp_path / "shape.safetensors")


def test_non_finite_deltas_are_refused_and_nothing_is_applied(
    base_and_tuned: tuple[LoadedModel, LoadedModel], tmp_path: Path
):
    base, _ = base_and_tuned
    before = {name: tensor.detach().clone() for name, tensor in base.hf_parameters().items()}
    shape = base.hf_parameters()[Q_PROJ].shape
    nan = torch.zeros(shape)
    nan[0, 0] = math.nan
    save_file({Q_PROJ: nan}, str(tmp_path / "nan.safetensors"))
    with pytest.raises(ValueError, match=r"holds '.*q_proj.weight' with 1 NaN or infinite values"
                       r".*Fix: retrain"):  # fmt: skip
        apply_deltas(base, tmp_path / "nan.safetensors")
    after = base.hf_parameters()
    assert all(torch.equal(after[name], tensor) for name, tensor in before.items())


def test_deltas_over_other_weights_are_refused_unless_allowed(
    base_and_tuned: tuple[LoadedModel, LoadedModel], tmp_path: Path
):
    base, tuned = base_and_tuned
    save_deltas(tmp_path / "d.safetensors", compute_deltas(base, tuned), base)
    assert load_file(str(tmp_path / "d.safetensors")).keys() == {Q_PROJ}
    before = tuned.hf_parameters()[Q_PROJ].detach().clone()
    refusal = r"not over the weights of .* Fix: apply it to the model it was tuned on, or pass"
    with pytest.raises(ValueError, match=rf"was made over .* {refusal} --allow-other-weights"):
        apply_deltas(tuned, tmp_path / "d.safetensors")
    assert torch.equal(tuned.hf_parameters()[Q_PROJ], before)  # nothing applied
    with pytest.warns(UserWarning, match=r"whose weights differ .*allowed: --allow-other-weights"):
        apply_deltas(tuned, tmp_path / "d.safetensors", allow_other_weights=True)


def test_the_same_checkpoint_in_another_dtype_is_the_same_base(
    fresh_model: Callable[..., LoadedModel], tmp_path: Path
):
    in_float32 = fresh_model("organism-mha")
    in_bfloat16 = fresh_model("organism-mha", dtype=torch.bfloat16)
    name, weight = next(iter(in_float32.hf_parameters().items()))
    save_deltas(tmp_path / "d.safetensors", {name: torch.full_like(weight, 0.5)}, in_float32)
    assert apply_deltas(in_bfloat16, tmp_path / "d.safetensors") == weight.numel()


def test_comparing_other_architectures_and_saving_nothing_are_errors(
    base_and_tuned: tuple[LoadedModel, LoadedModel],
    tiny_models: dict[TinyFamily, LoadedModel],
    tmp_path: Path,
):
    base, _ = base_and_tuned
    with pytest.raises(ValueError, match=r"has no parameter .* Fix: compare a tuned model"):
        count_changed_elements(base, tiny_models["gpt2"])
    with pytest.raises(ValueError, match=r"No parameter differs"):
        save_deltas(tmp_path / "none.safetensors", compute_deltas(base, base), base)


@pytest.mark.parametrize(
    "content", [b"", b"garbage that is no header" * 4], ids=["empty", "garbage"]
)
def test_a_file_that_is_not_safetensors_is_named_with_its_fix(
    tiny_models: dict[TinyFamily, LoadedModel], tmp_path: Path, content: bytes
):
    path = tmp_path / "deltas.safetensors"
    path.write_bytes(content)
    message = (
        r"deltas\.safetensors is not a readable safetensors file \(.*header too (small|large): "
        r"truncated, or not safetensors\); it should be a deltas file\. Fix: copy the deltas "
        r"file again if it was cut short, or write it again"
    )
    with pytest.raises(ValueError, match=message):
        training_question_ids(path)
    with pytest.raises(ValueError, match=message):
        apply_deltas(tiny_models["llama"], path)
