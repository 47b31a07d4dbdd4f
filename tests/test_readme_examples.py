"""The docs' library examples (docs/examples.md) run as written, in order, on the organism."""

import re
from pathlib import Path

import pytest

from sycolens.evaluation.report import EvaluationReport

EXAMPLES = Path(__file__).parents[1] / "docs" / "examples.md"
TITLE = "# Library examples, one per step\n"


def library_examples() -> list[str]:
    """Returns the python blocks of the library-examples page, in order."""
    text = EXAMPLES.read_text(encoding="utf-8")
    assert text.startswith(TITLE), f"{EXAMPLES} must open with {TITLE!r}"
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_library_examples_run_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    blocks = library_examples()
    assert len(blocks) == 5  # diagnose, knockouts, attention, tune, evaluate
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(EXAMPLES), "exec"), namespace)  # noqa: S102
    for written in ("heads.json", "spt/deltas.safetensors", "spt/tune.json"):
        assert (tmp_path / written).is_file()
    report = namespace["report"]
    assert isinstance(report, EvaluationReport)
    assert len(report.records) == 2  # the base and its SPT deltas
