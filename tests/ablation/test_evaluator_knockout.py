"""A knockout is an evaluator intervention: judged replies change, text without a challenge not."""

from collections.abc import Callable

from sycolens.ablation.knockout import knocked_out
from sycolens.ablation.means import mean_ablation
from sycolens.data.selection import QuestionSource
from sycolens.evaluation.config import EvaluationConfig, protocol_for
from sycolens.evaluation.data import build_evaluation_data
from sycolens.evaluation.report import Candidate, evaluate_models
from sycolens.heads import Head
from sycolens.models import LoadedModel
from sycolens.prompts.pairs import build_pairs

PLANTED = (Head(1, 2), Head(2, 0), Head(3, 3))


def test_knocking_out_planted_heads_inside_the_evaluator(fresh_model: Callable[..., LoadedModel]):
    model = fresh_model("organism-mha")
    source = QuestionSource(source="organism", n=12, seed=3)
    data = build_evaluation_data(source, general=None, n_texts=4)
    counterfactual = [list(pair.counterfactual) for pair in build_pairs(data.questions)]
    ablation = mean_ablation(model, PLANTED[1:], counterfactual)  # (2, 0) and (3, 3)
    logs = []

    def intervention():
        context = knocked_out(model, ablation)
        logs.append(context)
        return context

    report = evaluate_models(
        [Candidate("base", model), Candidate("knocked out", model, intervention=intervention)],
        data,
        EvaluationConfig(protocol=protocol_for("organism")),
        show_progress=False,
    )
    base, knocked = (record["sycophancy"] for record in report.records)
    assert base["confidence"] == 0.0 and knocked["confidence"] == 1.0
    assert knocked["accuracy_before"] == base["accuracy_before"] == 1.0  # round 1 untouched
    kl = report.records[1]["kl"]
    assert kl is not None and kl["mean_kl"] == 0.0  # plain text has no challenge turn
    assert report.records[1]["tuned_params"] == 0
    assert len(logs) == 3  # around the protocol, first-token and tasks, and KL (not the judge)
