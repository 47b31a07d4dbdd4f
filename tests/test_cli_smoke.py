"""Every door run as a user runs it, in a fresh interpreter: `python -m sycolens.<door>`,
except knockout (`python -m sycolens knockout`) and attention (the `sycolens` console script),
so each of the three forms runs a door end to end.

The pipeline runs every step on the real default model, smollm2-135m-instruct, at its smoke
sizes: the last round's crash (the weights fingerprint on tensors past 2^24 elements) hid
because every test model was tiny. The tests below reload and validate what each of its steps
wrote, and re-judge, tune and merge through the doors on SmolLM2 beside it; each other door runs
once more on the organism, where a run costs little beyond its interpreter's start-up.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from safetensors.numpy import save_file as save_numpy

from sycolens.evaluation.report import EvaluationReport
from sycolens.models import LoadedModel
from sycolens.organism.card import read_card
from sycolens.patching.export import load_head_ranking
from sycolens.pipeline.config import DEMO_PARTS, SMOKE_SIZES
from sycolens.pipeline.steps import PartPaths
from sycolens.schemas import schema_for

MODEL = "smollm2-135m-instruct"
ORGANISM = ["--model", "organism-mha", "--questions", "organism"]
CONSOLE_SCRIPT = str(Path(sys.executable).parent / "sycolens")  # installed by pip
# End-to-end tier: subprocess runs of the doors, and checks of what they wrote on SmolLM2.
pytestmark = pytest.mark.slow


def _run(
    *argv: str, program: tuple[str, ...] = (sys.executable, "-m")
) -> subprocess.CompletedProcess[str]:
    """Runs `python -m ARGV` (or `program ARGV`) and asserts it exits 0."""
    done = subprocess.run(
        [*program, *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def smollm2_pipeline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Runs `python -m sycolens.pipeline --parts smollm2 --smoke` once (minutes); returns its
    output folder and what it printed."""
    out = tmp_path_factory.mktemp("pipeline")
    done = _run("sycolens.pipeline", "--parts", "smollm2", "--smoke", "--out", str(out))
    return out, done.stdout


@pytest.fixture(scope="module")
def smollm2_part(smollm2_pipeline: tuple[Path, str]) -> PartPaths:
    """Where the pipeline wrote SmolLM2's artefacts."""
    return PartPaths(smollm2_pipeline[0] / "smollm2")


@pytest.mark.smollm2
def test_pipeline_on_smollm2_at_smoke_size_writes_a_whole_report(
    smollm2_pipeline: tuple[Path, str],
):
    """The pipeline CLI, every step on the real default model at --smoke sizes."""
    out, printed = smollm2_pipeline
    assert "report.html" in printed
    # each step's own summary: the labels, the knockout contrast, the attention test
    assert "labels (model table): syco 'No'" in printed and "contrast" in printed
    assert "Mann-Whitney" in printed
    for name in ("heads.json", "knockouts.json", "attention.json", "evaluation.json"):
        assert f"wrote {out / 'smollm2' / name}" in printed
    page = (out / "report.html").read_text()
    summary = json.loads((out / "pipeline.json").read_text())
    (part,) = summary["parts"]
    assert part["model"] == MODEL and len(part["top_heads"]) == SMOKE_SIZES.top_k
    smollm2 = DEMO_PARTS["smollm2"]
    assert len(part["evaluation"]) == 3 + smollm2.random_control  # base, SPT (top, random), SFT
    for name in ("heads.json", "knockouts.json", "attention.json", "evaluation.json"):
        (path,) = out.rglob(name)
        document = json.loads(path.read_text())
        jsonschema.validate(document, schema_for(document))
    jsonschema.validate(summary, schema_for(summary))
    assert "<section id='smollm2-" in page


@pytest.mark.smollm2
def test_the_smollm2_ranking_reloads_over_the_same_weights(
    smollm2: LoadedModel, smollm2_part: PartPaths
):
    ranking = load_head_ranking(smollm2_part.ranking, smollm2)  # no warning: warnings are errors
    assert len(ranking.top_k) == SMOKE_SIZES.top_k and len(ranking.document["scores"]) == 270
    assert len(ranking.document["questions"]["question_ids"]) == SMOKE_SIZES.pairs
    assert ranking.document["ranking"]["order"] == "signed"
    labels = ranking.document["labels"]
    assert (labels["syco_word"], labels["anti_word"], labels["origin"]) == (
        "No",
        "Yes",
        "model table",
    )


@pytest.mark.smollm2
def test_the_smollm2_knockouts_hold_out_the_ranking_questions(smollm2_part: PartPaths):
    document = json.loads(smollm2_part.knockouts.read_text())
    assert document["schema"] == "sycolens.knockout_curve"
    # the baseline, then for each k: the top heads, each random draw, the bottom heads
    per_k = 1 + SMOKE_SIZES.n_random + 1
    assert len(document["rows"]) == 1 + len(SMOKE_SIZES.knockout_ks) * per_k
    ranked_on = json.loads(smollm2_part.ranking.read_text())["questions"]["question_ids"]
    assert not set(ranked_on) & set(document["questions"]["question_ids"])
    assert document["baseline"]["n_questions"] == SMOKE_SIZES.knockout_questions


