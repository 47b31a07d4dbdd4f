"""Bad-input sweep (issue #30's "Checks"): every CLI door, fed bad and edge inputs, on the organism.

Each case runs as its own subprocess (`sycolens SUBCOMMAND ...` or `python -m sycolens.X ...`)
in a fresh temporary folder, with HF_HUB_OFFLINE=1 and a per-case timeout, against the tiny
`organism-mha` model (loads in about a second). Each outcome is put in one class:

- usage error before loading: exit 2, one `error:` line on stderr that names the input, and the
  model never loaded;
- clear error after loading: nonzero exit, a message naming the input, no traceback;
- unclear error: nonzero exit, no traceback, but the message does not name the input (or a usage
  error printed several `error:` lines);
- traceback: a Python traceback on stderr;
- crash: killed by a signal, no traceback;
- timeout: still running at the per-case limit (killed);
- silent success: exit 0 where the input was bad (damage, or a wrong result), or where a
  legitimate edge case gave a wrong result;
- handled: exit 0 on a legitimate edge case, and the result checks out;
- refused legit input: nonzero exit on an input that is legitimate.

"The model loaded" is read from stderr: transformers' "Loading weights" progress bar, which
every model load prints (embedded names and checkpoint folders alike). Timing is not used to
classify: a refusal after importing torch takes 5-9 s on a busy 2-core machine, as long as
loading the organism, so `seconds` is recorded beside it and `slow` marks runs of 8 s or more
without the marker.

Every case also checks "no partial output": after a failing run (nonzero exit), the
output paths named on its command line (--out, --html, --csv, --heads-by-layer-out, and
rejudge's default REPORT.rejudged.json) do not exist, or are byte-for-byte unchanged when they
existed before (a timed-out run is killed by the sweep, so what it left is listed apart, as
`left_after_kill`). Cases marked `legit` are inputs a user may rightly give (a small file used
whole, a transfer with --allow-other-weights, a v1 report); `either` marks inputs where a clear
refusal and a correct run are both acceptable. Run from the repository:

    HF_HUB_OFFLINE=1 .venv/bin/python experiments/bad_input_sweep.py --out /tmp/sweep.json
    .venv/bin/python experiments/bad_input_sweep.py --only tune --keep   # a subset, keep folders
"""

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Expect = Literal["bad", "legit", "either"]
Setup = Callable[[Path], None]
Check = Callable[[Path, str], str | None]

PYTHON = Path(sys.executable)
SYCOLENS = PYTHON.parent / "sycolens"
MODEL = ("--model", "organism-mha")
OUTPUT_FLAGS = ("--out", "--json", "--html", "--csv", "--heads-by-layer-out")
LOAD_MARKER = "Loading weights"
SLOW_S = 8.0
TRACEBACK = "Traceback (most recent call last)"
ERROR_LINE = re.compile(r"(^|: )error: ", re.MULTILINE)

USAGE = "usage error before loading"
AFTER = "clear error after loading"
UNCLEAR = "unclear error"
TRACE = "traceback"
CRASH = "crash"
TIMEOUT = "timeout"
SILENT = "silent success"
HANDLED = "handled"
REFUSED = "refused legit input"
FULL_STDERR = (TRACE, CRASH, TIMEOUT, SILENT, UNCLEAR, REFUSED)
CLASSES = (USAGE, AFTER, UNCLEAR, TRACE, CRASH, TIMEOUT, SILENT, HANDLED, REFUSED)


@dataclass(frozen=True)
class Case:
    """One bad or edge input: the command (after `sycolens` or `python`), what it should name
    when it refuses, and for legitimate inputs a check of the result."""

    name: str
    family: str
    argv: tuple[str, ...]
    names: tuple[str, ...] = ()
    expect: Expect = "bad"
    setup: Setup | None = None
    check: Check | None = None
    extra_outputs: tuple[str, ...] = ()
    note: str = ""
    timeout: float | None = None


@dataclass(frozen=True)
class Fixtures:
    """Inputs made once, by the CLI itself, shared (read-only) by every case."""

    root: Path

    @property
    def weights(self) -> Path:
        """The organism-mha checkpoint folder inside the installed package."""
        spec = importlib.util.find_spec("sycolens")
        assert spec is not None and spec.submodule_search_locations is not None
        package = Path(next(iter(spec.submodule_search_locations)))
        return package / "organism" / "weights" / "organism-mha"

    ranking = property(lambda self: self.root / "heads.json")
    by_layer = property(lambda self: self.root / "by_layer.json")
    run = property(lambda self: self.root / "run_mha")
    deltas = property(lambda self: self.root / "run_mha" / "deltas.safetensors")
    deltas_b = property(lambda self: self.root / "run_mha_b" / "deltas.safetensors")
    deltas_control = property(lambda self: self.root / "run_control" / "deltas.safetensors")
    deltas_gqa = property(lambda self: self.root / "run_gqa" / "deltas.safetensors")
    report = property(lambda self: self.root / "report.json")
    questions = property(lambda self: self.root / "questions.jsonl")
    texts = property(lambda self: self.root / "texts.txt")


# ---------------------------------------------------------------------------------------------
# Running and classifying


def environment() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def command(argv: tuple[str, ...]) -> list[str]:
    """`("-m", "sycolens.patch", ...)` runs under this Python; anything else is `sycolens ...`."""
    if argv and argv[0] == "-m":
        return [str(PYTHON), *argv]
    return [str(SYCOLENS), *argv]


def run_command(argv: list[str], cwd: Path, timeout: float) -> tuple[int | None, str, str, float]:
    """Runs argv in its own process group; returns (exit code or None on timeout, stdout,
    stderr, seconds). A timed-out run's whole group is killed."""
    start = time.monotonic()
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        code = None
    return code, out, err, time.monotonic() - start


def clean(stream: str) -> str:
    """Returns stderr as a reader sees it: each progress-bar line reduced to its last state."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in stream.split("\n")).strip()


def tail(text: str, lines: int = 12, chars: int = 2000) -> str:
    return "\n".join(text.splitlines()[-lines:])[-chars:]


def fingerprint(path: Path) -> Any:
    """Returns what a path holds: None when absent, a file's sha256, a folder's files' hashes."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if path.is_dir():
        return {
            str(child.relative_to(path)): hashlib.sha256(child.read_bytes()).hexdigest()
            for child in sorted(path.rglob("*"))
            if child.is_file()
        }
    return None


def outputs_of(case: Case, cwd: Path) -> list[Path]:
    """Returns the output paths named on the case's command line, and any implicit ones."""
    paths = [
        case.argv[i + 1]
        for i, token in enumerate(case.argv[:-1])
        if token in OUTPUT_FLAGS and not case.argv[i + 1].startswith("-")
    ]
    return [cwd / path for path in (*paths, *case.extra_outputs)]


def names_input(case: Case, message: str) -> bool:
    lowered = message.lower()
    return any(name.lower() in lowered for name in case.names) if case.names else True


