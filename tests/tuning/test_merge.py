"""Merging delta sets (C.7): the union and average rules against applying the sets by hand."""

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from sycolens import evaluate, tune
from sycolens.heads import Head
from sycolens.models import LoadedModel
from sycolens.models.deltas import apply_deltas, save_deltas, training_question_ids
from sycolens.models.head_access import HEAD_ROLES, HeadLayout
from sycolens.tuning.export import save_head_deltas
from sycolens.tuning.head_deltas import HeadDeltas, delta_targets
from sycolens.tuning.merge import DeltaSet, merge_delta_files, merge_delta_sets
from sycolens.tuning.merge_check import DeltaHeader, check_mergeable

SYCO_HEADS = (Head(1, 2), Head(2, 0))
MATH_HEADS = (Head(2, 0), Head(3, 3))  # shares (2, 0) with the first set
SHARED = "model.layers.2.self_attn.q_proj.weight[0:0:16]"


def _deltas_file(
    model: LoadedModel, heads: tuple[Head, ...], path: Path, seed: int, questions: list[str]
) -> Path:
    layout = HeadLayout.of(model.hf_model)
    deltas = HeadDeltas(layout, delta_targets(layout, heads, HEAD_ROLES), model.hf_model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for delta in deltas.deltas:
            delta.copy_(torch.randn(delta.shape, generator=generator) * 0.05)
    run = {"heads": [list(h) for h in heads], "roles": list(HEAD_ROLES),
           "question_ids": questions, "config": {"seed": seed}}  # fmt: skip
    save_head_deltas(path, deltas, model, run)
    return path


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), framework="pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118


@pytest.fixture(scope="module")
def two_sets(
    tmp_path_factory: pytest.TempPathFactory, fresh_model: Callable[..., LoadedModel]
) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("sets")
    model = fresh_model("organism-mha")
    syco = _deltas_file(model, SYCO_HEADS, folder / "syco.safetensors", 1, ["q1", "q2"])
    math = _deltas_file(model, MATH_HEADS, folder / "math.safetensors", 2, ["q2", "q3"])
    return syco, math


def test_union_keeps_every_slice_and_averages_the_shared_ones(
    two_sets: tuple[Path, Path], tmp_path: Path
):
    syco, math = (_tensors(path) for path in two_sets)
    metadata = merge_delta_files(list(two_sets), tmp_path / "m.safetensors")
    merged = _tensors(tmp_path / "m.safetensors")
    assert merged.keys() == syco.keys() | math.keys() and SHARED in syco.keys() & math.keys()
    for key, tensor in merged.items():
        if key in syco and key in math:
            expected = (syco[key].double() + math[key].double()) / 2
        else:
            expected = syco.get(key, math.get(key))
        assert expected is not None
        torch.testing.assert_close(tensor, expected.float(), atol=1e-7, rtol=0)
    assert json.loads(metadata["heads"]) == [[1, 2], [2, 0], [3, 3]]
    assert training_question_ids(tmp_path / "m.safetensors") == {"q1", "q2", "q3"}
    sources = json.loads(metadata["config"])["merge"]["sources"]
    assert [s["file"] for s in sources] == ["syco.safetensors", "math.safetensors"]


def test_weights_and_the_papers_average(two_sets: tuple[Path, Path]):
    syco_set, math_set = (DeltaSet.read(path) for path in two_sets)
    weighted, _ = merge_delta_sets([syco_set, math_set], weights=[3.0, 1.0])
    torch.testing.assert_close(
        weighted[SHARED], 0.75 * syco_set.tensors[SHARED] + 0.25 * math_set.tensors[SHARED]
    )
    average, _ = merge_delta_sets([syco_set, math_set], rule="average")
    only_syco = next(key for key in syco_set.tensors if key not in math_set.tensors)
    torch.testing.assert_close(average[only_syco], syco_set.tensors[only_syco] / 2)
    torch.testing.assert_close(
        average[SHARED], (syco_set.tensors[SHARED] + math_set.tensors[SHARED]) / 2
    )


def test_disjoint_sets_merge_to_both_applied(
    tmp_path: Path, fresh_model: Callable[..., LoadedModel]
):
    """The slow reference: with no shared slice, the union is exactly both sets added in."""
    model = fresh_model("organism-mha")
    first = _deltas_file(model, (Head(1, 2),), tmp_path / "a.safetensors", 3, ["q1"])
    second = _deltas_file(model, (Head(3, 3),), tmp_path / "b.safetensors", 4, ["q9"])
    merge_delta_files([first, second], tmp_path / "m.safetensors")
    by_hand, only_second, merged = (fresh_model("organism-mha") for _ in range(3))
    apply_deltas(by_hand, first)
    apply_deltas(only_second, second)  # each set over the base it was made on, then added
    with torch.no_grad():
        for name, parameter in by_hand.hf_parameters().items():
            parameter.add_(only_second.hf_parameters()[name] - model.hf_parameters()[name])
    apply_deltas(merged, tmp_path / "m.safetensors")
    tokens = torch.tensor([[1, 5, 9, 2, 7]])
    with torch.no_grad():
        torch.testing.assert_close(
            merged.hf_model(tokens).logits, by_hand.hf_model(tokens).logits, atol=0, rtol=0
        )


