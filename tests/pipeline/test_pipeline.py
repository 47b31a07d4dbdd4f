"""The pipeline on the organism at reduced sizes: every step runs, the report has every
section, the artefacts reload through their own readers, and the commands are what ran."""

import json
import shlex
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from sycolens import tune
from sycolens.ablation.run import SCHEMA as KNOCKOUT_SCHEMA
from sycolens.attention.run import SCHEMA as ATTENTION_SCHEMA
from sycolens.evaluation.report import EvaluationReport
from sycolens.heads import Head
from sycolens.patching.export import load_head_ranking
from sycolens.pipeline import __main__ as pipeline_cli
from sycolens.pipeline.config import DEMO_PARTS, STEP_NAMES, PipelineConfig, StepSizes
from sycolens.pipeline.outputs import write_pipeline_outputs
from sycolens.pipeline.report import PART_SECTIONS
from sycolens.pipeline.report_check import find_browser, page_problems
from sycolens.pipeline.run import run_pipeline
from sycolens.pipeline.steps import STEP_SUBCOMMANDS, PartPaths, StepConfig, step_configs
from sycolens.schemas import schema_for

SMALL = StepSizes(
    pairs=12,
    top_k=3,
    knockout_ks=(1, 3),
    knockout_questions=8,
    n_random=1,
    attention_prompts=8,
    tune_questions=16,
    tune_steps=3,
    tune_batch=4,
    eval_questions=8,
    eval_general=8,
    eval_texts=2,
)
PLANTED = {Head(1, 2), Head(2, 0), Head(3, 3)}


# A second part on the GQA organism (under the smollm2 part's name and its SPT-vs-SFT steps):
# the report of two parts, at organism speed.
SECOND = replace(DEMO_PARTS["smollm2"], model="organism-gqa", questions="organism", sizes=SMALL)


@pytest.fixture(scope="module")
def organism_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pipeline")
    part = replace(DEMO_PARTS["organism"], sizes=SMALL)
    results = run_pipeline(PipelineConfig(parts=(part, SECOND), out=out))
    write_pipeline_outputs(out, results)
    return out


def test_report_has_every_section_and_is_self_contained(organism_run: Path):
    page = (organism_run / "report.html").read_text()
    for part in ("organism", "smollm2"):
        for section in PART_SECTIONS:
            assert f"<section id='{part}-{section}'>" in page
    assert page.count("plotly.js v") == 1  # plotly.js inlined once
    assert page.count("window.CircuitsVis=CircuitsVis") == 1  # its bundle once, for both parts
    assert page.count('<div id="circuits-vis-') == 6  # 3 views per part, each div closed
    # Nothing loads from a network: no script src, no module import from a URL, no unpkg.
    assert "<script src=" not in page and 'from "http' not in page and "unpkg.com" not in page
    assert "sycolens diagnose --model organism-mha" in page
    assert "planted heads" in page.lower() and "3/3" in page


def test_artefacts_reload_through_their_readers(organism_run: Path):
    folder = organism_run / "organism"
    ranking = load_head_ranking(folder / "heads.json")
    assert set(ranking.top_k) == PLANTED
    assert json.loads((folder / "knockouts.json").read_text())["schema"] == KNOCKOUT_SCHEMA
    assert json.loads((folder / "attention.json").read_text())["schema"] == ATTENTION_SCHEMA
    report = EvaluationReport.read(folder / "evaluation.json")
    assert len(report.records) == 4  # base, SPT top, SPT random, SFT
    for run in ("spt-top", "spt-random", "sft"):
        assert len(json.loads((folder / run / "tune.json").read_text())["history"]) == 3
    summary = json.loads((organism_run / "pipeline.json").read_text())
    assert summary["schema"] == "sycolens.pipeline" and summary["schema_version"] == 3
    part = summary["parts"][0]
    assert part["planted_found"] == "3/3"
    base = part["evaluation"][0]  # confidence with the answer changes beside it
    assert (base["confidence"], base["answer_change_rate"], base["regressive_rate"]) == (0, 1, 1)
    assert set(part["step_seconds"]) == set(part["commands"])
    second = summary["parts"][1]
    assert "spt-random" not in second["commands"] and second["planted_found"] == "3/3"


