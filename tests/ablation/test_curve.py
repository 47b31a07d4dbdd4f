"""The knockout curve and `python -m sycolens.ablate`: organism ground truth and bad input."""

import json
import re
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

from sycolens import ablate
from sycolens.ablation.config import KnockoutConfig
from sycolens.ablation.curve import knockout_sets
from sycolens.ablation.job import KnockoutJob
from sycolens.ablation.run import KnockoutResult, knockout_model
from sycolens.evaluation.judge import RULE_JUDGE
from sycolens.head_lists import parse_head_list
from sycolens.heads import Head
from sycolens.models import LoadedModel
from sycolens.models.record import ModelRecord
from sycolens.models.spec import ModelSpec
from sycolens.models.tiny import TinyFamily
from sycolens.patching.export import load_head_ranking
from sycolens.schemas import schema_for

PLANTED = {Head(1, 2), Head(2, 0), Head(3, 3)}


@pytest.fixture
def ranking_file(organism_ranking: Path) -> Path:
    return organism_ranking


def test_planted_heads_knock_out_f_where_random_and_bottom_heads_do_not(
    organism: LoadedModel, ranking_file: Path, tmp_path: Path
):
    job = KnockoutJob(
        model=ModelSpec(name="organism-mha"),
        heads=ranking_file,
        n_questions=24,
        knockout=KnockoutConfig(ks=(1, 3), n_random=3),
    )
    result = knockout_model(organism, job, show_progress=False)
    ranked_on = load_head_ranking(ranking_file).file.questions
    assert ranked_on is not None
    ranked_on = set(ranked_on.question_ids)
    assert not ranked_on & set(result.questions.question_ids)  # held out
    assert result.questions.skip == 16 and len(result.questions.question_ids) == 24
    base = result.curve.baseline
    assert base["f_reference"] > 0.99 and base["f_counterfactual"] < 0.01
    assert base["contrast"] > 0.98 and base["n_questions"] == 24
    frame = result.curve.frame
    assert len(frame) == 1 + 2 * (1 + 3 + 1)
    top3 = frame[(frame["condition"] == "top") & (frame["k"] == 3)].iloc[0]
    assert {Head(*h) for h in top3["heads"]} == PLANTED
    assert top3["mean_f"] < 0.01 and top3["share_of_contrast"] > 0.99
    assert frame.iloc[0]["z_replaced_in_f_forwards"] == 0 < top3["z_replaced_in_f_forwards"]
    bottom3 = frame[(frame["condition"] == "bottom") & (frame["k"] == 3)].iloc[0]
    assert bottom3["mean_f"] > 0.99
    document = result.document
    assert document["ablation"]["positions"] == "challenge"
    assert "from the challenge turn onward" in document["ablation"]["positions_note"]
    assert document["ranking"]["order"] == "signed" and document["labels"]["syco_token"] == (
        "Apologies"
    )
    json.dumps(document, allow_nan=False)  # strict JSON: no NaN anywhere
    read = KnockoutResult.read(result.save(tmp_path / "knockouts.json"))
    assert read.document == document and read.model == ModelRecord.of(organism)
    pd.testing.assert_frame_equal(read.curve.summary(), result.curve.summary())
    assert read.curve.baseline == base
    traces = [len(r.plot().to_dict()["data"]) for r in (read, result)]
    assert traces[0] == traces[1] > 0
    with pytest.raises(ValueError, match=r"is not a knockout curve .*sycolens.head_ranking"):
        KnockoutResult.read(ranking_file)


def test_judged_metrics_follow_the_knockout(organism: LoadedModel, ranking_file: Path):
    job = KnockoutJob(
        model=ModelSpec(name="organism-mha"),
        heads=ranking_file,
        n_questions=12,
        knockout=KnockoutConfig(ks=(3,), n_random=3, judged=True),
    )
    result = knockout_model(organism, job, show_progress=False)
    frame = result.curve.frame
    none = frame[frame["condition"] == "none"].iloc[0]
    top = frame[frame["condition"] == "top"].iloc[0]
    assert none["confidence"] == 0.0 and none["accuracy_before"] == 1.0
    assert none["judgements"]["admits, changed answer"] >= 10
    # Knocking out the planted heads turns every "Apologies, I was wrong" into "Yes, I am
    # sure": no reply admits a mistake any more ...
    assert top["confidence"] == 1.0
    assert top["confidence"] > max(frame[frame["condition"] == "random"]["confidence"])
    # ... but most answers still change after the challenge, which the answer-change rate
    # beside it shows: the words are fixed, the answers only partly (measured: 8 of the 10
    # with two answers change; 8 of 12 go from right to wrong).
    assert top["answer_change_rate"] >= 0.6 and top["judgements"]["no admission, changed answer"]
    assert top["regressive_rate"] >= 0.5
    assert top["accuracy_before"] == 1.0  # round 1 has no challenge: never ablated
    assert result.document["config"]["judge"] == RULE_JUDGE
    jsonschema.validate(result.document, schema_for(result.document))


