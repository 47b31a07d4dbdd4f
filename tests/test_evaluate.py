"""`python -m sycolens.evaluate`: flags, checks before loading, protocol, and a full run."""

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from safetensors.torch import save_file

from sycolens import evaluate
from sycolens.evaluation.config import (
    EvaluationConfig,
    EvaluationJob,
    challenge_text,
    check_evaluation_job,
    protocol_for,
)
from sycolens.models import LoadedModel
from sycolens.models.deltas import compute_deltas, save_deltas
from sycolens.models.spec import ModelSpec
from sycolens.prompts.protocol import FINAL_ANSWER_REQUEST
from sycolens.prompts.schema import DOUBT_CHALLENGES

TINY_JUDGES = Path(__file__).parent / "evaluation"  # tiny_judges.py, a judge module
TINY_JUDGE = "tiny_judges:never_admits"


@pytest.fixture(autouse=True)
def _tiny_judges_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(TINY_JUDGES))


def test_every_cli_flag_reaches_the_config(flags_reach_config: Callable[..., None], tmp_path: Path):
    deltas = tmp_path / "d.safetensors"  # a header with a base, as tune writes (no tensors)
    save_file({}, str(deltas), metadata={"base_fingerprint": "0" * 64})
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("Some general text.")
    flags_reach_config(
        evaluate.parse_args,
        {
            "--model": ("organism-mha", "job.model.name", "organism-mha"),
            "--device": ("cpu", "job.model.device", "cpu"),
            "--dtype": ("bfloat16", "job.model.dtype", "bfloat16"),
            "--device-map": ("auto", "job.model.device_map", "auto"),
            "--offload-dir": ("off", "job.model.offload_dir", Path("off")),
            "--deltas": (str(deltas), "job.deltas", (deltas,)),
            "--tuned": ("organism-control", "job.tuned", ("organism-control",)),
            "--questions": ("bundled", "job.questions.source", "bundled"),  # it asks round 3
            "--n-questions": ("7", "job.questions.n", 7),
            "--seed": ("2", "job.questions.seed", 2),
            "--challenge": ("3", "job.evaluation.protocol.challenge", DOUBT_CHALLENGES[3]),
            "--answer-tokens": ("8", "job.evaluation.protocol.answer_tokens", 8),
            "--challenge-reply-tokens": ("9", "job.evaluation.protocol.challenge_reply_tokens", 9),
            "--final-answer-tokens": ("7", "job.evaluation.protocol.final_answer_tokens", 7),
            "--general": ("bundled", "job.general.source", "bundled"),
            "--n-general": ("5", "job.general.n", 5),
            "--texts": (str(tmp_path / "texts"), "job.texts", str(tmp_path / "texts")),
            "--n-texts": ("9", "job.n_texts", 9),
            "--judge": (TINY_JUDGE, "job.evaluation.judge", TINY_JUDGE),
            "--batch-size": ("3", "job.evaluation.batch_size", 3),
            "--out": ("o.json", "out", Path("o.json")),
            "--html": ("h.html", "html", Path("h.html")),
        },
        unset={
            "job.general.seed",  # the questions' seed, also used for general ability
            "job.evaluation.protocol.final_request",  # --final-request, checked below
            "job.evaluation.kl_max_tokens",
            "job.allow_other_weights",  # a switch, checked below
        },
    )
    assert evaluate.parse_args(["--allow-other-weights"]).job.allow_other_weights
    forced = evaluate.parse_args(["--questions", "organism", "--final-request"]).job
    assert forced.evaluation.protocol.final_request == FINAL_ANSWER_REQUEST
    assert evaluate.parse_args(["--no-final-request"]).job.evaluation.protocol.final_request is None
    assert evaluate.parse_args(["--n-general", "0"]).job.general is None


def test_default_general_ability_comes_from_the_same_set_or_bundled(tmp_path: Path):
    same = evaluate.parse_args(["--questions", "organism"]).job
    assert same.general is not None and same.general.source == "organism"
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"id": "a", "kind": "fact", "question": "Q?", "answer": "A"}) + "\n")
    mine = evaluate.parse_args(["--questions", str(path)]).job
    assert mine.general is not None and (mine.general.source, mine.general.n) == ("bundled", 64)


def test_challenge_by_index_or_text():
    assert challenge_text("7") == DOUBT_CHALLENGES[7]
    assert challenge_text("Really?") == "Really?"
    with pytest.raises(ValueError, match=r"--challenge 10 is not a Table 12 phrasing \(0..9\)"):
        challenge_text("10")
    with pytest.raises(ValueError, match=r"--challenge is empty"):
        challenge_text(" ")


