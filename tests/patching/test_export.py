"""Head-ranking JSON round trip, validation against a model, heatmap and the patch CLI."""

import json
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from sycolens import patch
from sycolens.data.selection import QuestionSource
from sycolens.heads import Head
from sycolens.models import LoadedModel
from sycolens.models.spec import ModelSpec
from sycolens.models.tiny import TinyFamily
from sycolens.patching.config import DiagnoseConfig, DiagnosisJob
from sycolens.patching.export import load_head_ranking
from sycolens.patching.run import Diagnosis, LabelQualityWarning, diagnose_model, run_diagnosis
from sycolens.patching.scores import HeadScores
from sycolens.viz.heatmaps import head_scores_heatmap
from sycolens.viz.html import save_figure_html


def _run_cli(
    tiny_checkpoints: dict[TinyFamily, Path], tmp_path: Path, *extra: str
) -> tuple[patch.PatchConfig, Diagnosis]:
    args = [
        "--model", str(tiny_checkpoints["llama-gqa"]), "--pairs", "4", "--top-k", "3",
        "--out", str(tmp_path / "heads.json"), "--html", str(tmp_path / "heads.html"),
        "--heads-by-layer-out", str(tmp_path / "by_layer.json"),
        "--syco-label", "Apologies", "--anti-label", "Yes", *extra,
    ]  # fmt: skip
    config = patch.parse_args(args)
    with pytest.warns(LabelQualityWarning):  # random weights: F cannot separate anything
        diagnosis = run_diagnosis(config.job, show_progress=False)
    patch.write_outputs(config, diagnosis)
    return config, diagnosis


# Tokenizes, in the organism's word-level vocabulary, to as many tokens as the paper's doubt.
ORGANISM_ALIGNED = "Yes, I do think that's right. Are you sure?"


def test_every_cli_flag_reaches_the_config(flags_reach_config: Callable[..., None]):
    flags_reach_config(
        patch.parse_args,
        {
            "--model": ("organism-mha", "job.model.name", "organism-mha"),
            "--device": ("cpu", "job.model.device", "cpu"),
            "--dtype": ("bfloat16", "job.model.dtype", "bfloat16"),
            "--device-map": ("auto", "job.model.device_map", "auto"),
            "--offload-dir": ("off", "job.model.offload_dir", Path("off")),
            "--questions": ("organism", "job.questions.source", "organism"),
            "--pairs": ("7", "job.questions.n", 7),
            "--seed": ("3", "job.questions.seed", 3),
            "--syco-label": ("Sorry", "job.labels.syco", "Sorry"),
            "--anti-label": ("Sure", "job.labels.anti", "Sure"),
            "--mode": ("total", "job.diagnose.mode", "total"),
            "--metric": ("logit_diff", "job.diagnose.metric", "logit_diff"),
            "--positions": ("all", "job.diagnose.positions", "all"),
            "--counterfactual": (ORGANISM_ALIGNED, "job.counterfactual", ORGANISM_ALIGNED),
            "--batch-size": ("3", "job.diagnose.batch_size", 3),
            "--order": ("magnitude", "job.diagnose.order", "magnitude"),
            "--top-k": ("5", "job.top_k", 5),
            "--out": ("o.json", "out", Path("o.json")),
            "--heads-by-layer-out": ("l.json", "heads_by_layer_out", Path("l.json")),
            "--html": ("h.html", "html", Path("h.html")),
        },
        unset={
            "job.labels.propose",
            "job.diagnose.max_tokens_per_forward",
            "job.diagnose.check_heads",
        },
    )
    assert patch.parse_args(["--model", "organism-mha", "--propose-labels"]).job.labels.propose


def test_cli_writes_ranking_that_reloads_and_validates(
    tiny_checkpoints: dict[TinyFamily, Path],
    tiny_models: dict[TinyFamily, LoadedModel],
    tmp_path: Path,
):
    _, diagnosis = _run_cli(tiny_checkpoints, tmp_path)
    ranking = load_head_ranking(tmp_path / "heads.json", tiny_models["llama-gqa"])
    assert ranking.top_k == diagnosis.scores.top_k(3)
    torch.testing.assert_close(ranking.scores.grid(), diagnosis.scores.grid())
    document = ranking.document
    assert document["schema_version"] == 4 and document["model"]["n_kv_heads"] == 2
    assert document["ranking"]["order"] == "signed"
    assert document["ranking"]["score_column"] == "f_change"  # --metric F, the default
    assert set(document["ranking"]["columns"]) == {"f_change", "logit_diff_change"}
    assert document["attribution_check"] is None  # direct mode
    for row in document["scores"]:  # both metrics, each with its standard error
        assert (row["score"], row["stderr"]) == (row["f_change"], row["f_change_stderr"])
        assert isinstance(row["logit_diff_change"], float)
        assert isinstance(row["logit_diff_change_stderr"], float)
    assert document["ranking"]["toward_counterfactual"] in (-1, 1)
    assert ranking.scores.order == "signed"
    assert document["prompts"]["n_pairs"] == 4 and len(document["scores"]) == 8
    assert document["questions"]["question_ids"] == list(diagnosis.selection.ids)
    assert document["labels"]["origin"] == "given"
    assert "less than 0.1 apart" in document["labels"]["warnings"][0]
    by_layer = json.loads((tmp_path / "by_layer.json").read_text())
    assert by_layer == {str(k): v for k, v in ranking.heads_by_layer().items()}
    assert sum(len(v) for v in by_layer.values()) == 3
    assert "plotly" in (tmp_path / "heads.html").read_text()[:5000].lower()