def test_hand_picked_heads_knock_out_f_on_the_models_own_questions(organism: LoadedModel):
    job = KnockoutJob(
        model=ModelSpec(name="organism-mha"),
        heads=parse_head_list("1.2,2.0,3.3"),
        n_questions=12,
        knockout=KnockoutConfig(ks=(3,), n_random=1),
    )
    result = knockout_model(organism, job, show_progress=False)
    assert result.questions.source == "organism"  # the model's own set
    frame = result.curve.frame
    assert list(frame["condition"]) == ["none", "top", "random"]
    top3 = frame[frame["condition"] == "top"].iloc[0]
    assert [Head(*h) for h in top3["heads"]] == [Head(1, 2), Head(2, 0), Head(3, 3)]
    assert top3["mean_f"] < 0.01 and result.curve.baseline["f_reference"] > 0.99
    document = result.document
    assert document["ranking"] is None and document["labels"]["syco_token"] == "Apologies"
    assert document["heads_source"] == {
        "kind": "list",
        "origin": "1.2,2.0,3.3",
        "heads": [[1, 2], [2, 0], [3, 3]],
    }
    jsonschema.validate(document, schema_for(document))


def test_knockout_sets_draw_random_heads_per_seed_and_bottom_by_size(ranking_file: Path):
    scores = load_head_ranking(ranking_file).scores
    sets = knockout_sets(scores, KnockoutConfig(ks=(2, 4), n_random=3, seed=5), 4, 4)
    assert [(s.condition, s.k, s.seed) for s in sets[:6]] == [
        ("none", 0, None), ("top", 2, None), ("random", 2, 5), ("random", 2, 6),
        ("random", 2, 7), ("bottom", 2, None),
    ]  # fmt: skip
    assert len({s.heads for s in sets if s.condition == "random"}) == 6
    rows = scores.frame.to_dict(orient="records")
    sizes = {Head(int(r["layer"]), int(r["head"])): abs(r["score"]) for r in rows}
    bottom = next(s for s in sets if s.condition == "bottom" and s.k == 4).heads
    assert max(sizes[h] for h in bottom) <= min(
        size for head, size in sizes.items() if head not in bottom
    )


def test_a_head_list_knocks_out_its_prefixes_beside_random_heads_and_no_bottom():
    heads = parse_head_list("3.3,1.2,2.0")
    sets = knockout_sets(heads, KnockoutConfig(ks=(1, 3), n_random=2, seed=0), 4, 4)
    assert [(s.condition, s.k) for s in sets] == [
        ("none", 0), ("top", 1), ("random", 1), ("random", 1),
        ("top", 3), ("random", 3), ("random", 3),
    ]  # fmt: skip
    assert [s.heads for s in sets if s.condition == "top"] == [heads.heads[:1], heads.heads]
    with pytest.raises(
        ValueError, match=r"--ks 4 asks for more heads than the 3 that --heads 3\.3,1\.2,2\.0 names"
    ):
        knockout_sets(heads, KnockoutConfig(ks=(4,), n_random=1), 4, 4)


def test_every_cli_flag_reaches_the_config(
    flags_reach_config: Callable[..., None], ranking_file: Path
):
    flags_reach_config(
        ablate.parse_args,
        {
            "--model": ("organism-mha", "job.model.name", "organism-mha"),
            "--device": ("cpu", "job.model.device", "cpu"),
            "--dtype": ("bfloat16", "job.model.dtype", "bfloat16"),
            "--device-map": ("auto", "job.model.device_map", "auto"),
            "--offload-dir": ("off", "job.model.offload_dir", Path("off")),
            "--heads": (str(ranking_file), "job.heads", ranking_file),
            "--questions": ("organism", "job.questions.source", "organism"),
            "--n-questions": ("9", "job.n_questions", 9),
            "--seed": ("4", "job.questions.seed", 4),
            "--ks": ("1,3", "job.knockout.ks", (1, 3)),
            "--order": ("magnitude", "job.knockout.order", "magnitude"),
            "--n-random": ("5", "job.knockout.n_random", 5),
            "--random-seed": ("2", "job.knockout.seed", 2),
            "--method": ("zero", "job.knockout.method", "zero"),
            "--positions": ("all", "job.knockout.positions", "all"),
            "--judge": (RULE_JUDGE, "job.knockout.judge", RULE_JUDGE),
            "--batch-size": ("3", "job.knockout.batch_size", 3),
            "--out": ("k.json", "out", Path("k.json")),
            "--csv": ("k.csv", "csv", Path("k.csv")),
            "--html": ("k.html", "html", Path("k.html")),
        },
        unset={"job.knockout.judged", "job.allow_other_weights", "job.questions.n"},
    )
    base = ["--model", "organism-mha", "--heads", str(ranking_file)]
    config = ablate.parse_args([*base, "--judged", "--allow-other-weights"])
    assert config.job.knockout.judged and config.job.allow_other_weights
    assert config.job.questions is None  # the ranking's own source, held out
    assert config.job.knockout.ks == (1, 2, 4, 8, 16)  # the defaults the organism has heads for
    listed = ablate.parse_args(["--model", "organism-mha", "--heads", "1.2,2.0,3.3"]).job
    assert listed.knockout.ks == (1, 2, 3) and listed.questions is None
    with pytest.raises(SystemExit):
        ablate.parse_args(["--model", "organism-mha", "--heads", "1.2,2.0", "--ks", "3"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ks", "1,17"], r"--ks 17 knocks out more heads than organism-mha has \(16\)"),
        (["--ks", "4,2"], r"--ks 4,2 is not a rising list"),
        (["--ks", "a,b"], r"--ks 'a,b' is not a comma-separated list of integers"),
        (["--n-random", "0"], r"--n-random must be >= 1"),
        (["--seed", "3"], r"--seed without --questions"),
        (["--questions", "bundeld"], r"Unknown question set 'bundeld'"),
        (["--judged", "--judge", "nowhere:judge"], r"module 'nowhere' cannot be imported"),
        (
            ["--judge", "sycolens.evaluation.judge:resolve_judge"],
            r"judges nothing without --judged",
        ),
    ],
)
def test_bad_flags_fail_before_anything_loads(
    extra: list[str], message: str, ranking_file: Path, usage_error: Callable[..., str]
):
    argv = ["--model", "organism-mha", "--heads", str(ranking_file), *extra]
    assert re.search(message, usage_error(ablate.parse_args, argv))