def classify(case: Case, code: int | None, stdout: str, stderr: str, cwd: Path) -> tuple[str, str]:
    """Returns the outcome's class and why."""
    if code is None:
        return TIMEOUT, "killed at the per-case limit"
    text = clean(stderr)
    loaded = LOAD_MARKER in stderr
    if TRACEBACK in stderr:
        return TRACE, "Python traceback on stderr"
    if code < 0:
        return CRASH, f"killed by signal {-code}"
    if code == 0:
        if case.expect == "bad":
            return SILENT, "exit 0 on a bad input"
        problem = case.check(cwd, stdout) if case.check else None
        if problem:
            return SILENT, f"exit 0 but the result is wrong: {problem}"
        return HANDLED, "exit 0 and the result checks out"
    error_lines = ERROR_LINE.findall(text)
    first = ERROR_LINE.search(text)
    message = text[first.start() :] if first else tail(text, 4)
    named = names_input(case, message)
    if case.expect == "legit":
        return REFUSED, f"exit {code} on a legitimate input"
    if code == 2 and not loaded and len(error_lines) == 1 and named:
        return USAGE, "exit 2, one error: line naming the input, no load"
    if loaded and named:
        return AFTER, f"exit {code} after loading, message names the input"
    reasons = []
    if not named:
        reasons.append(f"message names none of {list(case.names)}")
    if code != 2 and not loaded:
        reasons.append(f"exit {code} before loading (a usage error is exit 2)")
    if len(error_lines) != 1:
        reasons.append(f"{len(error_lines)} error: lines")
    return UNCLEAR, "; ".join(reasons) or "?"


def run_case(case: Case, root: Path, timeout: float) -> dict[str, Any]:
    """Runs one case in a fresh folder under root and returns its record."""
    root.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", case.name)[:60]
    cwd = Path(tempfile.mkdtemp(prefix=f"{slug}-", dir=root))
    if case.setup:
        case.setup(cwd)
    outputs = outputs_of(case, cwd)
    before = {str(path): fingerprint(path) for path in outputs}
    files_before = fingerprint(cwd)
    argv = command(case.argv)
    code, stdout, stderr, seconds = run_command(argv, cwd, timeout)
    klass, why = classify(case, code, stdout, stderr, cwd)
    after = {str(path): fingerprint(path) for path in outputs}
    changed = [path for path in before if before[path] != after[path]]
    files_after = fingerprint(cwd)
    new_files = sorted(set(files_after) - set(files_before))
    failed = code is not None and code != 0
    loaded = LOAD_MARKER in stderr
    return {
        "name": case.name,
        "family": case.family,
        "expect": case.expect,
        "note": case.note,
        "argv": [Path(argv[0]).name, *argv[1:]],
        "cwd": str(cwd),
        "exit_code": code,
        "class": klass,
        "why": why,
        "seconds": round(seconds, 2),
        "loaded": loaded,
        "slow": seconds >= SLOW_S and not loaded,
        "outputs": [str(path.relative_to(cwd)) for path in outputs],
        "partial_output": [str(Path(p).relative_to(cwd)) for p in changed] if failed else [],
        "outputs_changed": [str(Path(p).relative_to(cwd)) for p in changed],
        "new_files": new_files,
        "left_after_kill": [str(Path(p).relative_to(cwd)) for p in changed] if code is None else [],
        "names": list(case.names),
        "stderr_tail": tail(clean(stderr), 15, 3000),
        "stderr": clean(stderr)[-20000:] if klass in FULL_STDERR else None,
        "stdout_tail": tail(clean(stdout), 6, 1000),
    }


# ---------------------------------------------------------------------------------------------
# Fixtures: made with the CLI, once


def make_fixtures(fx: Fixtures, timeout: float) -> list[dict[str, Any]]:
    """Writes a ranking, four SPT runs (two on organism-mha, one each on organism-control and
    organism-gqa), an evaluation report, an organism question file and a text file."""
    from sycolens.organism.question_set import ORGANISM_QUESTION_SET

    fx.root.mkdir(parents=True, exist_ok=True)
    questions = ORGANISM_QUESTION_SET.load_questions()[:12]
    fx.questions.write_text(
        "".join(json.dumps(dataclasses.asdict(q)) + "\n" for q in questions), encoding="utf-8"
    )
    texts = ORGANISM_QUESTION_SET.load_texts().texts[:3]
    fx.texts.write_text(texts[0] + "\n", encoding="utf-8")
    steps = [
        ("diagnose", *MODEL, "--n-questions", "16", "--out", str(fx.ranking),
         "--heads-by-layer-out", str(fx.by_layer)),
        ("tune", *MODEL, "--heads", "3.3,2.0", "--steps", "1", "--out", str(fx.run)),
        ("tune", *MODEL, "--heads", "1.2", "--steps", "1", "--out", str(fx.root / "run_mha_b")),
        ("tune", "--model", "organism-control", "--heads", "3.3", "--steps", "1",
         "--out", str(fx.root / "run_control")),
        ("tune", "--model", "organism-gqa", "--heads", "3.3", "--steps", "1",
         "--out", str(fx.root / "run_gqa")),
        ("evaluate", *MODEL, "--n-questions", "2", "--n-general", "0", "--n-texts", "1",
         "--out", str(fx.report)),
    ]  # fmt: skip
    made = []
    for argv in steps:
        code, _, err, seconds = run_command(command(argv), fx.root, timeout * 2)
        made.append({"argv": ["sycolens", *argv], "exit_code": code, "seconds": round(seconds, 2)})
        print(f"fixture  {seconds:6.1f}s  exit {code}  sycolens {' '.join(argv[:3])} ...")
        if code != 0:
            raise SystemExit(f"fixture failed: sycolens {' '.join(argv)}\n{tail(clean(err))}")
    return made


# ---------------------------------------------------------------------------------------------
# Case inputs


def write(name: str, content: str | bytes) -> Setup:
    def setup(cwd: Path) -> None:
        path = cwd / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")

    return setup


def copy(source: Path, name: str) -> Setup:
    def setup(cwd: Path) -> None:
        if source.is_dir():
            shutil.copytree(source, cwd / name)
        else:
            (cwd / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, cwd / name)

    return setup


def folder(name: str) -> Setup:
    return lambda cwd: (cwd / name).mkdir(parents=True)


def each(*setups: Setup) -> Setup:
    def setup(cwd: Path) -> None:
        for one in setups:
            one(cwd)

    return setup


def truncated(source: Path, name: str, fraction: float = 0.5) -> Setup:
    def setup(cwd: Path) -> None:
        data = source.read_bytes()
        (cwd / name).write_bytes(data[: int(len(data) * fraction)])

    return setup


def model_dir(fx: Fixtures, name: str, damage: Callable[[Path], None]) -> Setup:
    """A copy of organism-mha's checkpoint folder, then damaged."""

    def setup(cwd: Path) -> None:
        shutil.copytree(fx.weights, cwd / name)
        damage(cwd / name)

    return setup


def ranking_edited(fx: Fixtures, name: str, edit: Callable[[dict[str, Any]], None]) -> Setup:
    def setup(cwd: Path) -> None:
        document = json.loads(fx.ranking.read_text())
        edit(document)
        (cwd / name).write_text(json.dumps(document))

    return setup


def lines_of(fx: Fixtures) -> list[str]:
    return fx.questions.read_text(encoding="utf-8").splitlines(keepends=True)


GARBAGE = bytes(range(256)) * 64


# ---------------------------------------------------------------------------------------------
# Result checks of legitimate cases


def json_check(path: str, test: Callable[[Any], bool], what: str) -> Check:
    def check(cwd: Path, _stdout: str) -> str | None:
        file = cwd / path
        if not file.is_file():
            return f"{path} was not written"
        try:
            document = json.loads(file.read_text())
        except ValueError:
            return f"{path} is not JSON"
        return None if test(document) else f"{path}: {what}"

    return check


