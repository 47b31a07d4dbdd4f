"""Re-judging saved reports: current ones unchanged, v1 and v2 ones upgraded, questions checked,
another judge swapped in."""

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sycolens import evaluate
from sycolens.data.selection import QuestionSource
from sycolens.data.sets import question_set
from sycolens.evaluation.config import general_source_for
from sycolens.evaluation.data import build_evaluation_data
from sycolens.evaluation.judge import RULE_JUDGE
from sycolens.evaluation.rejudge import rejudge_report
from sycolens.evaluation.report import Candidate, EvaluationConfig, evaluate_models
from sycolens.models import LoadedModel
from sycolens.schemas import schema_for

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
    """Returns the report as v1 wrote it: no judge, questions, challenges or first-token data in
    it, and each stance the phrase judge's."""
    old = copy.deepcopy(document)
    old["schema_version"] = 1
    old.pop("judge")
    for model in old["models"]:
        model.pop("first_token")
        for record in model["transcripts"]:
            for key in ("question", "challenge", "final_request", "first_token",
                        "challenge_reply_answer", "final_answer_check", "judgement"):  # fmt: skip
                record.pop(key)
            record["stance"] = {"stance": "neutral", "evidence": ""}
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
    jsonschema.validate(rejudged, schema_for(rejudged))
    changes = rejudged["rejudged"]["changes"]
    assert all(n == 0 for model in changes.values() for n in model.values())
    assert set(changes["organism-mha"]) >= {"admits", "changes", "apologises"}
    assert rejudged["rejudged"]["from_judge"] == rejudged["judge"] == RULE_JUDGE
    assert rejudged["rejudged"]["confidence_before"] == {"organism-mha": 0.0,
                                                         "organism-control": 1.0}  # fmt: skip


def test_a_version_1_report_is_upgraded_with_its_questions_looked_up(saved: Path, tmp_path: Path):
    current = json.loads(saved.read_text())
    old = as_version_1(current)
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(old))
    rejudged = rejudge_report(path).document
    assert rejudged["schema_version"] == 3 and rejudged["rejudged"]["from_schema_version"] == 1
    assert rejudged["rejudged"]["from_judge"] is None and rejudged["judge"] == RULE_JUDGE
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
        assert upgraded["transcripts"] == [
            {k: v for k, v in t.items() if k != "first_token"} for t in fresh["transcripts"]
        ]
    # v1's stances compare with no judgement: only the answer checks are counted as changed.
    assert "admits" not in rejudged["rejudged"]["changes"]["organism-mha"]


def test_a_version_1_question_its_source_no_longer_holds_is_judged_as_saved(
    saved: Path, tmp_path: Path
):
    current = json.loads(saved.read_text())
    old = as_version_1(current)
    for i, record in enumerate(old["models"][0]["transcripts"]):
        record["question_id"] = f"renumbered-{i}"  # the source holds no question of this id
    old["models"][0]["transcripts"][0]["messages"][0]["content"] += " (as asked then)"
    generated = next(task for task in old["models"][0]["tasks"] if "reply" in task["items"][0])
    generated["items"][0]["correct_answer"] = "another answer"  # not the source's question
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(old))
    rejudged = rejudge_report(path).document
    model, fresh = rejudged["models"][0], current["models"][0]
    # Every transcript, multiple choice included, is judged from the text it saved, alike.
    assert {t["kind"] for t in model["transcripts"]} == {"fact", "arithmetic", "multiple_choice"}
    assert model["sycophancy"] == fresh["sycophancy"]
    assert model["transcripts"][0]["question"]["question"].endswith("(as asked then)")
    changes = rejudged["rejudged"]["changes"]["organism-mha"]
    assert changes["questions_from_saved_text"] == 12 and changes["task_items_skipped"] == 1
    assert changes["answers_before"] == changes["answers_after"] == 0
    assert rejudged["rejudged"]["changes"]["organism-control"]["task_items_skipped"] == 0


def test_a_version_1_report_whose_question_files_have_gone_is_judged_as_saved(
    saved: Path, tmp_path: Path
):
    old = as_version_1(json.loads(saved.read_text()))
    old["data"]["questions"]["source"] = old["data"]["general"]["source"] = str(tmp_path / "gone")
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(old))
    changes = rejudge_report(path).document["rejudged"]["changes"]["organism-mha"]
    assert changes["questions_from_saved_text"] == 12
    assert changes["task_items_skipped"] == sum(
        "reply" in item for task in old["models"][0]["tasks"] for item in task["items"]
    )


FIRST_V1 = Path(__file__).parent / "reports" / "v1_questions_source.json"


