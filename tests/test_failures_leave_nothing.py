"""A door that fails leaves nothing half-written, and Ctrl-C says what was kept.

Every bad input below is a usage error (exit 2) before a model loads, and the output folder
stays empty; a crash inside the JSON writer leaves neither the output nor its staging file.
"""

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from sycolens import ablate, evaluate, patch, tune
from sycolens.attention import __main__ as attention_cli
from sycolens.json_files import write_json
from sycolens.pipeline import __main__ as pipeline_cli

Door = Callable[[list[str]], None]
MODEL = ["--model", "organism-mha"]


def _bad_inputs(out: Path, ranking: Path) -> list[tuple[str, Door, list[str]]]:
    empty = out / "empty.jsonl"
    empty.write_text("")
    folder = out / "a-folder"
    folder.mkdir()
    return [
        ("diagnose: empty questions", patch.main, [*MODEL, "--questions", str(empty),
                                                   "--out", str(out / "h.json")]),
        ("diagnose: --out a folder", patch.main, [*MODEL, "--out", str(folder)]),
        ("knockout: head out of range", ablate.main, [*MODEL, "--heads", "4.0",
                                                      "--out", str(out / "k.json")]),
        ("knockout: --out over --heads", ablate.main, [*MODEL, "--heads", str(ranking),
                                                       "--out", str(ranking)]),
        ("attention: --out .html", attention_cli.main, [*MODEL, "--heads", "1.2",
                                                        "--out", str(out / "a.html")]),
        ("tune: --lr inf", tune.main, [*MODEL, "--heads", "1.2", "--lr", "inf",
                                       "--out", str(out / "run")]),
        ("tune: bad head list", tune.main, [*MODEL, "--heads", "1.2,1.2", "--out", str(out / "r")]),
        ("evaluate: missing deltas", evaluate.main, [*MODEL, "--deltas", str(out / "no.st"),
                                                     "--out", str(out / "e.json")]),
        ("evaluate: device absent", evaluate.main, [*MODEL, "--device", "cuda:7",
                                                    "--out", str(out / "e.json")]),
        ("pipeline: no parts", pipeline_cli.main, ["--parts", "", "--out", str(out / "p")]),
    ]  # fmt: skip


def test_no_bad_input_leaves_a_file(tmp_path: Path, organism_ranking: Path):
    out = tmp_path / "out"
    out.mkdir()
    ranking = out / "heads.json"
    ranking.write_text(organism_ranking.read_text())
    cases = _bad_inputs(out, ranking)
    before = sorted(out.rglob("*"))
    for name, door, argv in cases:
        with pytest.raises(SystemExit) as exit_info:
            door(argv)
        assert exit_info.value.code == 2, name
        assert sorted(out.rglob("*")) == before, f"{name} left {set(out.rglob('*')) - set(before)}"
    assert ranking.read_text() == organism_ranking.read_text()


def test_a_crash_while_writing_json_leaves_neither_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def crash(*_: object, **__: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(json, "dumps", crash)
    with pytest.raises(OSError, match="disk full"):
        write_json(tmp_path / "result.json", {"x": 1})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("door", "argv", "kept"),
    [
        (patch, [*MODEL], r"sycolens\.patch: interrupted\. Nothing was written .* run it again"),
        (evaluate, [*MODEL, "--out", "{out}"],
         r"interrupted\. Every model finished is kept in .*e\.json: run the same command again"),
        (evaluate, [*MODEL], r"interrupted\. Nothing was kept \(no --out\)"),
    ],
)  # fmt: skip
def test_ctrl_c_says_what_was_kept_and_how_to_go_on(
    door: object,
    argv: list[str],
    kept: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    def interrupted(_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(door, "run", interrupted)
    main = getattr(door, "main")  # noqa: B009
    with pytest.raises(SystemExit) as exit_info:
        main([part.replace("{out}", str(tmp_path / "e.json")) for part in argv])
    assert exit_info.value.code == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert re.search(kept, err)