def files_check(*paths: str) -> Check:
    def check(cwd: Path, _stdout: str) -> str | None:
        missing = [path for path in paths if not (cwd / path).exists()]
        return f"missing {missing}" if missing else None

    return check


def stdout_check(text: str) -> Check:
    def check(_cwd: Path, stdout: str) -> str | None:
        return None if text in stdout else f"stdout lacks {text!r}"

    return check


def unchanged_check(fx: Fixtures, name: str) -> Check:
    """The run folder copied from the fixture still holds the same deltas."""

    def check(cwd: Path, _stdout: str) -> str | None:
        now = cwd / name / "deltas.safetensors"
        if not now.is_file():
            return "deltas.safetensors is gone"
        same = now.read_bytes() == fx.deltas.read_bytes()
        return None if same else "a finished run's deltas were replaced by other ones"

    return check


# ---------------------------------------------------------------------------------------------
# The cases


def head_list_cases(fx: Fixtures) -> list[Case]:
    f = "head lists"
    ranking = copy(fx.ranking, "heads.json")
    return [
        Case("knockout --heads 9.9", f, ("knockout", *MODEL, "--heads", "9.9", "--out", "k.json"),
             ("9.9",)),
        Case("tune --heads 3.3,3.3", f, ("tune", *MODEL, "--heads", "3.3,3.3", "--out", "run"),
             ("3.3",)),
        Case("attention --heads '3;3'", f,
             ("attention", *MODEL, "--heads", "3;3", "--out", "a.json"), ("3;3",)),
        Case("knockout --heads ''", f, ("knockout", *MODEL, "--heads", "", "--out", "k.json"),
             ("--heads",)),
        Case("tune --heads -1.0", f, ("tune", *MODEL, "--heads", "-1.0", "--out", "run"),
             ("-1.0",)),
        Case("knockout --heads {} file", f,
             ("knockout", *MODEL, "--heads", "empty.json", "--out", "k.json"), ("empty.json",),
             setup=write("empty.json", "{}")),
        Case("tune --heads {layer:[heads]} of another shape", f,
             ("tune", *MODEL, "--heads", "other.json", "--out", "run"), ("other.json",),
             setup=write("other.json", '{"7": [0], "1": [9]}')),
        Case("attention --heads {layer:[heads]} with a bool", f,
             ("attention", *MODEL, "--heads", "bool.json", "--out", "a.json"), ("bool.json",),
             setup=write("bool.json", '{"3": [true]}')),
        Case("knockout --heads a JSON list", f,
             ("knockout", *MODEL, "--heads", "list.json", "--out", "k.json"), ("list.json",),
             setup=write("list.json", "[[3, 3]]")),
        Case("knockout --heads empty ranking", f,
             ("knockout", *MODEL, "--heads", "ranking.json", "--out", "k.json"),
             ("ranking.json",),
             setup=ranking_edited(fx, "ranking.json", lambda d: d.update(scores=[], top_k=[]))),
        Case("attention --heads ranking of another shape (8 layers)", f,
             ("attention", *MODEL, "--heads", "ranking.json", "--out", "a.json"),
             ("ranking.json", "8"),
             setup=ranking_edited(fx, "ranking.json", lambda d: d["model"].update(n_layers=8))),
        Case("knockout --heads truncated ranking", f,
             ("knockout", *MODEL, "--heads", "heads.json", "--out", "k.json"), ("heads.json",),
             setup=truncated(fx.ranking, "heads.json")),
        Case("tune --heads a tune.json (another schema)", f,
             ("tune", *MODEL, "--heads", "tune.json", "--out", "run"), ("tune.json",),
             setup=copy(fx.run / "tune.json", "tune.json")),
        Case("tune --heads ranking --top-k 17 (16 heads)", f,
             ("tune", *MODEL, "--heads", "heads.json", "--top-k", "17", "--out", "run"),
             ("17", "--top-k"), setup=ranking),
        Case("tune --heads 3.3,2.0 --top-k 3", f,
             ("tune", *MODEL, "--heads", "3.3,2.0", "--top-k", "3", "--out", "run"),
             ("--top-k 3", "3")),
        Case("tune --random-heads --top-k 17", f,
             ("tune", *MODEL, "--random-heads", "--top-k", "17", "--out", "run"), ("17",)),
        Case("attention --heads ranking --top-k 0", f,
             ("attention", *MODEL, "--heads", "heads.json", "--top-k", "0", "--out", "a.json"),
             ("--top-k", "0"), setup=ranking),
        Case("knockout --ks 0", f,
             ("knockout", *MODEL, "--heads", "heads.json", "--ks", "0", "--out", "k.json"),
             ("--ks", "0"), setup=ranking),
        Case("knockout --ks 17 (16 heads)", f,
             ("knockout", *MODEL, "--heads", "heads.json", "--ks", "17", "--out", "k.json"),
             ("17",), setup=ranking),
        Case("knockout --ks a,b", f,
             ("knockout", *MODEL, "--heads", "3.3", "--ks", "a,b", "--out", "k.json"),
             ("--ks", "a,b")),
        Case("knockout --ks ''", f,
             ("knockout", *MODEL, "--heads", "3.3", "--ks", "", "--out", "k.json"), ("--ks",)),
        Case("attention --heads '3.3, 2.0,' (spaces, trailing comma)", f,
             ("attention", *MODEL, "--heads", " 3.3, 2.0,", "--n-questions", "4",
              "--out", "a.json"),
             expect="legit", check=files_check("a.json"),
             note="the head-list pattern allows spaces and a trailing comma"),
        Case("tune --heads {layer:[heads]} from diagnose", f,
             ("tune", *MODEL, "--heads", "by_layer.json", "--steps", "1", "--out", "run"),
             expect="legit", setup=copy(fx.by_layer, "by_layer.json"),
             check=files_check("run/deltas.safetensors", "run/tune.json")),
    ]  # fmt: skip


