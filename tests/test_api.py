"""The notebook API: `import sycolens as sl`, one call per step on a loaded model."""

import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest

import sycolens as sl
from sycolens.heads import Head
from sycolens.models import LoadedModel
from sycolens.models.fingerprint import weights_fingerprint

PLANTED = [Head(1, 2), Head(2, 0), Head(3, 3)]


def test_import_is_light_and_tab_completion_finds_the_api():
    code = "import sys, sycolens; print('torch' in sys.modules, dir(sycolens))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("False") and "'load_model'" in done.stdout
    assert {"diagnose", "knockout", "attention", "tune", "evaluate", "heads"} <= set(dir(sl))
    import sycolens.models

    assert "load_model" in dir(sycolens.models) and "LoadedModel" in dir(sycolens.models)


def test_names_that_are_also_modules_stay_callable():
    import sycolens.attention.run
    import sycolens.evaluate
    import sycolens.tune  # noqa: F401  (importing a module puts it on the package)

    assert cast(Any, sl).heads("3.3,2.0").heads == (Head(3, 3), Head(2, 0))
    assert all(callable(call) for call in (sl.tune, sl.evaluate, sl.attention, sl.heads))


def test_every_step_on_a_loaded_organism(
    organism: LoadedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # sl.attention, sl.tune, sl.evaluate and sl.heads are callable modules (also the CLI doors
    # and the Head type), which a type checker sees as modules: call them through `api`.
    api = cast(Any, sl)
    diagnosis = sl.diagnose(organism, n=16, show_progress=False)
    assert diagnosis.document["questions"]["source"] == "organism"  # the model's own set
    assert sorted(diagnosis.scores.top_k(3)) == PLANTED
    ranking = sl.save_ranking(diagnosis, tmp_path / "heads.json")
    ranked = sl.knockout(organism, ranking, ks=[3], n_random=1, n=8, show_progress=False)
    assert ranked.document["ranking"] is not None and ranked.questions.skip == 16  # held out
    listed = sl.knockout(organism, api.heads("1.2,2.0,3.3"), n_random=1, n=8, show_progress=False)
    top = listed.curve.frame.query("condition == 'top' and k == 3").iloc[0]
    assert top["mean_f"] < 0.01 and list(listed.curve.frame["k"].unique()) == [0, 1, 2, 3]
    looked = api.attention(organism, "1.2,2.0,3.3", n=8, show_progress=False)
    assert looked.top == tuple(PLANTED)
    before = weights_fingerprint(organism)
    run = api.tune(organism, api.heads("1.2,2.0"), out=tmp_path / "spt", steps=2, n=8,
                  show_progress=False)  # fmt: skip
    assert weights_fingerprint(organism) == before  # trained in place, then put back
    assert run.heads == (Head(1, 2), Head(2, 0)) and (tmp_path / "spt" / "tune.json").is_file()
    control = api.tune(organism, ranking, out=tmp_path / "random", top_k=2, random_heads=True,
                       steps=2, n=8, batch_size=4, show_progress=False)  # fmt: skip
    top_two = set(diagnosis.scores.top_k(2))  # the control's heads are drawn outside them
    assert len(control.heads) == 2 and not set(control.heads) & top_two
    assert control.document["batch_size"] == 4
    report = api.evaluate(organism, deltas=[tmp_path / "spt" / "deltas.safetensors"], n=6,
                         n_texts=4, show_progress=False)  # fmt: skip
    assert [record["name"] for record in report.records] == ["organism-mha", "organism-mha+spt"]
    monkeypatch.syspath_prepend(Path(__file__).parent / "evaluation")  # tiny_judges
    judge = "tiny_judges:never_admits"
    judged = api.evaluate(organism, tuned=[tmp_path / "spt" / "model"], n=6, n_general=2,
                         n_texts=4, judge=judge, show_progress=False)  # fmt: skip
    assert judged.document["judge"] == judge
    assert list(judged.frame["confidence"]) == [1.0, 1.0]
    assert judged.records[1]["name"] == str(tmp_path / "spt" / "model")
    assert judged.document["data"]["general"]["n_used"] == 2
    assert not set(run.questions.question_ids) & set(
        judged.document["data"]["questions"]["question_ids"]
    )
    for result, title in ((diagnosis, "heads"), (listed, "knockouts"), (looked, "attention")):
        assert len(result.frame) > 0 and title in str(result.plot().to_dict()["layout"]["title"])
        assert result.save(tmp_path / f"{title}.json").is_file()
        assert "<table" in result._repr_html_()  # noqa: SLF001  (what Jupyter shows)
    assert list(report.frame["model"]) == ["organism-mha", "organism-mha+spt"]
    assert len(report.plot().data) > 0 and "<table" in report._repr_html_()  # noqa: SLF001
