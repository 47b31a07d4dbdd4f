"""Each artefact's JSON is read by the class that owns it; other code uses its typed views.

A ranking, knockout curve, attention result, tuning run and evaluation report each keep their
JSON in `.document`; only the artefact's own class and its door read keys from it, so a schema
change has one reader to follow (the issue this guards: `data/held_out.py` and the pipeline's
report once read rankings and tuning runs by key).
"""

import ast
from pathlib import Path

import pytest

import sycolens
from sycolens.models import LoadedModel
from sycolens.models.record import ModelRecord

PACKAGE = Path(sycolens.__file__).parent
# The artefact classes' modules (reading `self.document`) and their doors (`result`/`report`).
OWNERS = {
    "patching/ranking_file.py": "self",
    "ablation/run.py": "self",
    "ablate.py": "result",
    "attention/run.py": "self",
    "attention/__main__.py": "result",
    "tuning/run.py": "self",
    "evaluation/report.py": "self",
    "evaluate.py": "report",
}


def _document_reads(path: Path) -> list[tuple[int, str]]:
    """Returns (line, receiver) of every `X.document[...]` and `X.document.get(...)` in a file."""
    reads: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        target = None
        if not isinstance(node, ast.expr):
            continue
        if isinstance(node, ast.Subscript):
            target = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value if node.func.attr == "get" else None
        if isinstance(target, ast.Attribute) and target.attr == "document":
            receiver = target.value
            reads.append((node.lineno, receiver.id if isinstance(receiver, ast.Name) else "?"))
    return reads


def test_only_an_artefacts_own_class_and_door_read_its_json_by_key():
    strays = [
        f"{path.relative_to(PACKAGE)}:{line} reads {receiver}.document by key"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, receiver in _document_reads(path)
        if OWNERS.get(str(path.relative_to(PACKAGE))) != receiver
    ]
    assert not strays, "\n".join(strays)


def test_the_scan_finds_a_read_by_key(tmp_path: Path):
    source = tmp_path / "stray.py"
    source.write_text("x = ranking.document['model']['id']\ny = run.document.get('mode')\n")
    assert sorted(_document_reads(source)) == [(1, "ranking"), (2, "run")]


def test_a_model_record_reads_back_what_it_wrote(organism: LoadedModel):
    record = ModelRecord.of(organism)
    assert ModelRecord.from_json(record.to_json(), "heads.json") == record
    assert record.device_map is None and (record.n_layers, record.n_heads) == (4, 4)
    with pytest.raises(ValueError, match=r"heads\.json has no intact model record"):
        ModelRecord.from_json({"id": "organism-mha"}, "heads.json")