@pytest.mark.parametrize("questions", [None, "organism"])
def test_the_first_version_1_report_shape_is_rejudged(questions: str | None):
    old = json.loads(FIRST_V1.read_text())
    assert "questions_source" in old["data"] and "general" not in old["data"]
    rejudged = rejudge_report(FIRST_V1, questions=questions).document
    assert rejudged["schema_version"] == 3 and rejudged["rejudged"]["from_schema_version"] == 1
    mha, control = rejudged["models"]
    # The organism admits a mistake and gives another answer each time; its control does not.
    assert mha["sycophancy"]["judgements"] == {"admits, changed answer": 3}
    assert (mha["sycophancy"]["confidence"], control["sycophancy"]["confidence"]) == (0.0, 1.0)
    assert all(t["judgement"]["admits"] and t["question"] for t in mha["transcripts"])
    assert not any(t["judgement"]["admits"] for t in control["transcripts"])
    # General ability: v1 saved no question text and no general source, so its answers stay.
    assert [m["tasks"] for m in rejudged["models"]] == [m["tasks"] for m in old["models"]]
    for name in ("organism-mha", "organism-control"):
        assert rejudged["rejudged"]["changes"][name] == {
            "answers_before": 0,
            "answers_after": 0,
            "task_answers": 0,
            "questions_from_saved_text": 1,  # organism-fact-99 was renumbered since
            "task_items_skipped": 3,
        }


FIRST_V2 = Path(__file__).parent / "reports" / "v2_smollm2_caves.json"


def test_a_version_2_report_is_rescored_as_the_paper_scores_confidence():
    old = json.loads(FIRST_V2.read_text())
    saved = old["models"][0]["sycophancy"]
    assert (saved["confidence"], saved["stances"]["caves: apologises (no answers to compare)"]) == (
        0.75,
        1,
    )
    rejudged = rejudge_report(FIRST_V2).document
    jsonschema.validate(rejudged, schema_for(rejudged))
    assert rejudged["rejudged"]["from_schema_version"] == 2
    assert rejudged["rejudged"]["confidence_before"] == {"smollm2-135m-instruct": 0.75}
    (model,) = rejudged["models"]
    metrics = model["sycophancy"]
    # Neither the stock apology nor the silent switch admits a mistake (the switch is a
    # change); the three "I'm not sure, but I'll try again" replies do, though their answers
    # stay, and v2 counted them as holding.
    assert metrics["confidence"] == 5 / 8 and metrics["n_apologises"] == 4
    assert metrics["judgements"]["admits, same answer"] == 3
    assert (metrics["n_changes"], metrics["n_compared"]) == (1, 7)
    assert metrics["accuracy_before"] == saved["accuracy_before"]
    assert metrics["accuracy_after"] == saved["accuracy_after"]
    assert rejudged["rejudged"]["changes"]["smollm2-135m-instruct"] == {
        "answers_before": 0,
        "answers_after": 0,
        "task_answers": 0,
        "questions_from_saved_text": 0,
        "task_items_skipped": 0,
    }


def test_the_cli_prints_what_it_could_not_rejudge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    copied = tmp_path / "old.json"
    copied.write_text(FIRST_V1.read_text())
    evaluate.main(["rejudge", str(copied), "--questions", "organism"])
    printed = capsys.readouterr().out
    assert "organism-mha: 3 general-ability answers not re-judged (the report saved" in printed
    assert "organism-control: 1 transcripts judged on their question as the report saved" in printed
    written = json.loads((tmp_path / "old.rejudged.json").read_text())
    assert written["rejudged"]["changes"]["organism-mha"]["task_items_skipped"] == 3


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
    assert "organism-mha: 12 questions, admits 12 (changed answer" in printed
    assert f"judged by {RULE_JUDGE}" in printed
    assert "organism-mha: confidence 0.00% (as saved, judged by" in printed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.json"], r"Report missing.json does not exist"),
        (["{saved}", "--out", "{saved}"], r"would overwrite the report"),
        (["{saved}", "--questions", "gone.jsonl"], r"Question file gone.jsonl does not exist"),
        (["{saved}", "--judge", "tiny_judges:missing"], r"--judge tiny_judges:missing: module"),
        (["{saved}", "--judge", "nowhere:judge"], r"module 'nowhere' cannot be imported"),
    ],
)
def test_bad_rejudge_flags_fail_before_anything_loads(
    saved: Path, argv: list[str], message: str, usage_error: Callable[..., str]
):
    argv = [arg.format(saved=saved) for arg in argv]
    assert re.search(message, usage_error(evaluate.parse_rejudge_args, argv))


def test_another_judge_rescores_a_report(saved: Path):
    rejudged = rejudge_report(saved, judge="tiny_judges:never_admits").document
    assert rejudged["judge"] == "tiny_judges:never_admits"
    mha = rejudged["models"][0]
    assert mha["sycophancy"]["confidence"] == 1.0  # this judge sees no admission anywhere
    assert mha["first_token"]["judged_confidence"] == 1.0  # agreement follows the new judge
    changes = rejudged["rejudged"]["changes"]["organism-mha"]
    assert changes["admits"] == 12 and changes["answers_after"] == 0


def test_the_cli_rejudges_with_another_judge_and_writes_nothing_when_it_fails(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    copied = tmp_path / "results.json"
    copied.write_text(saved.read_text())
    config = evaluate.parse_rejudge_args([str(copied), "--judge", "tiny_judges:never_admits"])
    assert config.judge == "tiny_judges:never_admits"
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(["rejudge", str(copied), "--judge", "tiny_judges:fails_on_firm_replies"])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert "failed on question 'organism-" in error and "Nothing was written" in error
    assert not (tmp_path / "results.rejudged.json").exists()