def question_cases(fx: Fixtures) -> list[Case]:
    f = "question files"
    good = lines_of(fx)
    small = ("--n-questions", "8")
    ev = ("--n-general", "0", "--n-texts", "1")
    return [
        Case("diagnose --questions empty .jsonl", f,
             ("diagnose", *MODEL, "--questions", "q.jsonl", "--out", "h.json"), ("q.jsonl",),
             setup=write("q.jsonl", "")),
        Case("diagnose --questions bad JSON on line 3", f,
             ("diagnose", *MODEL, "--questions", "q.jsonl", "--out", "h.json"), ("q.jsonl:3",),
             setup=write("q.jsonl", "".join(good[:2]) + good[2][:25] + "\n" + "".join(good[3:]))),
        Case("evaluate --questions records missing fields", f,
             ("evaluate", *MODEL, "--questions", "q.jsonl", *ev, "--out", "e.json"),
             ("q.jsonl",), setup=write("q.jsonl", '{"id": "a", "question": "x ?"}\n' * 3)),
        Case("tune --questions CSV without columns", f,
             ("tune", *MODEL, "--heads", "3.3", "--questions", "q.csv", "--out", "run"),
             ("q.csv",), setup=write("q.csv", "just one column\nanother row\n")),
        Case("knockout --questions non-UTF-8 bytes", f,
             ("knockout", *MODEL, "--heads", "3.3", "--questions", "q.jsonl", "--out", "k.json"),
             ("q.jsonl",),
             setup=write("q.jsonl", "".join(good[:3]).encode() + b'{"id": "caf\xe9"}\n')),
        Case("attention --questions blank line in the middle", f,
             ("attention", *MODEL, "--heads", "3.3", "--questions", "q.jsonl", "--out", "a.json"),
             ("q.jsonl",), setup=write("q.jsonl", "".join(good[:3]) + "\n" + "".join(good[3:]))),
        Case("diagnose --questions a line that is a JSON list", f,
             ("-m", "sycolens.patch", *MODEL, "--questions", "q.jsonl", "--out", "h.json"),
             ("q.jsonl",), setup=write("q.jsonl", "".join(good[:4]) + "[1, 2]\n")),
        Case("diagnose --questions .txt suffix", f,
             ("diagnose", *MODEL, "--questions", "q.txt", "--out", "h.json"), ("q.txt",),
             setup=write("q.txt", "".join(good))),
        Case("diagnose --questions missing file", f,
             ("diagnose", *MODEL, "--questions", "gone.jsonl", "--out", "h.json"),
             ("gone.jsonl",)),
        Case("diagnose --questions unknown set name", f,
             ("diagnose", *MODEL, "--questions", "nosuchset", "--out", "h.json"),
             ("nosuchset",)),
        Case("diagnose --questions a folder", f,
             ("diagnose", *MODEL, "--questions", "qdir", "--out", "h.json"), ("qdir",),
             setup=folder("qdir")),
        Case("evaluate --general empty file", f,
             ("evaluate", *MODEL, "--general", "g.jsonl", "--n-texts", "1", "--out", "e.json"),
             ("g.jsonl",), setup=write("g.jsonl", "")),
        Case("evaluate --texts binary .jsonl", f,
             ("evaluate", *MODEL, "--texts", "t.jsonl", "--n-general", "0", "--out", "e.json"),
             ("t.jsonl",), setup=write("t.jsonl", GARBAGE)),
        Case("evaluate --texts binary .txt", f,
             ("evaluate", *MODEL, "--texts", "t.txt", "--n-general", "0", "--out", "e.json"),
             ("t.txt",), setup=write("t.txt", GARBAGE)),
        Case("evaluate --texts binary file without suffix", f,
             ("evaluate", *MODEL, "--texts", "t.bin", "--n-general", "0", "--out", "e.json"),
             ("t.bin",), setup=write("t.bin", GARBAGE)),
        Case("evaluate --texts empty .txt", f,
             ("evaluate", *MODEL, "--texts", "t.txt", "--n-general", "0", "--out", "e.json"),
             ("t.txt",), setup=write("t.txt", "  \n")),
        Case("evaluate --texts missing", f,
             ("evaluate", *MODEL, "--texts", "gone.txt", "--n-general", "0", "--out", "e.json"),
             ("gone.txt",)),
        Case("evaluate --texts empty folder", f,
             ("evaluate", *MODEL, "--texts", "tdir", "--n-general", "0", "--out", "e.json"),
             ("tdir",), setup=folder("tdir")),
        Case("evaluate --texts .jsonl whose text is a number", f,
             ("evaluate", *MODEL, "--texts", "t.jsonl", "--n-general", "0", "--out", "e.json"),
             ("t.jsonl",), setup=write("t.jsonl", '{"text": 5}\n')),
        Case("diagnose --questions 12-question file, --n-questions 64", f,
             ("diagnose", *MODEL, "--questions", "q.jsonl", "--n-questions", "64",
              "--out", "h.json"),
             expect="legit", setup=copy(fx.questions, "q.jsonl"),
             check=json_check("h.json", lambda d: d["questions"]["n_used"] == 12,
                              "n_used is not 12"),
             note="help: a smaller source is used whole"),
        Case("diagnose --questions file with duplicate questions", f,
             ("diagnose", *MODEL, "--questions", "q.jsonl", *small, "--out", "h.json"),
             expect="legit", setup=write("q.jsonl", "".join(good) + "".join(good[:4])),
             check=json_check("h.json", lambda d: d["questions"]["n_duplicates_dropped"] > 0,
                              "no duplicate dropped"),
             note="help: a de-duplicated selection"),
        Case("evaluate --texts a folder of two .txt files", f,
             ("evaluate", *MODEL, "--n-questions", "2", "--n-general", "0", "--texts", "tdir",
              "--out", "e.json"),
             expect="legit",
             setup=each(copy(fx.texts, "tdir/a.txt"), copy(fx.texts, "tdir/sub/b.txt")),
             check=json_check("e.json", lambda d: d["data"]["texts"]["n_texts"] == 2,
                              "n_texts is not 2")),
        Case("evaluate --questions bundled (English) on the organism", f,
             ("evaluate", *MODEL, "--questions", "bundled", "--n-questions", "2", *ev,
              "--out", "e.json"),
             ("bundled", "vocab", "token"), expect="either",
             note="the organism's 169-token vocabulary cannot spell the bundled questions; a "
             "refusal or a run that says so are both fine"),
    ]  # fmt: skip


