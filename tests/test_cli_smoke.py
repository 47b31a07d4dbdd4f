"""Every CLI run as a user runs it, on the real default model at its smallest useful size.

The last round's crash (the weights fingerprint on tensors past 2^24 elements) hid because every
test model was tiny: these run `python -m sycolens.<door>` in a subprocess on
smollm2-135m-instruct, and reload and validate what it wrote.
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
from sycolens.patching.export import load_head_ranking
from sycolens.pipeline.config import DEMO_PARTS, SMOKE_SIZES
from sycolens.schemas import schema_for

MODEL = "smollm2-135m-instruct"
# End-to-end tier: every test here starts `python -m sycolens.<door>` in a subprocess.
pytestmark = pytest.mark.slow


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def smollm2_ranking(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Runs `python -m sycolens.patch` on SmolLM2 once; returns its folder and what it printed."""
    folder = tmp_path_factory.mktemp("patch")
    done = _run("sycolens.patch", "--model", MODEL, "--pairs", "2", "--mode", "direct",
                "--top-k", "10", "--out", str(folder / "heads.json"),
                "--heads-by-layer-out", str(folder / "l.json"),
                "--html", str(folder / "h.html"))  # fmt: skip
    return folder, done.stdout


@pytest.mark.smollm2
def test_patch_on_smollm2_writes_a_ranking_that_reloads(
    smollm2: LoadedModel, smollm2_ranking: tuple[Path, str]
):
    folder, printed = smollm2_ranking
    out, by_layer, html = folder / "heads.json", folder / "l.json", folder / "h.html"
    ranking = load_head_ranking(out, smollm2)  # same weights: no warning (warnings are errors)
    assert len(ranking.top_k) == 10 and len(ranking.document["scores"]) == 270
    assert len(ranking.document["questions"]["question_ids"]) == 2
    assert ranking.document["ranking"]["order"] == "signed"
    labels = ranking.document["labels"]
    assert (labels["syco_word"], labels["anti_word"], labels["origin"]) == (
        "No",
        "Yes",
        "model table",
    )
    assert sum(len(heads) for heads in json.loads(by_layer.read_text()).values()) == 10
    assert "plotly" in html.read_text()[:5000].lower()
    assert "labels (model table): syco 'No'" in printed and f"wrote {out}" in printed


@pytest.mark.smollm2
def test_ablate_on_smollm2_writes_a_knockout_curve(smollm2_ranking: tuple[Path, str]):
    folder, _ = smollm2_ranking
    out, html = folder / "ko.json", folder / "ko.html"
    done = _run("sycolens.ablate", "--model", MODEL, "--heads", str(folder / "heads.json"),
                "--n-questions", "2", "--ks", "1,3", "--out", str(out),
                "--html", str(html))  # fmt: skip
    document = json.loads(out.read_text())
    assert document["schema"] == "sycolens.knockout_curve"
    assert len(document["rows"]) == 1 + 2 * (1 + 3 + 1)
    ranked_on = json.loads((folder / "heads.json").read_text())["questions"]["question_ids"]
    assert not set(ranked_on) & set(document["questions"]["question_ids"])
    assert document["baseline"]["n_questions"] == 2
    assert "contrast" in done.stdout and "plotly" in html.read_text()[:5000].lower()


@pytest.mark.smollm2
def test_attention_on_smollm2_writes_views_and_a_test(smollm2_ranking: tuple[Path, str]):
    folder, _ = smollm2_ranking
    out, data = folder / "attn.html", folder / "attn.json"
    done = _run("sycolens.attention", "--model", MODEL, "--heads", str(folder / "heads.json"),
                "--prompts", "2", "--views", "1", "--html", str(out),
                "--out", str(data))  # fmt: skip
    document = json.loads(data.read_text())
    assert document["schema"] == "sycolens.challenge_attention"
    assert len(document["heads"]) == 270 and document["ranking"]["top_n"] == 10
    assert 0.0 <= document["test"]["p_value"] <= 1.0
    assert out.read_text().count("CircuitsVis.render") == 1 and "Mann-Whitney" in done.stdout


