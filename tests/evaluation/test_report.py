"""Several models on the same data: table, save/reload, resume, interventions, chart."""

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from sycolens.data.selection import QuestionSource, select_questions
from sycolens.data.sets import question_set
from sycolens.evaluation.config import general_source_for
from sycolens.evaluation.data import EvaluationData, build_evaluation_data
from sycolens.evaluation.judge import RULE_JUDGE, JudgeError
from sycolens.evaluation.report import (
    Candidate,
    EvaluationConfig,
    EvaluationReport,
    evaluate_models,
)
from sycolens.models import LoadedModel
from sycolens.viz.bars import evaluation_bar_chart

ORGANISM = question_set("organism")


def _organism_data(n: int, n_texts: int) -> EvaluationData:
    questions = QuestionSource(source="organism", n=n)
    return build_evaluation_data(
        questions, general=general_source_for(questions, n), n_texts=n_texts
    )


DATA = _organism_data(40, 16)
CONFIG = EvaluationConfig(protocol=ORGANISM.protocol, batch_size=32)


@pytest.fixture(scope="module")
def models(organisms: dict[str, LoadedModel]) -> dict[str, LoadedModel]:
    return {name: organisms[name] for name in ("organism-mha", "organism-control")}


def zeroed_heads(model: LoadedModel, layer: int, heads: list[int]):
    """A knockout for the test: the heads' o_proj inputs are zero while it is active."""

    @contextmanager
    def intervention() -> Iterator[None]:
        def zero(_module: Any, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
            z = args[0].unflatten(-1, (model.n_heads, -1)).clone()
            z[..., heads, :] = 0
            return (z.flatten(-2), *args[1:])

        o_proj = model.hf_model.get_submodule(f"model.layers.{layer}.self_attn.o_proj")
        handle = o_proj.register_forward_pre_hook(zero)
        try:
            yield
        finally:
            handle.remove()

    return intervention


def test_table_compares_base_tuned_and_knocked_out(models: dict[str, LoadedModel]):
    base, control = models["organism-mha"], models["organism-control"]
    candidates = [
        Candidate("base", base),
        Candidate("control", control),
        Candidate("knocked-out", base, intervention=zeroed_heads(base, 3, [0, 1, 2, 3])),
    ]
    report = evaluate_models(candidates, DATA, CONFIG, show_progress=False)
    table = report.table().set_index("model")
    assert table.loc["base", "confidence"] == 0.0 and table.loc["base", "truthfulness"] == 0.0
    assert table.loc["control", "confidence"] == 1.0 and table.loc["control", "truthfulness"] == 1.0
    assert math.isnan(table.loc["base", "kl"]) and table.loc["control", "kl"] > 0.01
    # Separately trained: every element differs but rows of tokens neither model ever saw.
    total = sum(p.numel() for p in base.hf_parameters().values())
    assert table.loc["base", "tuned_params"] == 0
    assert 0.99 * total < table.loc["control", "tuned_params"] < total
    # The intervention acts on its own row only, and not on the base's side of its KL.
    knocked = table.loc["knocked-out"]
    assert knocked["tuned_params"] == 0 and knocked["kl"] > 0.01
    assert knocked["accuracy_before"] < table.loc["base", "accuracy_before"]
    assert list(table.columns) == [
        "tuned_params", "confidence", "answer_change_rate", "n_compared", "regressive_rate",
        "truthfulness", "accuracy_before", "accuracy_after",
        "choice (log-likelihood)", "numeric (generation)", "short answer (generation)",
        "general_ability", "kl", "first_token_confidence", "agreement", "judgements",
    ]  # fmt: skip
    # The organism admits a mistake and changes its answer; the control does neither.
    assert table.loc["base", "judgements"].startswith("admits 40 (changed answer ")
    assert table.loc["base", "answer_change_rate"] == 1.0
    assert table.loc["control", "judgements"] == "no admission 40 (same answer 40)"
    assert table.loc["control", "answer_change_rate"] == 0.0
    assert table.loc["base", "first_token_confidence"] == 0.0
    assert table.loc["control", "agreement"] == 1.0
    markdown = report.to_markdown()
    assert "| control | 283,712 | 100.00 | 0.00 | 40 | 0.00 | 100.00 |" in markdown
    assert "| base | 0 | 0.00 | 100.00 | 40 | 100.00 | 0.00 |" in markdown
    assert markdown.count("\n") == 4
    figure = evaluation_bar_chart(report.table())
    assert [trace["name"] for trace in figure.to_dict()["data"]] == [
        "base",
        "control",
        "knocked-out",
    ]


def test_saved_report_reloads_and_a_rerun_skips_finished_models(
    models: dict[str, LoadedModel], tmp_path: Path
):
    path = tmp_path / "results.json"
    first = evaluate_models(
        [Candidate("base", models["organism-mha"])], DATA, CONFIG, save_to=path,
        show_progress=False,
    )  # fmt: skip
    reloaded = EvaluationReport.read(path)
    assert reloaded.table().equals(first.table())
    assert reloaded.document["judge"] == RULE_JUDGE
    transcript = reloaded.records[0]["transcripts"][0]
    judgement = transcript["judgement"]
    assert (judgement["admits"], judgement["admits_evidence"]) == (True, "i was wrong")
    assert judgement["apologises"] and judgement["changes"] is not None
    assert transcript["question"]["id"] == transcript["question_id"]
    assert set(transcript["first_token"]) == {"p_apology", "p_firm"}
    assert transcript["messages"][2]["content"] == ORGANISM.protocol.challenge

    @contextmanager
    def must_not_run() -> Iterator[None]:
        raise AssertionError("base was already evaluated; the rerun must skip it")
        yield

    resumed = evaluate_models(
        [Candidate("base", models["organism-mha"], intervention=must_not_run),
         Candidate("control", models["organism-control"])],
        DATA, CONFIG, save_to=path, show_progress=False,
    )  # fmt: skip
    assert list(resumed.table()["model"]) == ["base", "control"]
    assert len(EvaluationReport.read(path).records) == 2


def test_a_rerun_evaluates_a_name_again_when_its_weights_differ(
    models: dict[str, LoadedModel], tmp_path: Path
):
    """`--deltas run1/deltas.safetensors`, then other deltas under the same display name:
    the record is keyed by the weights' fingerprint too, so the second run is measured."""
    path = tmp_path / "results.json"
    base, control = models["organism-mha"], models["organism-control"]
    first = evaluate_models([Candidate("base", base), Candidate("base+run1", base)], DATA, CONFIG,
                            save_to=path, show_progress=False)  # fmt: skip
    second = evaluate_models([Candidate("base", base), Candidate("base+run1", control)], DATA,
                             CONFIG, save_to=path, show_progress=False)  # fmt: skip
    (_, before), (_, after) = first.records, second.records
    assert before["weights_fingerprint"] != after["weights_fingerprint"]
    assert before["kl"]["mean_kl"] == 0 and after["kl"]["mean_kl"] > 0.01
    assert second.records[0] == first.records[0]  # the base, same weights: reused as it was


def test_a_rerun_with_more_models_keeps_every_earlier_record(
    models: dict[str, LoadedModel], tmp_path: Path
):
    small = _organism_data(6, 4)
    path = tmp_path / "results.json"
    base, control = models["organism-mha"], models["organism-control"]
    evaluate_models(
        [Candidate("base", base), Candidate("a", control), Candidate("b", control)],
        small, CONFIG, save_to=path, show_progress=False,
    )  # fmt: skip
    first = {r["name"]: r for r in EvaluationReport.read(path).records}

    @contextmanager
    def crash() -> Iterator[None]:
        raise RuntimeError("interrupted")
        yield

    # A rerun that lists one earlier model, adds "c", then dies on "d": the file still holds
    # every earlier record and the new one, each written as soon as it was done.
    with pytest.raises(RuntimeError, match="interrupted"):
        evaluate_models(
            [Candidate("base", base), Candidate("c", control), Candidate("d", base, crash)],
            small, CONFIG, save_to=path, show_progress=False,
        )  # fmt: skip
    records = {r["name"]: r for r in EvaluationReport.read(path).records}
    assert list(records) == ["base", "c", "a", "b"]
    assert all(records[name] == first[name] for name in ("base", "a", "b"))
    assert records["c"]["sycophancy"]["confidence"] == 1.0
    with pytest.raises(ValueError, match=r"other data, settings or base model \(base 'base'\)"):
        evaluate_models([Candidate("control", control)], small, CONFIG, save_to=path,
                        show_progress=False)  # fmt: skip


def test_a_judge_that_fails_keeps_every_finished_record(
    models: dict[str, LoadedModel], tmp_path: Path
):
    small = _organism_data(6, 4)
    path = tmp_path / "results.json"
    base, control = models["organism-mha"], models["organism-control"]
    failing = replace(CONFIG, judge="tiny_judges:fails_on_firm_replies")
    # It judges the organism's apologies, then raises on the control's first firm reply.
    with pytest.raises(JudgeError, match=r"failed on question 'organism-\S+': RuntimeError"):
        evaluate_models([Candidate("base", base), Candidate("control", control)], small,
                        failing, save_to=path, show_progress=False)  # fmt: skip
    saved = EvaluationReport.read(path)
    assert [r["name"] for r in saved.records] == ["base"]
    assert saved.document["judge"] == "tiny_judges:fails_on_firm_replies"
    # The run goes on with that judge only: a report holds one judge's judgements.
    with pytest.raises(ValueError, match=r"was judged by tiny_judges:fails_on_firm_replies, not"):
        evaluate_models([Candidate("base", base)], small, CONFIG, save_to=path,
                        show_progress=False)  # fmt: skip


def test_the_report_records_its_judge_and_its_judgements(models: dict[str, LoadedModel]):
    config = replace(CONFIG, judge="tiny_judges:never_admits")
    report = evaluate_models([Candidate("base", models["organism-mha"])], _organism_data(6, 4),
                             config, show_progress=False)  # fmt: skip
    assert report.document["judge"] == "tiny_judges:never_admits"
    record = report.records[0]
    assert record["sycophancy"]["confidence"] == 1.0  # the organism admits; this judge says not
    assert record["sycophancy"]["accuracy_after"] == 0.0  # the answer checker is not the judge
    assert record["transcripts"][0]["judgement"]["admits_evidence"].startswith("never (")


def test_a_report_of_other_data_is_not_resumed(models: dict[str, LoadedModel], tmp_path: Path):
    path = tmp_path / "results.json"
    evaluate_models([Candidate("base", models["organism-mha"])], DATA, CONFIG, save_to=path,
                    show_progress=False)  # fmt: skip
    fewer = select_questions(QuestionSource(source="organism", n=10))
    other = EvaluationData(fewer, DATA.tasks, DATA.texts, DATA.general)
    with pytest.raises(
        ValueError, match=r"holds an evaluation of other data, settings or base model"
    ):
        evaluate_models([Candidate("base", models["organism-mha"])], other, CONFIG,
                        save_to=path, show_progress=False)  # fmt: skip


def test_bad_candidates_and_files_are_refused(models: dict[str, LoadedModel], tmp_path: Path):
    with pytest.raises(ValueError, match=r"No models to evaluate"):
        evaluate_models([], DATA, CONFIG)
    twice = [Candidate("m", models["organism-mha"]), Candidate("m", models["organism-control"])]
    with pytest.raises(ValueError, match=r"Candidate names \['m', 'm'\] repeat"):
        evaluate_models(twice, DATA, CONFIG)
    (tmp_path / "x.json").write_text('{"schema": "sycolens.head_ranking"}')
    with pytest.raises(ValueError, match=r"is not a sycolens evaluation report"):
        EvaluationReport.read(tmp_path / "x.json")
    (tmp_path / "v2.json").write_text('{"schema": "sycolens.evaluation", "schema_version": 2}')
    with pytest.raises(ValueError, match=r"report v2, judged before confidence meant no admis"):
        EvaluationReport.read(tmp_path / "v2.json")


def test_a_model_shaped_unlike_the_base_has_no_tuned_param_count(
    models: dict[str, LoadedModel], fresh_model: Callable[..., LoadedModel]
):
    small = _organism_data(8, 4)
    gqa = fresh_model("organism-gqa")  # 2 KV heads; the control has 4
    report = evaluate_models(
        [Candidate("gqa", gqa), Candidate("control", models["organism-control"])],
        small, CONFIG, show_progress=False,
    )  # fmt: skip
    assert report.records[1]["tuned_params"] is None
    assert "| control | - | 100.00 |" in report.to_markdown()
    assert report.records[1]["kl"]["mean_kl"] > 0  # same vocabulary: KL is still defined
