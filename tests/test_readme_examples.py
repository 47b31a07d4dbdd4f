"""The README's library examples run as written, in order, on the organism."""

import re
from pathlib import Path

import pytest

from sycolens.evaluation.report import EvaluationReport

README = Path(__file__).parents[1] / "README.md"


def library_examples() -> list[str]:
    """Returns the python blocks of the README's library-examples section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Library examples, one per step", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_library_examples_run_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    blocks = library_examples()
    assert len(blocks) == 5  # diagnose, knockouts, attention, tune, evaluate
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    for written in ("heads.json", "spt/deltas.safetensors", "spt/tune.json"):
        assert (tmp_path / written).is_file()
    report = namespace["report"]
    assert isinstance(report, EvaluationReport)
    assert len(report.records) == 2  # the base and its SPT deltas