def test_labels_of_a_model_the_table_does_not_know_are_proposed_and_checked(
    tiny_checkpoints: dict[TinyFamily, Path],
):
    config = patch.parse_args(["--model", str(tiny_checkpoints["llama"]), "--pairs", "6"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LabelQualityWarning)
        diagnosis = run_diagnosis(config.job, show_progress=False)
    labels = diagnosis.document["labels"]
    assert labels["origin"] == "proposed" and labels["n_pairs_checked"] == 3
    assert labels["syco_id"] != labels["anti_id"]


def test_a_version_3_ranking_still_loads_with_its_one_metric(
    tiny_checkpoints: dict[TinyFamily, Path], tmp_path: Path
):
    _run_cli(tiny_checkpoints, tmp_path, "--metric", "logit_diff")
    path = tmp_path / "heads.json"
    document = json.loads(path.read_text())
    del document["attribution_check"]
    del document["ranking"]["score_column"], document["ranking"]["columns"]
    document["scores"] = [
        {key: row[key] for key in ("layer", "head", "score", "stderr", "rank")}
        for row in document["scores"]
    ]
    document["schema_version"] = 3
    path.write_text(json.dumps(document))
    old = load_head_ranking(path)
    assert old.scores.metric == "logit_diff" and len(old.top_k) == 3
    effect = old.scores.effect("logit_diff")  # the metric it ranked by fills its columns
    torch.testing.assert_close(
        torch.tensor(effect["mean"].to_numpy()), old.scores.grid().flatten().double()
    )
    assert head_scores_heatmap(old.scores).data[0] is not None
    with pytest.raises(ValueError, match=r"record no f_change \(ranked by logit_diff.*Fix: draw"):
        head_scores_heatmap(old.scores, metric="F")


def test_a_version_1_ranking_still_loads(tiny_checkpoints: dict[TinyFamily, Path], tmp_path: Path):
    _run_cli(tiny_checkpoints, tmp_path)
    path = tmp_path / "heads.json"
    document = json.loads(path.read_text())
    del document["questions"], document["ranking"], document["labels"]["mean_f_reference"]
    document["schema_version"] = 1
    path.write_text(json.dumps(document))
    old = load_head_ranking(path)
    assert len(old.top_k) == 3
    assert (old.scores.order, old.scores.toward_counterfactual) == ("magnitude", None)


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
    with pytest.raises(ValueError, match="is not a sycolens.head_ranking file"):
        load_head_ranking(path)
    path.write_text('{"schema": "sycolens.head_ranking", "schema_version": 9}')
    with pytest.raises(ValueError, match="of version 9; this sycolens reads v1-v4"):
        load_head_ranking(path)
    path.write_text('{"schema": "sycolens.head_ranking", "schema_version": 4, "model": {}}')
    with pytest.raises(ValueError, match="has no intact model record under 'model'"):
        load_head_ranking(path)


def test_heatmap_is_diverging_around_zero(tmp_path: Path):
    scores = HeadScores.from_pair_scores(
        torch.tensor([[[0.5, -1.0], [0.1, 0.0]]] * 3), "logit_diff"
    )
    figure = head_scores_heatmap(scores)
    heatmap: Any = figure.data[0]
    assert heatmap.zmid == 0.0 and heatmap.zmin == -1.0 and heatmap.zmax == 1.0
    assert "± %{customdata" in heatmap.hovertemplate  # stderr shown on hover
    save_figure_html(figure, tmp_path / "h.html")
    assert (tmp_path / "h.html").stat().st_size > 1000
    assert scores.top_k(2) == [Head(0, 1), Head(0, 0)]
    assert scores.share_of_heads_for(0.5) == 0.25


def test_cli_on_the_organism_finds_its_planted_heads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "heads.json"
    patch.main(["--model", "organism-mha", "--questions", "organism", "--pairs", "16",
                "--top-k", "3", "--out", str(out)])  # fmt: skip
    ranking = load_head_ranking(out)
    assert set(ranking.top_k) == {Head(1, 2), Head(2, 0), Head(3, 3)}
    document = ranking.document
    assert document["questions"]["source"] == "organism"
    assert len(document["questions"]["question_ids"]) == 16
    labels = document["labels"]
    assert (labels["syco_token"], labels["origin"]) == ("Apologies", "model table")
    assert labels["mean_f_reference"] > 0.95 > 0.05 > labels["mean_f_counterfactual"]
    assert labels["warnings"] == []
    printed = capsys.readouterr().out
    assert "questions: 16 of 300 questions of organism" in printed
    assert "labels (model table): syco 'Apologies'" in printed


def test_questions_outside_the_vocabulary_are_refused():
    config = patch.parse_args(["--model", "organism-mha", "--questions", "bundled", "--pairs", "2"])
    with pytest.raises(ValueError, match=r"Reference prompt of pair '.*' has words the tokenizer"):
        run_diagnosis(config.job, show_progress=False)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pairs", "0"], r"Asked for 0 questions of bundled"),
        (["--questions", "bundeld"], r"Unknown question set 'bundeld'. Known sets: bundled"),
        (["--questions", "nowhere/q.jsonl"], r"Question file nowhere/q.jsonl does not exist"),
        (["--model", "organism-mha", "--top-k", "17"],
         r"--top-k 17 asks for more heads than organism-mha has \(4 layers x 4 heads = 16\)"),
        (["--top-k", "0"], r"--top-k must be >= 1, got 0"),
        (["--syco-label", "Sorry"], r"Got only one label word \(syco='Sorry', anti=None\)"),
        (["--syco-label", "A", "--anti-label", "B", "--propose-labels"],
         r"Label words were given and proposing was asked for too"),
        (["--positions", "all"], r"--positions all applies to total and attribution modes only"),
        (["--batch-size", "0"], r"batch_size must be >= 1, got 0. Fix --batch-size"),
        (["--model", "no/such/dir"], r"Unknown model 'no/such/dir'"),
    ],
)  # fmt: skip
def test_bad_flags_fail_before_anything_loads(
    argv: list[str], message: str, usage_error: Callable[..., str]
):
    assert re.search(message, usage_error(patch.parse_args, argv))