@pytest.mark.smollm2
def test_evaluate_on_smollm2_writes_a_report_that_reloads(smollm2: LoadedModel, tmp_path: Path):
    del smollm2  # loaded (and cached) once for the session
    out, html = tmp_path / "results.json", tmp_path / "r.html"
    _run("sycolens.evaluate", "--model", MODEL, "--n-questions", "2", "--n-general", "2",
         "--n-texts", "2", "--out", str(out), "--html", str(html))  # fmt: skip
    report = EvaluationReport.read(out)
    (record,) = report.records
    assert record["name"] == MODEL and record["sycophancy"]["n_questions"] == 2
    assert len(record["transcripts"]) == 2 and len(record["transcripts"][0]["messages"]) == 6
    data = report.document["data"]
    assert len(data["questions"]["question_ids"]) == 2 and data["general"]["n_used"] == 2
    assert "plotly" in html.read_text()[:5000].lower()
    assert set(record["first_token"]) >= {"first_token_confidence", "agreement"}
    # Re-judging the real model's report with the same judge changes nothing.
    _run("sycolens.evaluate", "rejudge", str(out))
    rejudged = EvaluationReport.read(out.with_suffix(".rejudged.json")).records[0]
    assert rejudged["sycophancy"] == record["sycophancy"]
    assert all(n == 0 for n in rejudged_changes(out).values())


def test_tune_and_merge_on_smollm2(smollm2: LoadedModel, tmp_path: Path):
    del smollm2  # loaded (and cached) once for the session
    out, other = tmp_path / "run", tmp_path / "other"
    _run("sycolens.tune", "--model", MODEL, "--random-heads", "--top-k", "2", "--n-questions", "1",
         "--steps", "1", "--batch-size", "2", "--out", str(out))  # fmt: skip
    document = json.loads((out / "tune.json").read_text())
    assert document["roles"] == ["query", "output"]  # grouped-query: W_Q and W_O only
    assert document["n_trainable"] == 2 * 2 * 576 * 64 and len(document["history"]) == 1
    assert (out / "deltas.safetensors").is_file() and (out / "model" / "config.json").is_file()
    _run("sycolens.tune", "--model", MODEL, "--random-heads", "1", "--top-k", "2",
         "--n-questions", "1", "--steps", "1", "--batch-size", "2", "--gradient-checkpointing",
         "--out", str(other))  # fmt: skip
    merged = tmp_path / "merged.safetensors"
    done = _run("sycolens.tune", "merge", str(out / "deltas.safetensors"),
                str(other / "deltas.safetensors"), "--out", str(merged))  # fmt: skip
    assert f"over {MODEL}: 4 heads" in done.stdout and merged.is_file()


@pytest.mark.slow
@pytest.mark.smollm2
def test_pipeline_on_smollm2_at_smoke_size_writes_a_whole_report(tmp_path: Path):
    """The pipeline CLI, every step on the real default model at --smoke sizes (minutes)."""
    done = _run("sycolens.pipeline", "--parts", "smollm2", "--smoke", "--out", str(tmp_path))
    assert "report.html" in done.stdout
    page = (tmp_path / "report.html").read_text()
    summary = json.loads((tmp_path / "pipeline.json").read_text())
    (part,) = summary["parts"]
    assert part["model"] == MODEL and len(part["top_heads"]) == SMOKE_SIZES.top_k
    smollm2 = DEMO_PARTS["smollm2"]
    assert len(part["evaluation"]) == 3 + smollm2.random_control  # base, SPT (top, random), SFT
    for name in ("heads.json", "knockouts.json", "attention.json", "evaluation.json"):
        (path,) = tmp_path.rglob(name)
        document = json.loads(path.read_text())
        jsonschema.validate(document, schema_for(document))
    jsonschema.validate(summary, schema_for(summary))
    assert "<section id='smollm2-" in page


def rejudged_changes(out: Path) -> dict[str, int]:
    document = json.loads(out.with_suffix(".rejudged.json").read_text())
    return document["rejudged"]["changes"][MODEL]


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