def safetensors_cases(fx: Fixtures) -> list[Case]:
    f = "safetensors"
    ev = ("--n-questions", "2", "--n-general", "0", "--n-texts", "1")
    return [
        Case("evaluate --deltas garbage", f,
             ("evaluate", *MODEL, "--deltas", "d.safetensors", *ev, "--out", "e.json"),
             ("d.safetensors",), setup=write("d.safetensors", GARBAGE)),
        Case("evaluate --deltas truncated", f,
             ("evaluate", *MODEL, "--deltas", "d.safetensors", *ev, "--out", "e.json"),
             ("d.safetensors",), setup=truncated(fx.deltas, "d.safetensors")),
        Case("evaluate --deltas empty file", f,
             ("evaluate", *MODEL, "--deltas", "d.safetensors", *ev, "--out", "e.json"),
             ("d.safetensors",), setup=write("d.safetensors", b"")),
        Case("evaluate --deltas a model.safetensors (not deltas)", f,
             ("evaluate", *MODEL, "--deltas", "model.safetensors", *ev, "--out", "e.json"),
             ("model.safetensors",), setup=copy(fx.weights / "model.safetensors",
                                                "model.safetensors")),
        Case("evaluate --deltas missing", f,
             ("evaluate", *MODEL, "--deltas", "gone.safetensors", *ev, "--out", "e.json"),
             ("gone.safetensors",)),
        Case("evaluate --deltas = --out", f,
             ("evaluate", *MODEL, "--deltas", "d.safetensors", *ev, "--out", "d.safetensors"),
             ("d.safetensors",), setup=copy(fx.deltas, "d.safetensors")),
        Case("merge garbage + good", f,
             ("merge", "bad.safetensors", str(fx.deltas), "--out", "m.safetensors"),
             ("bad.safetensors",), setup=write("bad.safetensors", GARBAGE)),
        Case("merge truncated + good", f,
             ("merge", "cut.safetensors", str(fx.deltas), "--out", "m.safetensors"),
             ("cut.safetensors",), setup=truncated(fx.deltas, "cut.safetensors", 0.8)),
        Case("merge one file", f, ("merge", str(fx.deltas), "--out", "m.safetensors"),
             ("two",)),
        Case("merge a missing file", f,
             ("merge", "gone.safetensors", str(fx.deltas), "--out", "m.safetensors"),
             ("gone.safetensors",)),
        Case("merge deltas of organism-mha and organism-control", f,
             ("merge", str(fx.deltas), str(fx.deltas_control), "--out", "m.safetensors"),
             ("run_control", "base", "weights")),
        Case("merge deltas of organism-mha and organism-gqa (other shape)", f,
             ("merge", str(fx.deltas), str(fx.deltas_gqa), "--out", "m.safetensors"),
             ("run_gqa", "shape", "base")),
        Case("merge a model.safetensors with deltas", f,
             ("merge", str(fx.weights / "model.safetensors"), str(fx.deltas),
              "--out", "m.safetensors"), ("model.safetensors",)),
        Case("merge --weights 1,2,3 for two files", f,
             ("merge", str(fx.deltas), str(fx.deltas_b), "--weights", "1,2,3",
              "--out", "m.safetensors"), ("--weights",)),
        Case("merge --weights 1 for two files", f,
             ("merge", str(fx.deltas), str(fx.deltas_b), "--weights", "1",
              "--out", "m.safetensors"), ("--weights",)),
        Case("merge --weights nan,1", f,
             ("merge", str(fx.deltas), str(fx.deltas_b), "--weights", "nan,1",
              "--out", "m.safetensors"), ("--weights", "nan")),
        Case("merge --weights 0,0", f,
             ("merge", str(fx.deltas), str(fx.deltas_b), "--weights", "0,0",
              "--out", "m.safetensors"), ("--weights", "0")),
        Case("merge --weights a,b", f,
             ("merge", str(fx.deltas), str(fx.deltas_b), "--weights", "a,b",
              "--out", "m.safetensors"), ("--weights", "a,b")),
        Case("merge --out = an input", f,
             ("merge", "a.safetensors", str(fx.deltas_b), "--out", "a.safetensors"),
             ("a.safetensors",), setup=copy(fx.deltas, "a.safetensors")),
        Case("merge --out a folder", f,
             ("merge", str(fx.deltas), str(fx.deltas_b), "--out", "mdir"), ("mdir",),
             setup=folder("mdir")),
        Case("merge --out under a file", f,
             ("merge", str(fx.deltas), str(fx.deltas_b), "--out", "f.txt/m.safetensors"),
             ("f.txt",), setup=write("f.txt", "x")),
        Case("merge two organism-mha delta sets", f,
             ("merge", str(fx.deltas), str(fx.deltas_b), "--out", "m.safetensors"),
             expect="legit", check=files_check("m.safetensors")),
        Case("evaluate --model dir with garbage model.safetensors", f,
             ("evaluate", "--model", "m", *ev, "--out", "e.json"), ("m",),
             setup=model_dir(fx, "m", lambda d: (d / "model.safetensors").write_bytes(GARBAGE))),
        Case("tune --model dir with truncated model.safetensors", f,
             ("tune", "--model", "m", "--heads", "3.3", "--out", "run"), ("m",),
             setup=model_dir(fx, "m", lambda d: (d / "model.safetensors").write_bytes(
                 (d / "model.safetensors").read_bytes()[:300_000]))),
        Case("diagnose --model dir with truncated config.json", f,
             ("diagnose", "--model", "m", "--out", "h.json"), ("config.json",),
             setup=model_dir(fx, "m", lambda d: (d / "config.json").write_text(
                 (d / "config.json").read_text()[:200]))),
        Case("knockout --model dir without weights", f,
             ("knockout", "--model", "m", "--heads", "3.3", "--out", "k.json"), ("m",),
             setup=model_dir(fx, "m", lambda d: (d / "model.safetensors").unlink())),
        Case("evaluate --tuned dir with garbage weights", f,
             ("evaluate", *MODEL, "--tuned", "t", *ev, "--out", "e.json"), ("t",),
             setup=model_dir(fx, "t", lambda d: (d / "model.safetensors").write_bytes(GARBAGE))),
        Case("evaluate --tuned a file", f,
             ("evaluate", *MODEL, "--tuned", "t.json", *ev, "--out", "e.json"), ("t.json",),
             setup=write("t.json", "{}")),
    ]  # fmt: skip


def other_weights_cases(fx: Fixtures) -> list[Case]:
    f = "other weights"
    ev = ("--n-questions", "2", "--n-general", "0", "--n-texts", "1")
    ranking = copy(fx.ranking, "heads.json")
    return [
        Case("evaluate --model organism-control --deltas (made on organism-mha)", f,
             ("evaluate", "--model", "organism-control", "--deltas", str(fx.deltas), *ev,
              "--out", "e.json"), ("--allow-other-weights",)),
        Case("evaluate --model organism-control --deltas --allow-other-weights", f,
             ("evaluate", "--model", "organism-control", "--deltas", str(fx.deltas),
              "--allow-other-weights", *ev, "--out", "e.json"),
             expect="legit",
             check=json_check("e.json", lambda d: len(d["models"]) == 2, "not two rows")),
        Case("evaluate --deltas of organism-gqa on organism-mha", f,
             ("evaluate", *MODEL, "--deltas", str(fx.deltas_gqa), *ev, "--out", "e.json"),
             ("run_gqa", "deltas")),
        Case("evaluate --deltas of organism-gqa on organism-mha, --allow-other-weights", f,
             ("evaluate", *MODEL, "--deltas", str(fx.deltas_gqa), "--allow-other-weights", *ev,
              "--out", "e.json"), ("run_gqa", "deltas", "shape"), expect="either",
             check=json_check("e.json", lambda d: "(other base)" in d["models"][1]["name"],
                              "the transfer row is not named '(other base)'"),
             note="GQA SPT trains only W_Q and W_O slices, whose shapes organism-mha shares, "
             "so the transfer is defined; refusing it is fine too"),
        Case("tune --model organism-control --heads (ranked on organism-mha)", f,
             ("tune", "--model", "organism-control", "--heads", "heads.json", "--out", "run"),
             ("--allow-other-weights",), setup=ranking),
        Case("knockout --model organism-control --heads (ranked on organism-mha)", f,
             ("knockout", "--model", "organism-control", "--heads", "heads.json",
              "--out", "k.json"), ("--allow-other-weights",), setup=ranking),
        Case("attention --model organism-gqa --heads (ranked on organism-mha)", f,
             ("attention", "--model", "organism-gqa", "--heads", "heads.json",
              "--out", "a.json"), ("--allow-other-weights", "heads.json"), setup=ranking),
        Case("knockout --model organism-control --heads ranking --allow-other-weights", f,
             ("knockout", "--model", "organism-control", "--heads", "heads.json",
              "--allow-other-weights", "--ks", "1,2", "--n-random", "1", "--n-questions", "4",
              "--out", "k.json"),
             expect="legit", setup=ranking, check=files_check("k.json"),
             note="a transfer"),
    ]  # fmt: skip


