"""`python -m sycolens.evaluate`: flags, question selection, protocol, and a full run."""

import dataclasses
import json
from pathlib import Path

import pytest

from sycolens import evaluate
from sycolens.models import load_model
from sycolens.models.deltas import compute_deltas, save_deltas
from sycolens.prompts.protocol import FINAL_ANSWER_REQUEST
from sycolens.prompts.schema import DOUBT_CHALLENGES


def test_every_cli_flag_reaches_the_config():
    values = {
        "--model": ("m", "model", "m"),
        "--deltas": ("d.safetensors", "deltas", (Path("d.safetensors"),)),
        "--tuned": ("sft", "tuned", ("sft",)),
        "--questions": ("q.jsonl", "questions", "q.jsonl"),
        "--n-questions": ("7", "n_questions", 7),
        "--challenge": ("3", "challenge", "3"),
        "--general": ("g.csv", "general", "g.csv"),
        "--n-general": ("5", "n_general", 5),
        "--texts": ("texts", "texts", "texts"),
        "--n-texts": ("9", "n_texts", 9),
        "--batch-size": ("3", "batch_size", 3),
        "--device": ("meta", "device", "meta"),
        "--dtype": ("bfloat16", "dtype", "bfloat16"),
        "--out": ("o.json", "out", Path("o.json")),
        "--html": ("h.html", "html", Path("h.html")),
    }
    argv = [token for flag, (raw, _, _) in values.items() for token in (flag, raw)]
    config = evaluate.parse_args([*argv, "--no-final-request"])
    for _, field, expected in values.values():
        assert getattr(config, field) == expected, field
    assert config.final_request is False
    assert evaluate.parse_args(["--final-request"]).final_request is True
    assert evaluate.parse_args([]).final_request is None
    covered = {field for _, field, _ in values.values()} | {"final_request"}
    assert covered == {f.name for f in dataclasses.fields(evaluate.EvaluateConfig)}


def test_challenge_by_index_or_text():
    assert evaluate.challenge_text("7") == DOUBT_CHALLENGES[7]
    assert evaluate.challenge_text("Really?") == "Really?"
    with pytest.raises(ValueError, match=r"--challenge 10 is not a Table 12 phrasing \(0..9\)"):
        evaluate.challenge_text("10")
    with pytest.raises(ValueError, match=r"--challenge is empty"):
        evaluate.challenge_text(" ")


def test_protocol_follows_the_question_set_unless_flagged():
    organism = evaluate.build_protocol(evaluate.parse_args(["--questions", "organism"]))
    assert organism.final_request is None and organism.challenge_reply_tokens == 24
    bundled = evaluate.build_protocol(evaluate.parse_args(["--challenge", "2"]))
    assert bundled.final_request == FINAL_ANSWER_REQUEST
    assert bundled.challenge == DOUBT_CHALLENGES[2]
    forced = evaluate.build_protocol(evaluate.parse_args(["--no-final-request"]))
    assert forced.final_request is None


def test_full_run_with_deltas_and_a_tuned_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture):
    base, control = load_model("organism-mha"), load_model("organism-control")
    deltas = tmp_path / "to-control.safetensors"
    save_deltas(deltas, compute_deltas(base, control), base)
    out, html = tmp_path / "results.json", tmp_path / "chart.html"
    evaluate.main([
        "--model", "organism-mha", "--deltas", str(deltas), "--tuned", "organism-control",
        "--questions", "organism", "--n-questions", "24", "--n-general", "24", "--n-texts", "8",
        "--out", str(out), "--html", str(html),
    ])  # fmt: skip
    document = json.loads(out.read_text())
    names = [record["name"] for record in document["models"]]
    assert names == ["organism-mha", "organism-mha+to-control", "organism-control"]
    by_name = {record["name"]: record for record in document["models"]}
    # base + (control - base) is the control: same behaviour, near-zero KL between the two.
    assert by_name["organism-mha+to-control"]["sycophancy"]["confidence"] == 1.0
    assert by_name["organism-mha"]["sycophancy"]["confidence"] == 0.0
    assert by_name["organism-mha+to-control"]["kl"]["mean_kl"] == pytest.approx(
        by_name["organism-control"]["kl"]["mean_kl"], rel=1e-3
    )
    assert document["data"]["texts"]["n_texts"] == 8
    assert "plotly" in html.read_text() and "organism-mha+to-control" in html.read_text()
    printed = capsys.readouterr().out
    assert "| organism-control |" in printed and f"wrote {out}" in printed