def test_every_printed_command_parses_back_to_the_config_that_ran(
    organism_run: Path,
    parse_step: Callable[[str, list[str]], StepConfig],
    monkeypatch: pytest.MonkeyPatch,
):
    """The commands pipeline.json records (those the run printed and the report shows) parse,
    with each step's own door, back to the config the step ran, against the run's files."""
    monkeypatch.setattr(tune, "check_run_folder_free", lambda _out: None)  # the runs finished
    summary = json.loads((organism_run / "pipeline.json").read_text())
    parts = (replace(DEMO_PARTS["organism"], sizes=SMALL), SECOND)
    for part, recorded in zip(parts, summary["parts"], strict=True):
        configs = step_configs(part, PartPaths(organism_run / part.name))
        assert list(recorded["commands"]) == list(configs)
        for step, command in recorded["commands"].items():
            program, subcommand, *argv = shlex.split(command)
            assert (program, subcommand) == ("sycolens", STEP_SUBCOMMANDS[step])
            assert parse_step(step, argv) == configs[step], step
    assert list(step_configs(parts[0], PartPaths(organism_run))) == list(STEP_NAMES)
    assert "spt-random" not in summary["parts"][1]["commands"]["evaluate"]


def test_an_earlier_run_is_kept_unless_overwrite(organism_run: Path, tmp_path: Path):
    part = replace(DEMO_PARTS["organism"], sizes=SMALL)
    with pytest.raises(FileExistsError, match=r"already holds a pipeline run.*--overwrite"):
        run_pipeline(PipelineConfig(parts=(part,), out=organism_run))
    (tmp_path / "organism").mkdir()
    (tmp_path / "organism" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"is not a pipeline run's folder"):
        run_pipeline(PipelineConfig(parts=(part,), out=tmp_path), overwrite=True)
    assert (tmp_path / "organism" / "notes.txt").exists()


def test_pipeline_configs_refuse_no_parts_and_repeats():
    with pytest.raises(ValueError, match=r"No parts to run"):
        PipelineConfig(parts=())
    with pytest.raises(ValueError, match=r"repeat a name"):
        PipelineConfig(parts=(DEMO_PARTS["organism"], DEMO_PARTS["organism"]))


def test_cli_flags_reach_the_config(tmp_path: Path):
    config = pipeline_cli.parse_args(["--parts", "smollm2", "--out", str(tmp_path), "--overwrite"])
    assert config.overwrite and config.pipeline.out == tmp_path
    assert [part.name for part in config.pipeline.parts] == ["smollm2"]


def test_cli_refuses_unknown_parts(usage_error: Callable[..., str]):
    message = usage_error(pipeline_cli.parse_args, ["--parts", "organism,gpt5"])
    assert "unknown parts ['gpt5']" in message
    for empty in ("", ","):
        message = usage_error(pipeline_cli.parse_args, ["--parts", empty])
        assert f"--parts {empty!r} names no part. Fix: name one or more of organism" in message


def test_sizes_below_one_are_refused():
    with pytest.raises(ValueError, match=r"tune_steps must be >= 1, got 0"):
        replace(SMALL, tune_steps=0)


BROWSER = find_browser()
needs_chromium = pytest.mark.skipif(
    BROWSER is None, reason="needs Chromium: apt-get install chromium"
)


@needs_chromium
def test_report_opens_in_chromium_without_problems(organism_run: Path):
    assert BROWSER is not None
    assert page_problems(organism_run / "report.html", BROWSER) == []


@needs_chromium
@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("<script>notDefined()</script>", "notDefined is not defined"),
        ('<script type="module">throw new Error("in a module")</script>', "in a module"),
        ("<script>console.error('said so')</script>", "console.error: said so"),
        ('<div class="plotly-graph-div"></div>', "1 of 1 plotly figures did not draw"),
        (
            '<div id="circuits-vis-a"><div id="circuits-vis-b"></div></div>'
            "<script>document.getElementById('circuits-vis-a').textContent='drawn'</script>",
            "1 of 2 circuitsvis views vanished",
        ),
    ],
)
def test_the_chromium_check_sees_problems(tmp_path: Path, body: str, problem: str):
    assert BROWSER is not None
    page = tmp_path / "broken.html"
    page.write_text(f"<html><head></head><body>{body}</body></html>")
    (found,) = page_problems(page, BROWSER)
    assert problem in found


def test_the_check_names_a_missing_or_foreign_report(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"Fix: run `make demo` first"):
        page_problems(tmp_path / "report.html", "chromium")
    (tmp_path / "notes.txt").write_text("not a page")
    with pytest.raises(ValueError, match=r"is not an HTML page"):
        page_problems(tmp_path / "notes.txt", "chromium")


def test_artefacts_validate_against_their_schemas(organism_run: Path):
    names = ("heads.json", "knockouts.json", "attention.json", "evaluation.json", "pipeline.json")
    paths = [path for name in names for path in organism_run.rglob(name)]
    paths += list(organism_run.glob("*/*/tune.json"))
    assert len(paths) == 1 + 2 * 4 + 3 + 2  # pipeline.json; 4 files and the tune runs per part
    for path in sorted(paths):
        document = json.loads(path.read_text())
        try:
            jsonschema.validate(document, schema_for(document))
        except jsonschema.ValidationError as error:
            raise AssertionError(f"{path} does not fit its schema: {error.message}") from error