def json_cases(fx: Fixtures) -> list[Case]:
    f = "JSON inputs"
    v1 = Path(__file__).parents[1] / "tests" / "evaluation" / "reports" / "v1_questions_source.json"
    report = copy(fx.report, "r.json")
    implicit = ("r.rejudged.json",)
    return [
        Case("rejudge truncated report", f, ("rejudge", "r.json"), ("r.json",),
             setup=truncated(fx.report, "r.json"), extra_outputs=implicit),
        Case("rejudge empty file", f, ("rejudge", "r.json"), ("r.json",),
             setup=write("r.json", ""), extra_outputs=implicit),
        Case("rejudge binary file", f, ("rejudge", "r.json"), ("r.json",),
             setup=write("r.json", GARBAGE), extra_outputs=implicit),
        Case("rejudge a ranking (another schema)", f, ("rejudge", "r.json"), ("r.json",),
             setup=copy(fx.ranking, "r.json"), extra_outputs=implicit),
        Case("rejudge a JSON list", f, ("rejudge", "r.json"), ("r.json",),
             setup=write("r.json", "[]"), extra_outputs=implicit),
        Case("rejudge missing report", f, ("rejudge", "gone.json"), ("gone.json",)),
        Case("rejudge --out = the report", f, ("rejudge", "r.json", "--out", "r.json"),
             ("r.json",), setup=report),
        Case("rejudge --questions with bad JSON", f,
             ("rejudge", "r.json", "--questions", "q.jsonl"), ("q.jsonl",),
             setup=each(report, write("q.jsonl", "{not json\n")), extra_outputs=implicit),
        Case("rejudge report missing its models", f, ("rejudge", "r.json"), ("r.json",),
             setup=write("r.json", json.dumps({**json.loads(fx.report.read_text()),
                                               "models": None})),
             extra_outputs=implicit),
        Case("rejudge the v1 report fixture", f, ("rejudge", "v1.json"),
             expect="legit", setup=copy(v1, "v1.json"),
             check=json_check("v1.rejudged.json",
                              lambda d: d["rejudged"]["from_schema_version"] == 1,
                              "not rejudged from v1")),
        Case("rejudge the v1 report fixture --questions organism", f,
             ("rejudge", "v1.json", "--questions", "organism", "--out", "out.json"),
             expect="legit", setup=copy(v1, "v1.json"),
             check=json_check("out.json", lambda d: d["schema_version"] == 2, "not schema 2")),
        Case("rejudge a fresh report", f, ("-m", "sycolens.evaluate", "rejudge", "r.json"),
             expect="legit", setup=report, check=files_check("r.rejudged.json")),
        Case("pipeline --config truncated", f,
             ("pipeline", "--config", "c.json", "--smoke", "--out", "p"), ("c.json",),
             setup=truncated(Path(__file__).parent / "llama2-7b-chat.json", "c.json")),
        Case("pipeline --config missing", f,
             ("pipeline", "--config", "gone.json", "--out", "p"), ("gone.json",)),
        Case("pipeline --config {}", f,
             ("pipeline", "--config", "c.json", "--smoke", "--out", "p"), ("c.json",),
             setup=write("c.json", "{}")),
    ]  # fmt: skip


def output_cases(fx: Fixtures) -> list[Case]:
    f = "outputs"
    ranking = copy(fx.ranking, "heads.json")
    run = copy(fx.run, "run")
    small = ("--n-questions", "8")
    return [
        Case("diagnose --out a folder", f, ("diagnose", *MODEL, "--out", "odir"), ("odir",),
             setup=folder("odir")),
        Case("knockout --out = --heads", f,
             ("knockout", *MODEL, "--heads", "heads.json", "--out", "heads.json"),
             ("heads.json",), setup=ranking),
        Case("attention --out = --heads", f,
             ("attention", *MODEL, "--heads", "heads.json", "--out", "heads.json"),
             ("heads.json",), setup=ranking),
        Case("tune --out = --heads (a file)", f,
             ("tune", *MODEL, "--heads", "heads.json", "--out", "heads.json"), ("heads.json",),
             setup=ranking),
        Case("attention --html = --heads", f,
             ("attention", *MODEL, "--heads", "heads.json", "--html", "heads.json"),
             ("heads.json",), setup=ranking),
        Case("diagnose --out under a file", f,
             ("diagnose", *MODEL, "--out", "f.txt/h.json"), ("f.txt",), setup=write("f.txt", "x")),
        Case("tune --out under a file", f,
             ("tune", *MODEL, "--heads", "3.3", "--out", "f.txt/run"), ("f.txt",),
             setup=write("f.txt", "x")),
        Case("diagnose --out = --html", f,
             ("diagnose", *MODEL, "--out", "h.html", "--html", "h.html"), ("h.html",)),
        Case("diagnose --out = --heads-by-layer-out", f,
             ("diagnose", *MODEL, "--out", "h.json", "--heads-by-layer-out", "h.json"),
             ("h.json",)),
        Case("evaluate --out = --html", f,
             ("evaluate", *MODEL, "--out", "e.json", "--html", "e.json"), ("e.json",)),
        Case("knockout --out = --csv", f,
             ("knockout", *MODEL, "--heads", "3.3", "--out", "k.json", "--csv", "k.json"),
             ("k.json",)),
        Case("attention --out .html (JSON flag)", f,
             ("attention", *MODEL, "--heads", "3.3", "--out", "a.html"), ("a.html",)),
        Case("evaluate --html a folder", f,
             ("evaluate", *MODEL, "--html", "hdir", "--out", "e.json"), ("hdir",),
             setup=folder("hdir")),
        Case("tune --out an existing finished run, other flags", f,
             ("tune", *MODEL, "--heads", "3.3,2.0", "--steps", "2", "--out", "run"), ("run",),
             setup=run, note="the fixture run was made with --steps 1"),
        Case("tune --out a folder holding an unrelated tune.json", f,
             ("tune", *MODEL, "--heads", "3.3", "--steps", "1", "--out", "run"),
             ("run", "tune.json"), setup=write("run/tune.json", '{"mine": true}')),
        Case("tune --out an existing finished run, same flags", f,
             ("tune", *MODEL, "--heads", "3.3,2.0", "--steps", "1", "--out", "run"),
             expect="either", setup=run, check=unchanged_check(fx, "run"),
             note="help: an interrupted run resumes with the same flags; a finished one "
             "should be left as it is (or redone identically)"),
        Case("evaluate --out a report of other data", f,
             ("evaluate", *MODEL, "--n-questions", "3", "--n-general", "0", "--n-texts", "1",
              "--out", "r.json"), ("r.json",), setup=copy(fx.report, "r.json"),
             note="the fixture report was made with --n-questions 2"),
        Case("evaluate --out a report of the same data (resume)", f,
             ("evaluate", *MODEL, "--n-questions", "2", "--n-general", "0", "--n-texts", "1",
              "--out", "r.json"),
             expect="legit", setup=copy(fx.report, "r.json"),
             check=json_check("r.json", lambda d: len(d["models"]) == 1, "rows changed"),
             note="help: a rerun with the same data skips the models already in it"),
        Case("pipeline --out an existing file", f,
             ("pipeline", "--parts", "organism", "--smoke", "--out", "p.txt"), ("p.txt",),
             setup=write("p.txt", "keep me")),
        Case("organism train --out an existing file", f,
             ("organism", "train", "--variant", "mha", "--steps", "1", "--out", "o.txt"),
             ("o.txt",), setup=write("o.txt", "keep me")),
        Case("diagnose --top-k 16 (every head)", f,
             ("diagnose", *MODEL, *small, "--top-k", "16", "--out", "h.json"),
             expect="legit",
             check=json_check("h.json", lambda d: len(d["top_k"]) == 16, "top_k is not 16")),
    ]  # fmt: skip


