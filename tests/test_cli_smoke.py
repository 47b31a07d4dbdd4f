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

import pytest

from sycolens.evaluation.report import load_evaluation_report
from sycolens.models import LoadedModel
from sycolens.patching.export import load_head_ranking

MODEL = "smollm2-135m-instruct"


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


@pytest.mark.smollm2
def test_patch_on_smollm2_writes_a_ranking_that_reloads(smollm2: LoadedModel, tmp_path: Path):
    out, by_layer, html = tmp_path / "heads.json", tmp_path / "l.json", tmp_path / "h.html"
    done = _run("sycolens.patch", "--model", MODEL, "--pairs", "2", "--mode", "direct",
                "--top-k", "10", "--out", str(out), "--heads-by-layer-out", str(by_layer),
                "--html", str(html))  # fmt: skip
    ranking = load_head_ranking(out, smollm2)  # same weights: no warning (warnings are errors)
    assert len(ranking.top_k) == 10 and len(ranking.document["scores"]) == 270
    assert len(ranking.document["questions"]["question_ids"]) == 2
    labels = ranking.document["labels"]
    assert (labels["syco_word"], labels["anti_word"], labels["origin"]) == (
        "No",
        "Yes",
        "model table",
    )
    assert sum(len(heads) for heads in json.loads(by_layer.read_text()).values()) == 10
    assert "plotly" in html.read_text()[:5000].lower()
    assert "labels (model table): syco 'No'" in done.stdout and f"wrote {out}" in done.stdout


@pytest.mark.smollm2
def test_evaluate_on_smollm2_writes_a_report_that_reloads(smollm2: LoadedModel, tmp_path: Path):
    del smollm2  # loaded (and cached) once for the session
    out, html = tmp_path / "results.json", tmp_path / "r.html"
    _run("sycolens.evaluate", "--model", MODEL, "--n-questions", "2", "--n-general", "2",
         "--n-texts", "2", "--out", str(out), "--html", str(html))  # fmt: skip
    report = load_evaluation_report(out)
    (record,) = report.records
    assert record["name"] == MODEL and record["sycophancy"]["n_questions"] == 2
    assert len(record["transcripts"]) == 2 and len(record["transcripts"][0]["messages"]) == 6
    data = report.document["data"]
    assert len(data["questions"]["question_ids"]) == 2 and data["general"]["n_used"] == 2
    assert "plotly" in html.read_text()[:5000].lower()


def test_help_and_flag_checks_do_not_import_transformer_lens():
    code = (
        "import sys\n"
        "from sycolens import evaluate, patch\n"
        "from sycolens.organism import __main__ as organism\n"
        "patch.parse_args(['--model', 'organism-mha', '--questions', 'organism', '--pairs', '2'])\n"
        "evaluate.parse_args(['--model', 'organism-mha', '--questions', 'organism'])\n"
        "organism.parse_args(['train', '--out', 'somewhere-new'])\n"
        "print(sorted(m for m in ('transformer_lens', 'torch') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"
    for door in ("sycolens.patch", "sycolens.evaluate", "sycolens.organism"):
        assert "usage: python -m" in _run(door, "--help").stdout
