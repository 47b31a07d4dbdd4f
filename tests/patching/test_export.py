"""Head-ranking JSON round trip, validation against a model, heatmap and the patch CLI."""

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from sycolens import patch
from sycolens.heads import Head
from sycolens.models import LoadedModel
from sycolens.models.tiny import TinyFamily
from sycolens.patching.export import load_head_ranking
from sycolens.patching.scores import HeadScores
from sycolens.viz.heatmaps import head_scores_heatmap
from sycolens.viz.html import save_figure_html


def _run_cli(tiny_checkpoints: dict[TinyFamily, Path], tmp_path: Path, *extra: str):
    args = [
        "--model", str(tiny_checkpoints["llama-gqa"]), "--pairs", "4", "--top-k", "3",
        "--out", str(tmp_path / "heads.json"), "--html", str(tmp_path / "heads.html"),
        "--heads-by-layer-out", str(tmp_path / "by_layer.json"), *extra,
    ]  # fmt: skip
    config = patch.parse_args(args)
    return config, *patch.run(config)


def test_every_cli_flag_reaches_the_config():
    values = {
        "--model": ("m", "model", "m"),
        "--questions": ("q.jsonl", "questions", "q.jsonl"),
        "--pairs": ("7", "pairs", 7),
        "--mode": ("total", "mode", "total"),
        "--metric": ("logit_diff", "metric", "logit_diff"),
        "--positions": ("all", "positions", "all"),
        "--syco-label": ("Sorry", "syco_label", "Sorry"),
        "--anti-label": ("Sure", "anti_label", "Sure"),
        "--top-k": ("5", "top_k", 5),
        "--batch-size": ("3", "batch_size", 3),
        "--device": ("meta", "device", "meta"),
        "--dtype": ("bfloat16", "dtype", "bfloat16"),
        "--out": ("o.json", "out", Path("o.json")),
        "--heads-by-layer-out": ("l.json", "heads_by_layer_out", Path("l.json")),
        "--html": ("h.html", "html", Path("h.html")),
    }
    argv = [token for flag, (raw, _, _) in values.items() for token in (flag, raw)]
    config = patch.parse_args([*argv, "--propose-labels"])
    for _, field, expected in values.values():
        assert getattr(config, field) == expected, field
    assert config.propose_labels
    covered = {field for _, field, _ in values.values()} | {"propose_labels"}
    assert covered == {f.name for f in dataclasses.fields(patch.PatchConfig)}


def test_cli_writes_ranking_that_reloads_and_validates(
    tiny_checkpoints: dict[TinyFamily, Path],
    tiny_models: dict[TinyFamily, LoadedModel],
    tmp_path: Path,
):
    config, scores, document = _run_cli(tiny_checkpoints, tmp_path)
    ranking = load_head_ranking(tmp_path / "heads.json", tiny_models["llama-gqa"])
    assert ranking.top_k == scores.top_k(3)
    torch.testing.assert_close(ranking.scores.grid(), scores.grid())
    assert document["model"]["n_kv_heads"] == 2
    assert document["prompts"]["n_pairs"] == 4 and len(document["scores"]) == 8
    by_layer = json.loads((tmp_path / "by_layer.json").read_text())
    assert by_layer == {str(k): v for k, v in ranking.heads_by_layer().items()}
    assert sum(len(v) for v in by_layer.values()) == config.top_k
    assert "plotly" in (tmp_path / "heads.html").read_text()[:5000].lower()


def test_ranking_from_other_weights_warns(
    tiny_checkpoints: dict[TinyFamily, Path],
    tiny_models: dict[TinyFamily, LoadedModel],
    tmp_path: Path,
):
    _run_cli(tiny_checkpoints, tmp_path)  # ranked on llama-gqa, read against llama
    with pytest.warns(UserWarning, match="other weights"):
        load_head_ranking(tmp_path / "heads.json", tiny_models["llama"])


def test_ranking_with_out_of_range_head_names_it(
    tiny_checkpoints: dict[TinyFamily, Path],
    tiny_models: dict[TinyFamily, LoadedModel],
    tmp_path: Path,
):
    _run_cli(tiny_checkpoints, tmp_path)
    path = tmp_path / "heads.json"
    document = json.loads(path.read_text())
    document["top_k"][0] = [5, 1]
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"Head \(5, 1\) .* has 2 layers \(0\.\.1\)"):
        load_head_ranking(path, tiny_models["llama-gqa"])


def test_non_ranking_file_is_refused(tmp_path: Path):
    path = tmp_path / "x.json"
    path.write_text('{"schema": "something else"}')
    with pytest.raises(ValueError, match="is not a sycolens.head_ranking v1 file"):
        load_head_ranking(path)


def test_too_many_pairs_and_zero_pairs_are_named():
    with pytest.raises(ValueError, match=r"--pairs 301 asks for more pairs .* \(300\)"):
        patch.select_questions(patch.parse_args(["--pairs", "301"]))
    with pytest.raises(ValueError, match=r"--pairs must be >= 1, got 0"):
        patch.select_questions(patch.parse_args(["--pairs", "0"]))


def test_heatmap_is_diverging_around_zero(tmp_path: Path):
    scores = HeadScores.from_pair_scores(torch.tensor([[[0.5, -1.0], [0.1, 0.0]]] * 3))
    figure = head_scores_heatmap(scores)
    heatmap: Any = figure.data[0]
    assert heatmap.zmid == 0.0 and heatmap.zmin == -1.0 and heatmap.zmax == 1.0
    assert "± %{customdata" in heatmap.hovertemplate  # stderr shown on hover
    save_figure_html(figure, tmp_path / "h.html")
    assert (tmp_path / "h.html").stat().st_size > 1000
    assert scores.top_k(2) == [Head(0, 1), Head(0, 0)]
    assert scores.share_of_heads_for(0.5) == 0.25


def test_cli_on_the_organism_finds_its_planted_heads(tmp_path: Path):
    config = patch.parse_args(
        ["--model", "organism-mha", "--questions", "organism", "--pairs", "16", "--top-k", "3",
         "--out", str(tmp_path / "heads.json")]
    )  # fmt: skip
    scores, document = patch.run(config)
    assert set(scores.top_k(3)) == {Head(1, 2), Head(2, 0), Head(3, 3)}
    assert document["prompts"]["source"] == "sycolens:organism"
    assert document["labels"]["syco_token"] == "Apologies"


def test_questions_outside_the_vocabulary_are_refused():
    config = patch.parse_args(["--model", "organism-mha", "--pairs", "2"])
    with pytest.raises(
        ValueError, match=r"Reference prompt of pair 'fact-000' has words the tokenizer"
    ):
        patch.run(config)
