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
    foreign_run = out / "foreign"
    foreign_run.mkdir()
    (foreign_run / "tune.json").write_text('{"lr": 0.1}')
    binary = out / "t.txt"
    binary.write_bytes(b"text\n\x80\x81")
    a_list = out / "r.json"
    a_list.write_text("[1, 2]")
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
        ("pipeline: device absent", pipeline_cli.main, ["--parts", "organism", "--device",
                                                        "tpu:7", "--out", str(out / "p")]),
        ("pipeline: unknown model", pipeline_cli.main, ["--parts", "organism", "--model",
                                                        "organism-xyz", "--out", str(out / "p")]),
        ("tune: --out holds another tune.json", tune.main, [*MODEL, "--heads", "1.2", "--out",
                                                            str(foreign_run)]),
        ("evaluate: binary --texts", evaluate.main, [*MODEL, "--texts", str(binary),
                                                     "--out", str(out / "e.json")]),
        ("rejudge: a JSON list", evaluate.main, ["rejudge", str(a_list)]),
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


@pytest.mark.parametrize("error", [ValueError, FileNotFoundError, FloatingPointError])
def test_an_input_refused_after_loading_is_one_line_not_a_traceback(
    error: type[Exception],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    def refused(_: object) -> None:
        raise error("Deltas file d.st was made over other weights.\nFix: apply it to its base.")

    monkeypatch.setattr(patch, "run", refused)
    with pytest.raises(SystemExit) as exit_info:
        patch.main([*MODEL])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "python -m sycolens.patch: error: Deltas file d.st was made over other weights. | "
        "Fix: apply it to its base."
    ]


def test_the_traceback_is_there_when_asked_for_and_bugs_keep_theirs(
    monkeypatch: pytest.MonkeyPatch,
):
    def refused(_: object) -> None:
        raise ValueError("bad input")

    def bug(_: object) -> None:
        raise AttributeError("'list' object has no attribute 'get'")

    monkeypatch.setattr(patch, "run", refused)
    monkeypatch.setenv("SYCOLENS_TRACEBACK", "1")
    with pytest.raises(ValueError, match="bad input"):
        patch.main([*MODEL])
    monkeypatch.delenv("SYCOLENS_TRACEBACK")
    monkeypatch.setattr(patch, "run", bug)
    with pytest.raises(AttributeError):
        patch.main([*MODEL])