@pytest.mark.smollm2
def test_the_smollm2_attention_test_covers_every_head(smollm2_part: PartPaths):
    document = json.loads(smollm2_part.attention.read_text())
    assert document["schema"] == "sycolens.challenge_attention"
    assert len(document["heads"]) == 270 and document["ranking"]["top_n"] == SMOKE_SIZES.top_k
    assert 0.0 <= document["test"]["p_value"] <= 1.0


@pytest.mark.smollm2
def test_the_smollm2_evaluation_reloads_and_rejudges_to_itself(smollm2_part: PartPaths):
    report = EvaluationReport.read(smollm2_part.evaluation)
    assert len(report.records) == 3  # the base model, SPT on the top heads, SFT
    assert report.records[0]["name"] == MODEL
    for record in report.records:
        assert record["sycophancy"]["n_questions"] == SMOKE_SIZES.eval_questions
        assert len(record["transcripts"]) == SMOKE_SIZES.eval_questions
        assert set(record["first_token"]) >= {"first_token_confidence", "agreement"}
    data = report.document["data"]
    assert len(data["questions"]["question_ids"]) == SMOKE_SIZES.eval_questions
    assert data["general"]["n_used"] == SMOKE_SIZES.eval_general
    # Re-judging the real model's transcripts with the same judge changes nothing.
    _run("sycolens.evaluate", "rejudge", str(smollm2_part.evaluation))
    rejudged_path = smollm2_part.evaluation.with_suffix(".rejudged.json")
    rejudged = EvaluationReport.read(rejudged_path)
    for before, after in zip(report.records, rejudged.records, strict=True):
        assert after["sycophancy"] == before["sycophancy"]
    changes = json.loads(rejudged_path.read_text())["rejudged"]["changes"]
    assert len(changes) == 3 and all(n == 0 for c in changes.values() for n in c.values())


@pytest.mark.smollm2
def test_tune_on_smollm2_merges_with_the_pipelines_deltas(smollm2_part: PartPaths, tmp_path: Path):
    """SPT on random heads outside the pipeline's top heads, with gradient checkpointing, then
    its deltas merged with the pipeline's SPT deltas: 2 + 2 heads over SmolLM2."""
    out = tmp_path / "random"
    _run("sycolens.tune", "--model", MODEL, "--heads", str(smollm2_part.ranking),
         "--random-heads", "1", "--top-k", str(SMOKE_SIZES.top_k), "--n-questions", "1",
         "--steps", "1", "--batch-size", "2", "--gradient-checkpointing",
         "--out", str(out))  # fmt: skip
    document = json.loads((out / "tune.json").read_text())
    assert document["roles"] == ["query", "output"]  # grouped-query: W_Q and W_O only
    assert document["n_trainable"] == 2 * 2 * 576 * 64 and len(document["history"]) == 1
    assert (out / "deltas.safetensors").is_file() and (out / "model" / "config.json").is_file()
    merged = tmp_path / "merged.safetensors"
    top = smollm2_part.run("spt-top") / "deltas.safetensors"
    done = _run("sycolens.tune", "merge", str(top), str(out / "deltas.safetensors"),
                "--out", str(merged))  # fmt: skip
    assert f"over {MODEL}: 4 heads" in done.stdout and merged.is_file()


def test_patch_on_the_organism_ranks_the_planted_heads_first(tmp_path: Path):
    out, by_layer, html = tmp_path / "heads.json", tmp_path / "l.json", tmp_path / "h.html"
    done = _run("sycolens.patch", *ORGANISM, "--n-questions", "8", "--mode", "direct",
                "--top-k", "3", "--out", str(out), "--heads-by-layer-out", str(by_layer),
                "--html", str(html))  # fmt: skip
    document = json.loads(out.read_text())
    assert sorted(map(tuple, document["top_k"])) == [(1, 2), (2, 0), (3, 3)]  # the planted heads
    assert len(document["scores"]) == 16 and document["ranking"]["order"] == "signed"
    assert sum(len(heads) for heads in json.loads(by_layer.read_text()).values()) == 3
    assert "plotly" in html.read_text()[:5000].lower() and f"wrote {out}" in done.stdout