def test_protocol_follows_the_question_set_unless_flagged():
    organism = protocol_for("organism")
    assert organism.final_request is None and organism.challenge_reply_tokens == 24
    bundled = protocol_for("bundled", challenge="2")
    assert bundled.final_request == FINAL_ANSWER_REQUEST
    assert bundled.challenge == DOUBT_CHALLENGES[2]
    assert protocol_for("bundled", final_request=False).final_request is None
    limited = protocol_for(
        "bundled", reply_limits={"answer_tokens": 8, "final_answer_tokens": None}
    )
    assert (limited.answer_tokens, limited.final_answer_tokens) == (8, bundled.final_answer_tokens)
    with pytest.raises(ValueError, match=r"answer_token is no reply limit\. Fix: one of answer_t"):
        protocol_for("bundled", reply_limits={"answer_token": 8})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--n-questions", "0"], r"Asked for 0 questions of bundled"),
        (["--questions", "bundeld"], r"Unknown question set 'bundeld'. Known sets: bundled"),
        (["--questions", "nowhere/q.jsonl"], r"Question file nowhere/q.jsonl does not exist"),
        (["--challenge", "12"], r"--challenge 12 is not a Table 12 phrasing"),
        (["--n-general", "-1"], r"--n-general must be >= 0, got -1"),
        (["--answer-tokens", "0"], r"--answer-tokens must be >= 1 token, got 0. Fix --answer"),
        (["--final-answer-tokens", "-2"], r"--final-answer-tokens must be >= 1 token, got -2"),
        (
            ["--questions", "organism", "--final-answer-tokens", "8"],
            r"--final-answer-tokens 8 limits round 3 .* Fix: drop --final-answer-tokens, or add",
        ),
        (["--deltas", "nowhere.safetensors"], r"Deltas file nowhere.safetensors does not exist"),
        (["--model", "no-such-model"], r"Unknown model 'no-such-model'"),
        (["--texts", "nowhere"], r"Text corpus nowhere does not exist"),
        (["--batch-size", "0"], r"batch_size must be >= 1, got 0"),
        (["--device", "gpu"], r"Device 'gpu' is not one of cpu, cuda"),
        (["--n-texts", "0"], r"--n-texts must be >= 1, got 0"),
        (["--judge", "stance"], r"--judge 'stance' does not name a function as MODULE:FUNCTION"),
        (["--judge", "no_such_module:judge"], r"module 'no_such_module' cannot be imported"),
        (["--judge", "tiny_judges:nothing"], r"module 'tiny_judges' has no 'nothing'. Fix --judge"),
        (["--judge", "tiny_judges:NOT_A_FUNCTION"], r"'NOT_A_FUNCTION' is a int, not a function"),
    ],
)
def test_bad_flags_fail_before_anything_loads(
    argv: list[str], message: str, usage_error: Callable[..., str]
):
    assert re.search(message, usage_error(evaluate.parse_args, argv))


def test_full_run_with_deltas_and_a_tuned_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture, fresh_model: Callable[..., LoadedModel]
):
    base, control = fresh_model("organism-mha"), fresh_model("organism-control")
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
    assert len(document["data"]["questions"]["question_ids"]) == 24
    assert document["data"]["general"]["skip"] == 24
    assert "plotly" in html.read_text() and "organism-mha+to-control" in html.read_text()
    printed = capsys.readouterr().out
    assert "| organism-control |" in printed and f"wrote {out}" in printed
    assert "questions: 24 of 300 questions of organism" in printed


def test_settings_checked_where_no_flag_reaches(tmp_path: Path):
    with pytest.raises(ValueError, match=r"kl_max_tokens must be >= 2 \(one token predicts"):
        EvaluationConfig(kl_max_tokens=1)
    pickled = tmp_path / "deltas.pt"
    pickled.write_bytes(b"")
    job = EvaluationJob(model=ModelSpec(name="organism-mha"), deltas=(pickled,))
    with pytest.raises(ValueError, match=r"is not \.safetensors; sycolens reads deltas only as"):
        check_evaluation_job(job)


def test_deltas_of_runs_with_one_folder_name_get_their_own_rows():
    from sycolens.evaluation.run import deltas_names

    one, other = Path("a/run/deltas.safetensors"), Path("b/run/deltas.safetensors")
    assert deltas_names((one, other)) == {one: "a/run", other: "b/run"}
    alone = Path("x/spt/deltas.safetensors")
    assert deltas_names((alone, Path("merged.safetensors"))) == {
        alone: "spt",
        Path("merged.safetensors"): "merged",
    }


def test_a_whole_models_weights_are_not_taken_as_deltas(
    tmp_path: Path, usage_error: Callable[..., str]
):
    import torch

    weights = tmp_path / "model.safetensors"
    save_file({"lm_head.weight": torch.zeros(2, 2)}, str(weights))
    message = usage_error(
        evaluate.parse_args, ["--model", "organism-mha", "--deltas", str(weights)]
    )
    assert f"Deltas file {weights} records no base model" in message and "--tuned" in message


def test_a_text_corpus_is_read_before_anything_loads(
    tmp_path: Path, usage_error: Callable[..., str]
):
    binary, empty, other = tmp_path / "t.txt", tmp_path / "empty", tmp_path / "t.bin"
    binary.write_bytes(b"text\n\x80\x81")
    empty.mkdir()
    other.write_text("text")
    for path, message in [
        (binary, r"t.txt:2: not UTF-8 text \(byte 0x80\)"),
        (empty, r"holds no usable text .*Fix: point at files with text"),
        (other, r"neither a .txt, a .jsonl file nor a folder. Fix: rename it"),
    ]:
        assert re.search(message, usage_error(evaluate.parse_args, ["--texts", str(path)]))


def test_a_judge_that_fails_names_the_question_and_keeps_finished_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "results.json"
    argv = ["--model", "organism-mha", "--tuned", "organism-control", "--questions", "organism",
            "--n-questions", "4", "--n-general", "0", "--n-texts", "2", "--out", str(out),
            "--judge", "tiny_judges:fails_on_firm_replies"]  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(argv)
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert re.search(
        r"Judge tiny_judges:fails_on_firm_replies failed on question 'organism-", error
    )
    assert f"Every model finished is kept in {out}" in error
    document = json.loads(out.read_text())
    assert [m["name"] for m in document["models"]] == ["organism-mha"]
    assert document["judge"] == "tiny_judges:fails_on_firm_replies"
