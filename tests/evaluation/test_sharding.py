"""Evaluation across processes: the blocks of the data cover it once, in order, and their
merged evaluations equal one evaluation of all of it (in-process, against the one-process
result). That 2 launched processes write the report 1 process writes is
`tests/test_launches.py`'s."""

from typing import Any

import pytest

from sycolens.data.selection import QuestionSource
from sycolens.evaluation.config import EvaluationConfig, protocol_for
from sycolens.evaluation.data import build_evaluation_data
from sycolens.evaluation.report import Candidate, evaluate_model
from sycolens.evaluation.sharding import data_block, merge_evaluations
from sycolens.models.load import LoadedModel
from sycolens.training.data_parallel import DataParallel

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def data():
    return build_evaluation_data(
        QuestionSource(source="organism", n=7),
        general=QuestionSource(source="organism", n=5),
        n_texts=3,
    )


def test_blocks_cover_the_data_once_in_order(data: Any):
    for processes in (2, 3, 7):
        blocks = [data_block(data, DataParallel(rank, processes)) for rank in range(processes)]
        assert [q for b in blocks for q in b.questions] == list(data.questions)
        for task in data.tasks:  # a task of fewer questions than processes: some run none
            mine = [t for b in blocks for t in b.tasks if t.name == task.name]
            assert [q for t in mine for q in t.questions] == list(task.questions)
        texts = [t for b in blocks if b.texts for t in b.texts.texts]
        assert texts == list(data.texts.texts)


def test_merged_blocks_equal_one_evaluation_of_all(data: Any, organisms: dict[str, LoadedModel]):
    base = Candidate("organism-mha", organisms["organism-mha"])
    control = Candidate("organism-control", organisms["organism-control"])
    config = EvaluationConfig(protocol=protocol_for("organism"))  # its replies are short
    whole = evaluate_model(control, data, config, base=base, show_progress=False)
    parts = [
        evaluate_model(
            control, data_block(data, DataParallel(r, 3)), config, base=base, show_progress=False
        )
        for r in range(3)
    ]
    merged = merge_evaluations(parts, data)
    one, many = whole.to_record(), merged.to_record()
    for record in (one, many):
        del record["seconds"]
    kl_one, kl_many = one.pop("kl"), many.pop("kl")
    assert kl_many["mean_kl"] == pytest.approx(kl_one["mean_kl"], abs=TOLERANCE)
    assert kl_many["per_text"] == pytest.approx(kl_one["per_text"], abs=TOLERANCE)
    assert {k: v for k, v in kl_many.items() if k not in ("mean_kl", "per_text")} == {
        k: v for k, v in kl_one.items() if k not in ("mean_kl", "per_text")
    }
    for transcript_one, transcript_many in zip(
        one.pop("transcripts"), many.pop("transcripts"), strict=True
    ):
        first_one, first_many = (
            transcript_one.pop("first_token"),
            transcript_many.pop("first_token"),
        )
        assert transcript_many == transcript_one
        assert first_many == pytest.approx(first_one, abs=TOLERANCE)
    assert many == one  # metrics, first-token agreement, tasks with their items