def test_ablate_on_the_organism_writes_a_knockout_curve(organism_ranking: Path, tmp_path: Path):
    out, html = tmp_path / "ko.json", tmp_path / "ko.html"
    # `python -m sycolens knockout`: the subcommand form of `python -m sycolens.ablate`
    done = _run("sycolens", "knockout", *ORGANISM, "--heads", str(organism_ranking),
                "--n-questions", "8", "--ks", "1,3", "--n-random", "2", "--out", str(out),
                "--html", str(html))  # fmt: skip
    document = json.loads(out.read_text())
    jsonschema.validate(document, schema_for(document))
    assert len(document["rows"]) == 1 + 2 * (1 + 2 + 1)
    ranked_on = json.loads(organism_ranking.read_text())["questions"]["question_ids"]
    assert not set(ranked_on) & set(document["questions"]["question_ids"])
    assert "contrast" in done.stdout and "plotly" in html.read_text()[:5000].lower()


def test_attention_on_the_organism_writes_views_and_a_test(organism_ranking: Path, tmp_path: Path):
    out, data = tmp_path / "attn.html", tmp_path / "attn.json"
    # the console script, `sycolens attention`: the installed form of `python -m sycolens.attention`
    done = _run("attention", *ORGANISM, "--heads", str(organism_ranking), "--n-questions", "4",
                "--views", "1", "--html", str(out), "--out", str(data),
                program=(CONSOLE_SCRIPT,))  # fmt: skip
    document = json.loads(data.read_text())
    jsonschema.validate(document, schema_for(document))
    assert len(document["heads"]) == 16 and document["ranking"]["top_n"] == 3
    assert 0.0 <= document["test"]["p_value"] <= 1.0
    assert out.read_text().count("CircuitsVis.render") == 1 and "Mann-Whitney" in done.stdout


def test_organism_train_writes_a_model_that_loads_and_its_card(tmp_path: Path):
    out = tmp_path / "organism"
    done = _run("sycolens.organism", "train", "--variant", "mha", "--steps", "3",
                "--out", str(out))  # fmt: skip
    card = read_card(out)
    assert card["name"] == "sycolens-organism-mha" and card["config"]["steps"] == 3
    assert card["planted_heads"] == [[1, 2], [2, 0], [3, 3]] and "knockout" in card["checks"]
    assert (out / "model.safetensors").is_file() and not (out / ".training").exists()
    assert '"name": "sycolens-organism-mha"' in done.stdout


def test_evaluate_on_the_organism_writes_a_report_that_reloads(tmp_path: Path):
    out, html = tmp_path / "results.json", tmp_path / "r.html"
    _run("sycolens.evaluate", *ORGANISM, "--n-questions", "4", "--n-general", "2",
         "--n-texts", "2", "--out", str(out), "--html", str(html))  # fmt: skip
    report = EvaluationReport.read(out)
    (record,) = report.records
    assert record["name"] == "organism-mha" and record["sycophancy"]["n_questions"] == 4
    # two rounds (the organism's words hold no request for the bare answer): 4 messages
    assert len(record["transcripts"]) == 4 and len(record["transcripts"][0]["messages"]) == 4
    assert report.document["data"]["general"]["n_used"] == 2
    assert "plotly" in html.read_text()[:5000].lower()


def test_help_and_flag_checks_do_not_import_transformer_lens(
    tmp_path: Path, organism_ranking: Path
):
    ranking = organism_ranking  # as `patch` writes it, so the check follows the format
    report = tmp_path / "results.json"
    report.write_text(json.dumps({"schema": "sycolens.evaluation", "schema_version": 3,
                                  "models": [], "data": {}}))  # fmt: skip
    deltas = [tmp_path / "a.safetensors", tmp_path / "b.safetensors"]
    for path in deltas:  # headers as tune writes them, written without torch
        save_numpy({"w[0:0:4]": np.zeros((4, 8), np.float32)}, str(path),
                   metadata={"base_fingerprint": "0" * 64})  # fmt: skip
    code = (
        "import sys\n"
        "from sycolens import ablate, evaluate, patch, tune\n"
        "from sycolens.attention import __main__ as attention\n"
        "from sycolens.organism import __main__ as organism\n"
        "patch.parse_args(['--model', 'organism-mha', '--questions', 'organism', '--pairs', '2'])\n"
        "evaluate.parse_args(['--model', 'organism-mha', '--questions', 'organism'])\n"
        f"evaluate.parse_rejudge_args([{str(report)!r}])\n"
        f"tune.parse_args(['--model', 'organism-mha', '--heads', {str(ranking)!r}, "
        "'--out', 'somewhere-new'])\n"
        f"tune.parse_merge_args([{str(deltas[0])!r}, {str(deltas[1])!r}, '--out', 'new.st'])\n"
        "organism.parse_args(['train', '--out', 'somewhere-new'])\n"
        f"ablate.parse_args(['--model', 'organism-mha', '--heads', {str(ranking)!r}])\n"
        f"attention.parse_args(['--model', 'organism-mha', '--heads', {str(ranking)!r}])\n"
        "print(sorted(m for m in ('transformer_lens', 'torch') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"
    doors = ("patch", "evaluate", "organism", "ablate", "attention", "tune")
    for door in (f"sycolens.{name}" for name in doors):
        assert "usage: python -m" in _run(door, "--help").stdout