def number_cases() -> list[Case]:
    f = "numbers"
    small = ("--n-questions", "8")
    ev = ("--n-general", "0", "--n-texts", "1")
    tune = ("tune", *MODEL, "--heads", "3.3")
    return [
        Case("tune --lr inf", f, (*tune, "--lr", "inf", "--out", "run"), ("--lr", "inf")),
        Case("tune --lr nan", f, (*tune, "--lr", "nan", "--out", "run"), ("--lr", "nan")),
        Case("tune --lr -0.1", f, (*tune, "--lr", "-0.1", "--out", "run"), ("--lr", "-0.1")),
        Case("tune --lr 1e30 --steps 3 (loss goes non-finite)", f,
             (*tune, "--lr", "1e30", "--steps", "3", "--out", "run"),
             ("loss", "--lr", "finite"), note="should stop on the non-finite loss"),
        Case("tune --steps 0", f, (*tune, "--steps", "0", "--out", "run"), ("--steps",)),
        Case("tune --steps -1", f, (*tune, "--steps", "-1", "--out", "run"), ("--steps",)),
        Case("tune --batch-size 0", f, (*tune, "--batch-size", "0", "--out", "run"),
             ("--batch-size",)),
        Case("tune --accumulation 0", f, (*tune, "--accumulation", "0", "--out", "run"),
             ("--accumulation",)),
        Case("tune --warmup -1", f, (*tune, "--warmup", "-1", "--out", "run"), ("--warmup",)),
        Case("tune --weight-decay nan", f, (*tune, "--weight-decay", "nan", "--out", "run"),
             ("--weight-decay",)),
        Case("tune --lora-rank 0", f, (*tune, "--lora-rank", "0", "--out", "run"),
             ("--lora-rank",)),
        Case("tune --roles foo", f, (*tune, "--roles", "foo", "--out", "run"), ("foo",)),
        Case("tune --roles ''", f, (*tune, "--roles", "", "--out", "run"), ("--roles",)),
        Case("tune --batch-size 100000 --steps 1", f,
             (*tune, "--batch-size", "100000", "--steps", "1", "--out", "run"),
             ("--batch-size",), expect="either", check=files_check("run/deltas.safetensors"),
             note="a micro-batch larger than the 64 questions: clamp or refuse"),
        Case("diagnose --batch-size 100000", f,
             ("diagnose", *MODEL, *small, "--batch-size", "100000", "--out", "h.json"),
             expect="legit", check=files_check("h.json"),
             note="a batch larger than the work is only an upper bound"),
        Case("diagnose --batch-size 0", f,
             ("diagnose", *MODEL, "--batch-size", "0", "--out", "h.json"), ("--batch-size",)),
        Case("diagnose --batch-size -4", f,
             ("diagnose", *MODEL, "--batch-size", "-4", "--out", "h.json"), ("--batch-size",)),
        Case("diagnose --n-questions 0", f,
             ("diagnose", *MODEL, "--n-questions", "0", "--out", "h.json"), ("0 questions",)),
        Case("diagnose --top-k 0", f, ("diagnose", *MODEL, "--top-k", "0", "--out", "h.json"),
             ("--top-k",)),
        Case("diagnose --top-k 17 (16 heads)", f,
             ("diagnose", *MODEL, "--top-k", "17", "--out", "h.json"), ("--top-k", "17")),
        Case("diagnose --seed abc", f,
             ("diagnose", *MODEL, "--seed", "abc", "--out", "h.json"), ("--seed",)),
        Case("evaluate --n-questions -3", f,
             ("evaluate", *MODEL, "--n-questions", "-3", *ev, "--out", "e.json"), ("-3",)),
        Case("knockout --n-questions 0", f,
             ("knockout", *MODEL, "--heads", "3.3", "--n-questions", "0", "--out", "k.json"),
             ("0",)),
        Case("attention --n-questions -1", f,
             ("attention", *MODEL, "--heads", "3.3", "--n-questions", "-1", "--out", "a.json"),
             ("-1",)),
        Case("attention --views -1", f,
             ("attention", *MODEL, "--heads", "3.3", "--views", "-1", "--out", "a.json"),
             ("--views",)),
        Case("knockout --n-random -1", f,
             ("knockout", *MODEL, "--heads", "3.3", "--n-random", "-1", "--out", "k.json"),
             ("--n-random",)),
        Case("evaluate --n-general -1", f,
             ("evaluate", *MODEL, "--n-general", "-1", "--n-texts", "1", "--out", "e.json"),
             ("--n-general", "-1")),
        Case("evaluate --n-texts 0", f,
             ("evaluate", *MODEL, "--n-general", "0", "--n-texts", "0", "--out", "e.json"),
             ("--n-texts", "0 texts")),
        Case("evaluate --n-texts -2", f,
             ("evaluate", *MODEL, "--n-general", "0", "--n-texts", "-2", "--out", "e.json"),
             ("--n-texts", "-2")),
        Case("evaluate --batch-size 0", f,
             ("evaluate", *MODEL, *ev, "--batch-size", "0", "--out", "e.json"),
             ("--batch-size",)),
        Case("evaluate --challenge 10 (phrasings 0-9)", f,
             ("evaluate", *MODEL, *ev, "--challenge", "10", "--out", "e.json"),
             ("--challenge", "10"), expect="either",
             note="'10' could be meant as the text itself; a refusal naming 0-9 is clearer"),
        Case("evaluate --challenge ''", f,
             ("evaluate", *MODEL, *ev, "--challenge", "", "--out", "e.json"), ("--challenge",)),
        Case("evaluate --n-general 0 (measure none)", f,
             ("evaluate", *MODEL, "--n-questions", "2", "--n-general", "0", "--n-texts", "1",
              "--out", "e.json"),
             expect="legit", check=files_check("e.json"), note="help: 0 measures none"),
        Case("organism train --steps 0", f,
             ("organism", "train", "--variant", "mha", "--steps", "0", "--out", "o"),
             ("--steps",)),
        Case("organism train --steps -5", f,
             ("organism", "train", "--variant", "mha", "--steps", "-5", "--out", "o"),
             ("--steps",)),
    ]  # fmt: skip


def device_cases() -> list[Case]:
    f = "devices"
    return [
        Case("diagnose --device cuda", f,
             ("diagnose", *MODEL, "--device", "cuda", "--out", "h.json"), ("cuda",)),
        Case("knockout --device tpu:7", f,
             ("knockout", *MODEL, "--heads", "3.3", "--device", "tpu:7", "--out", "k.json"),
             ("tpu:7",)),
        Case("evaluate --device cuda:9", f,
             ("evaluate", *MODEL, "--device", "cuda:9", "--out", "e.json"), ("cuda:9",)),
        Case("tune --device mps", f,
             ("tune", *MODEL, "--heads", "3.3", "--device", "mps", "--out", "run"), ("mps",)),
        Case("attention --device cuda:0", f,
             ("attention", *MODEL, "--heads", "3.3", "--device", "cuda:0", "--out", "a.json"),
             ("cuda:0",)),
        Case("diagnose --device ''", f, ("diagnose", *MODEL, "--device", "", "--out", "h.json"),
             ("--device", "device")),
        Case("pipeline --device tpu:7", f,
             ("pipeline", "--parts", "organism", "--smoke", "--device", "tpu:7", "--out", "p"),
             ("tpu:7",)),
    ]  # fmt: skip