def test_the_merged_model_evaluates_through_the_usual_cli(
    two_sets: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "merged.safetensors"
    tune.main(["merge", *map(str, two_sets), "--out", str(out), "--weights", "0.5,0.5"])
    assert "merged 2 deltas files (union) over organism-mha: 3 heads" in capsys.readouterr().out
    evaluate.main(["--model", "organism-mha", "--deltas", str(out), "--questions", "organism",
                   "--n-questions", "6", "--n-general", "0", "--n-texts", "2",
                   "--out", str(tmp_path / "results.json")])  # fmt: skip
    report = json.loads((tmp_path / "results.json").read_text())
    names = [record["name"] for record in report["models"]]
    assert names == ["organism-mha", "organism-mha+merged"]


def test_sets_over_other_weights_or_misaligned_slices_are_refused(
    two_sets: tuple[Path, Path], tmp_path: Path, fresh_model: Callable[..., LoadedModel]
):
    other = _deltas_file(fresh_model("organism-gqa"), (Head(1, 2),), tmp_path / "g.st", 5, [])
    with pytest.raises(ValueError, match=r"made over different weights: base 'organism-mha'.*"
                       r"vs 'organism-gqa'"):  # fmt: skip
        merge_delta_sets([DeltaSet.read(two_sets[0]), DeltaSet.read(other)])
    model = fresh_model("organism-mha")
    whole = {"model.layers.2.self_attn.q_proj.weight": torch.ones(64, 64)}
    save_deltas(tmp_path / "whole.st", whole, model)
    with pytest.raises(ValueError, match=r"overlap in 'model.layers.2.self_attn.q_proj.weight' "
                       r"without being the same slice"):  # fmt: skip
        merge_delta_sets([DeltaSet.read(two_sets[0]), DeltaSet.read(tmp_path / "whole.st")])
    sets = [DeltaSet.read(path) for path in two_sets]
    with pytest.raises(ValueError, match=r"must be 2 positive numbers"):
        merge_delta_sets(sets, weights=[1.0])
    with pytest.raises(ValueError, match=r"sum to 0.8; the average rule needs them to sum to 1"):
        merge_delta_sets(sets, weights=[0.4, 0.4], rule="average")


def test_a_row_slice_and_a_column_slice_of_one_weight_overlap(two_sets: tuple[Path, Path]):
    metadata = DeltaHeader.read(two_sets[0]).metadata
    rows = DeltaHeader(Path("rows.st"), metadata, {"w.weight[0:0:4]": (4, 8)})
    columns = DeltaHeader(Path("cols.st"), metadata, {"w.weight[1:4:8]": (8, 4)})
    check_mergeable([rows, columns])  # the headers agree; the slices clash when read
    sets = [DeltaSet(rows, {"w.weight[0:0:4]": torch.ones(4, 8)}, "a"),
            DeltaSet(columns, {"w.weight[1:4:8]": torch.ones(8, 4)}, "b")]  # fmt: skip
    with pytest.raises(ValueError, match=r"overlap in 'w.weight' without being the same slice"):
        merge_delta_sets(sets)


def test_bad_merge_flags_fail_early(
    two_sets: tuple[Path, Path], usage_error: Callable[..., str], tmp_path: Path
):
    syco, math = map(str, two_sets)
    out = ["--out", str(tmp_path / "m.st")]
    assert "Merging needs at least two deltas files, got 1" in usage_error(
        tune.parse_merge_args, [syco, *out]
    )
    assert "Deltas file missing.st does not exist" in usage_error(
        tune.parse_merge_args, [syco, "missing.st", *out]
    )
    for weights, message in [("1,2,3", r"must be 2 positive numbers"),
                             ("nan,1", r"must be 2 positive numbers"),
                             ("0.4,0.4", r"sum to 0.8")]:  # fmt: skip
        argv = [syco, math, *out, "--weights", weights, "--rule", "average"]
        assert re.search(message, usage_error(tune.parse_merge_args, argv))
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\xff" * 64)
    assert "garbage.safetensors is not a readable safetensors file" in usage_error(
        tune.parse_merge_args, [str(garbage), math, *out]
    )
    assert not (tmp_path / "m.st").exists()


def test_deltas_over_other_weights_are_refused_before_reading_tensors(
    two_sets: tuple[Path, Path], usage_error: Callable[..., str], tmp_path: Path,
    fresh_model: Callable[..., LoadedModel],
):  # fmt: skip
    other = _deltas_file(fresh_model("organism-gqa"), (Head(1, 2),), tmp_path / "g.st", 5, [])
    argv = [str(two_sets[0]), str(other), "--out", str(tmp_path / "m.st")]
    assert "made over different weights" in usage_error(tune.parse_merge_args, argv)


def test_bad_weights_are_named(
    two_sets: tuple[Path, Path], usage_error: Callable[..., str], tmp_path: Path
):
    argv = [*map(str, two_sets), "--out", str(tmp_path / "m.st"), "--weights", "1,x"]
    message = usage_error(tune.parse_merge_args, argv)
    assert "--weights '1,x' is not a comma-separated list" in message


def test_a_truncated_deltas_file_is_named_with_its_fix(two_sets: tuple[Path, Path], tmp_path: Path):
    syco, math = two_sets
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(syco.read_bytes()[:100])
    with pytest.raises(
        ValueError,
        match=r"cut\.safetensors is not a readable safetensors file \(.*: truncated, or not "
        r"safetensors\); it should be a deltas file to merge\. Fix: copy the deltas file again",
    ):
        merge_delta_files([cut, math], tmp_path / "merged.safetensors")
    assert not (tmp_path / "merged.safetensors").exists()