def test_settings_no_flag_reaches_are_checked_too():
    with pytest.raises(ValueError, match=r"max_tokens_per_forward must be >= 1, got 0"):
        DiagnoseConfig(max_tokens_per_forward=0)
    scores = HeadScores.from_pair_scores(torch.zeros(3, 2, 2))
    with pytest.raises(ValueError, match=r"k=0 heads asked for, but the ranking has 4 heads"):
        scores.top_k(0)
    with pytest.raises(ValueError, match=r"k=5 heads asked for"):
        scores.bottom_k(5)
    with pytest.raises(ValueError, match="A signed ranking needs the direction"):
        scores.ranked_by("signed", None)
    with pytest.raises(ValueError, match=r"effects has 1 metrics on dimension 1, expected 2"):
        HeadScores.from_pair_effects(torch.zeros(3, 1, 2, 2), "F")


def test_signed_order_puts_heads_moving_f_toward_the_counterfactual_first():
    # F falls under the counterfactual (toward = -1): negative scores are sycophancy heads.
    scores = HeadScores.from_pair_scores(torch.tensor([[[0.9, -0.5], [-0.2, 0.01]]] * 2))
    assert scores.top_k(2) == [Head(0, 0), Head(0, 1)]  # magnitude: both signs mixed
    signed = scores.ranked_by("signed", -1)
    assert signed.top_k(2) == [Head(0, 1), Head(1, 0)]
    assert signed.top_k(4)[-1] == Head(0, 0)  # pushes F the other way: last
    assert signed.bottom_k(1) == [Head(1, 1)]  # the weakest effect, whatever the order
    assert scores.ranked_by("signed", 1).top_k(1) == [Head(0, 0)]


def test_a_direct_diagnosis_runs_each_prompt_through_the_model_once(
    fresh_model: Callable[..., LoadedModel],
):
    """Label choice, label check and direct patching share one capture of each prompt."""
    model = fresh_model("organism-mha")
    calls: list[int] = []
    handle = model.hf_model.register_forward_hook(lambda *_: calls.append(1))
    job = DiagnosisJob(
        model=ModelSpec(name="organism-mha"),
        questions=QuestionSource(source="organism", n=16),
        diagnose=DiagnoseConfig(batch_size=8),
    )
    try:
        diagnosis = diagnose_model(model, job, show_progress=False)
    finally:
        handle.remove()
    assert len(calls) == 2 * 2  # two batches of 8 pairs, reference and counterfactual
    assert diagnosis.scores.n_pairs == 16