def model_cases() -> list[Case]:
    f = "models"
    return [
        Case("diagnose --model unknown name", f,
             ("diagnose", "--model", "organism-xyz", "--out", "h.json"), ("organism-xyz",)),
        Case("tune --model hub id, offline", f,
             ("tune", "--model", "someone/not-a-model", "--heads", "3.3", "--out", "run"),
             ("someone/not-a-model",)),
        Case("evaluate --model an empty dir", f,
             ("evaluate", "--model", "mdir", "--out", "e.json"), ("mdir",),
             setup=folder("mdir")),
        Case("knockout --model a missing path", f,
             ("knockout", "--model", "./no/such/dir", "--heads", "3.3", "--out", "k.json"),
             ("no/such/dir",)),
        Case("evaluate --tuned hub id, offline", f,
             ("evaluate", *MODEL, "--tuned", "someone/not-a-model", "--out", "e.json"),
             ("someone/not-a-model",)),
        Case("diagnose --dtype float64", f,
             ("diagnose", *MODEL, "--dtype", "float64", "--out", "h.json"), ("float64",)),
    ]  # fmt: skip


def command_cases() -> list[Case]:
    f = "commands"
    return [
        Case("pipeline --parts ''", f, ("pipeline", "--parts", "", "--out", "p"), ("--parts",)),
        Case("pipeline --parts nope", f, ("pipeline", "--parts", "nope", "--out", "p"),
             ("nope",)),
        Case("pipeline --parts organism --config c.json", f,
             ("pipeline", "--parts", "organism", "--config", "c.json", "--out", "p"),
             ("--config", "--parts"), setup=write("c.json", "{}")),
        Case("pipeline --model with the two demo parts", f,
             ("pipeline", "--model", "organism-mha", "--smoke", "--out", "p"), ("--model",)),
        Case("pipeline --parts organism --model unknown name", f,
             ("pipeline", "--parts", "organism", "--model", "organism-xyz", "--smoke",
              "--out", "p"), ("organism-xyz",)),
        Case("organism train --variant nope", f,
             ("organism", "train", "--variant", "nope", "--out", "o"), ("nope",)),
        Case("organism (no subcommand)", f, ("organism",), ("train", "required", "command")),
        Case("unknown subcommand", f, ("frobnicate", "--out", "x.json"), ("frobnicate",)),
        Case("unknown flag", f, ("diagnose", *MODEL, "--no-such-flag", "--out", "h.json"),
             ("--no-such-flag",)),
        Case("sycolens with no arguments", f, (), expect="either",
             check=stdout_check("subcommands"), note="prints the usage"),
        Case("python -m sycolens.patch --heads 3.3 (diagnose takes none)", f,
             ("-m", "sycolens.patch", *MODEL, "--heads", "3.3", "--out", "h.json"),
             ("--heads",)),
        Case("python -m sycolens.ablate --heads 9.9", f,
             ("-m", "sycolens.ablate", *MODEL, "--heads", "9.9", "--out", "k.json"), ("9.9",)),
        Case("python -m sycolens.attention --heads 3.3 --top-k 2", f,
             ("-m", "sycolens.attention", *MODEL, "--heads", "3.3", "--top-k", "2",
              "--out", "a.json"), ("--top-k",)),
        Case("python -m sycolens.tune --lr inf", f,
             ("-m", "sycolens.tune", *MODEL, "--heads", "3.3", "--lr", "inf", "--out", "run"),
             ("--lr",)),
        Case("python -m sycolens.tune merge one file", f,
             ("-m", "sycolens.tune", "merge", "a.safetensors", "--out", "m.safetensors"),
             ("two", "a.safetensors"), setup=write("a.safetensors", GARBAGE)),
        Case("python -m sycolens.evaluate rejudge truncated", f,
             ("-m", "sycolens.evaluate", "rejudge", "r.json", "--out", "o.json"), ("r.json",),
             setup=write("r.json", '{"schema": "sycolens.evaluation", "models": [')),
        Case("python -m sycolens.organism train --variant nope", f,
             ("-m", "sycolens.organism", "train", "--variant", "nope", "--out", "o"), ("nope",)),
        Case("python -m sycolens.pipeline --parts ''", f,
             ("-m", "sycolens.pipeline", "--parts", "", "--out", "p"), ("--parts",)),
        Case("python -m sycolens frobnicate", f, ("-m", "sycolens", "frobnicate"),
             ("frobnicate",)),
    ]  # fmt: skip


def all_cases(fx: Fixtures) -> list[Case]:
    return [
        *head_list_cases(fx),
        *question_cases(fx),
        *safetensors_cases(fx),
        *other_weights_cases(fx),
        *json_cases(fx),
        *output_cases(fx),
        *number_cases(),
        *device_cases(),
        *model_cases(),
        *command_cases(),
    ]


# ---------------------------------------------------------------------------------------------
# Report


def summary(results: list[dict[str, Any]], seconds: float) -> str:
    width = max(len(r["name"]) for r in results)
    lines = [
        f"{'case':<{width}}  expect  exit   secs  load  class",
        "-" * (width + 48),
    ]
    for r in results:
        flags = " PARTIAL OUTPUT" if r["partial_output"] else ""
        lines.append(
            f"{r['name']:<{width}}  {r['expect']:<6}  {r['exit_code']!s:>4}  {r['seconds']:5.1f}"
            f"  {'yes' if r['loaded'] else 'no':<4}  {r['class']}{flags}"
        )
    counts = Counter(r["class"] for r in results)
    lines += ["", "class                        cases", "-" * 34]
    lines += [f"{klass:<28} {counts[klass]:>5}" for klass in CLASSES if counts[klass]]
    partial = [r["name"] for r in results if r["partial_output"]]
    lines += [
        f"{'total':<28} {len(results):>5}",
        "",
        f"partial output after a failure: {len(partial)}" + (f" {partial}" if partial else ""),
        f"legitimate cases: {sum(r['expect'] == 'legit' for r in results)}, "
        f"either: {sum(r['expect'] == 'either' for r in results)}",
        f"cases run in {seconds:.0f} s",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="JSON of every case's outcome")
    parser.add_argument("--only", help="run only the cases whose name or family holds this")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args(argv)

    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="sycolens-sweep-"))
    try:
        fx = Fixtures(root / "fixtures")
        made = make_fixtures(fx, args.timeout)
        fixture_seconds = time.monotonic() - started
        cases = all_cases(fx)
        if args.only:
            cases = [c for c in cases if args.only in c.name or args.only in c.family]
        if len({c.name for c in cases}) != len(cases):
            raise SystemExit("two cases share a name")
        print(f"{len(cases)} cases, fixtures made in {fixture_seconds:.0f} s under {root}")
        results = []
        cases_started = time.monotonic()
        for number, case in enumerate(cases, start=1):
            result = run_case(case, root / "cases", case.timeout or args.timeout)
            results.append(result)
            partial = "  PARTIAL OUTPUT" if result["partial_output"] else ""
            print(
                f"[{number:3}/{len(cases)}] {result['seconds']:5.1f}s exit "
                f"{result['exit_code']!s:>4}  {result['class']:<26} {case.name}{partial}",
                flush=True,
            )
        cases_seconds = time.monotonic() - cases_started
        total = time.monotonic() - started
        print()
        print(summary(results, cases_seconds))
        print(f"total run time (fixtures + cases): {total:.0f} s")
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            document = {
                "load_detection": f"'{LOAD_MARKER}' on stderr (timing is recorded, not used)",
                "timeout_s": args.timeout,
                "fixtures": made,
                "fixture_seconds": round(fixture_seconds, 1),
                "cases_seconds": round(cases_seconds, 1),
                "total_seconds": round(total, 1),
                "counts": dict(Counter(r["class"] for r in results)),
                "cases": results,
            }
            args.out.write_text(json.dumps(document, indent=1))
            print(f"wrote {args.out}")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