def test_a_ranking_of_another_model_is_refused(
    ranking_file: Path,
    tmp_path: Path,
    usage_error: Callable[..., str],
    tiny_checkpoints: dict[TinyFamily, Path],
):
    other_model = str(tiny_checkpoints["llama"])  # 2 layers x 4 heads
    wrong_shape = ["--model", other_model, "--heads", str(ranking_file)]
    assert re.search(
        rf"ranks heads of 'organism-mha' \(4 layers x 4 heads\), but {re.escape(other_model)} "
        rf"has 2 x 4\. Fix: pass a ranking made for {re.escape(other_model)}",
        usage_error(ablate.parse_args, wrong_shape),
    )
    missing = ["--model", "organism-mha", "--heads", str(tmp_path / "none.json")]
    assert "none.json: no such file, and not a list of heads" in usage_error(
        ablate.parse_args, missing
    )
    other = tmp_path / "other.json"
    other.write_text('{"schema": "sycolens.evaluation"}')
    assert "is a sycolens.evaluation file, not a sycolens.head_ranking file" in usage_error(
        ablate.parse_args, ["--model", "organism-mha", "--heads", str(other)]
    )


def test_a_signed_order_needs_a_recorded_direction(
    ranking_file: Path, tmp_path: Path, usage_error: Callable[..., str]
):
    document = json.loads(ranking_file.read_text())
    del document["ranking"], document["labels"]["mean_f_reference"]
    old = tmp_path / "v1.json"
    old.write_text(json.dumps(document))
    argv = ["--model", "organism-mha", "--heads", str(old)]
    assert "records no direction toward the counterfactual" in usage_error(ablate.parse_args, argv)
    assert ablate.parse_args([*argv, "--order", "magnitude"]).job.knockout.order == "magnitude"


def test_a_ranking_of_other_weights_needs_consent(
    ranking_file: Path, fresh_model: Callable[..., LoadedModel]
):
    control = fresh_model("organism-control")
    job = KnockoutJob(model=ModelSpec(name="organism-control"), heads=ranking_file)
    other = r"with other weights \(fingerprint [0-9a-f]{12}\.\.\.\) than the 'organism-control'"
    with pytest.raises(ValueError, match=rf"was ranked on 'organism-mha' {other} loaded now"):
        knockout_model(control, job, show_progress=False)
    allowed = KnockoutJob(
        model=ModelSpec(name="organism-control"),
        heads=ranking_file,
        n_questions=4,
        knockout=KnockoutConfig(ks=(1,), n_random=1),
        allow_other_weights=True,
    )
    assert len(knockout_model(control, allowed, show_progress=False).curve.records) == 4


@pytest.mark.parametrize("flag", ["--out", "--csv", "--html"])
def test_an_output_over_the_ranking_is_refused_before_anything_runs(
    ranking_file: Path, usage_error: Callable[..., str], flag: str
):
    before = ranking_file.read_bytes()
    argv = ["--model", "organism-mha", "--heads", str(ranking_file), flag, str(ranking_file)]
    message = usage_error(ablate.parse_args, argv)
    assert f"{flag} {ranking_file} is the file --heads names" in message
    assert "Fix: give" in message and ranking_file.read_bytes() == before
