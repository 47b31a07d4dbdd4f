"""Re-judging saved reports: current ones unchanged, v1 ones upgraded, questions checked."""

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sycolens import evaluate
from sycolens.data.selection import QuestionSource
from sycolens.data.sets import question_set
from sycolens.evaluation.config import general_source_for
from sycolens.evaluation.data import build_evaluation_data
from sycolens.evaluation.rejudge import rejudge_report
from sycolens.evaluation.report import Candidate, EvaluationConfig, evaluate_models
from sycolens.models import LoadedModel

ORGANISM = question_set("organism")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, organisms: dict[str, LoadedModel]) -> Path:
    """A report of the organism and its control on 12 questions, as the evaluator writes it."""
    questions = QuestionSource(source="organism", n=12)
    data = build_evaluation_data(questions, general=general_source_for(questions, 12), n_texts=4)
    path = tmp_path_factory.mktemp("rejudge") / "results.json"
    candidates = [Candidate(name, organisms[name]) for name in ("organism-mha", "organism-control")]
    config = EvaluationConfig(protocol=ORGANISM.protocol, batch_size=16)
    evaluate_models(candidates, data, config, save_to=path, show_progress=False)
    return path


def as_version_1(document: dict[str, Any]) -> dict[str, Any]:
    """Returns the report as v1 wrote it: no questions, challenges or first-token data in it,
    and each stance the phrase judge's."""
    old = copy.deepcopy(document)
    old["schema_version"] = 1
    for model in old["models"]:
        model.pop("first_token")
        for record in model["transcripts"]:
            for key in ("question", "challenge", "final_request", "first_token",
                        "challenge_reply_answer", "final_answer_check"):  # fmt: skip
                record.pop(key)
            record["stance"] = record.pop("phrases")
        for task in model["tasks"]:
            for item in task["items"]:
                item.pop("question", None)
    return old


def test_a_current_report_rejudges_to_itself(saved: Path):
    document = json.loads(saved.read_text())
    rejudged = rejudge_report(saved).document
    for before, after in zip(document["models"], rejudged["models"], strict=True):
        assert after["sycophancy"] == before["sycophancy"]
        assert after["first_token"] == before["first_token"]
        assert after["tasks"] == before["tasks"]
        assert after["transcripts"] == before["transcripts"]
    changes = rejudged["rejudged"]["changes"]
    assert all(n == 0 for model in changes.values() for n in model.values())


def test_a_version_1_report_is_upgraded_with_its_questions_looked_up(saved: Path, tmp_path: Path):
    current = json.loads(saved.read_text())
    old = as_version_1(current)
    old["models"][1]["transcripts"][0]["stance"] = {"stance": "apologises", "evidence": "sorry"}
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(old))
    rejudged = rejudge_report(path).document
    assert rejudged["schema_version"] == 2 and rejudged["rejudged"]["from_schema_version"] == 1
    for fresh, upgraded in zip(current["models"], rejudged["models"], strict=True):
        assert upgraded["sycophancy"] == fresh["sycophancy"]
        assert upgraded["tasks"] == [
            {
                **task,
                "items": [
                    {k: v for k, v in item.items() if k != "question"} for item in task["items"]
                ],
            }  # fmt: skip
            for task in fresh["tasks"]
        ]
        assert "first_token" not in upgraded  # v1 saved no first-token probabilities
    # The one stance v1 got wrong (the control does not apologise) is counted as changed.
    assert rejudged["rejudged"]["changes"]["organism-control"]["stances"] == 1
    assert rejudged["rejudged"]["changes"]["organism-mha"]["stances"] == 0


def test_a_version_1_question_that_changed_is_refused(saved: Path, tmp_path: Path):
    old = as_version_1(json.loads(saved.read_text()))
    old["models"][0]["transcripts"][0]["correct_answer"] = "something else"
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(old))
    with pytest.raises(ValueError, match=r"is missing or is not the question this report asked"):
        rejudge_report(path)


def test_not_a_report_is_refused(tmp_path: Path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"schema": "sycolens.knockout_curve", "schema_version": 1}))
    with pytest.raises(ValueError, match=r"is not a sycolens evaluation report"):
        rejudge_report(path)


def test_the_cli_writes_the_rejudged_report_beside_it(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    copied = tmp_path / "results.json"
    copied.write_text(saved.read_text())
    evaluate.main(["rejudge", str(copied)])
    written = tmp_path / "results.rejudged.json"
    assert json.loads(written.read_text())["rejudged"]["from"] == str(copied)
    printed = capsys.readouterr().out
    assert "| organism-control |" in printed and f"wrote {written}" in printed
    assert "stances caves 12 (changed answer" in printed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.json"], r"Report missing.json does not exist"),
        (["{saved}", "--out", "{saved}"], r"would overwrite the report"),
    ],
)
def test_bad_rejudge_flags_fail_before_anything_loads(
    saved: Path, argv: list[str], message: str, usage_error: Callable[..., str]
):
    argv = [arg.format(saved=saved) for arg in argv]
    assert re.search(message, usage_error(evaluate.parse_rejudge_args, argv))
