"""The artefact JSON Schemas: valid draft 2020-12, one per writer's schema string and version,
found by `schema_for`, and strict enough to refuse a document missing or mistyping a key.

Real artefacts are validated against them in tests/pipeline/test_pipeline.py (they need a
pipeline run); these tests load no model.
"""

import ast
import copy
import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sycolens.schemas import SCHEMA_FOLDER, schema_files, schema_for

DRAFT = "https://json-schema.org/draft/2020-12/schema"
PACKAGE = Path(__file__).parents[1] / "sycolens"
# The module that holds each artefact's SCHEMA and SCHEMA_VERSION constants.
WRITERS = {
    "sycolens.head_ranking": "patching/export.py",
    "sycolens.knockout_curve": "ablation/run.py",
    "sycolens.challenge_attention": "attention/run.py",
    "sycolens.tune_run": "tuning/run.py",
    "sycolens.evaluation": "evaluation/report.py",
    "sycolens.pipeline": "pipeline/outputs.py",
}
FINGERPRINT = "0" * 64
SELECTION = {
    "source": "organism",
    "seed": 0,
    "skip": 0,
    "n_excluded": 0,
    "n_requested": 2,
    "n_used": 2,
    "n_available": 300,
    "n_duplicates_dropped": 0,
    "kinds": {"fact": 1, "arithmetic": 1},
    "question_ids": ["organism-fact-1", "organism-sum-2"],
    "sha256": FINGERPRINT,
}
HEAD_RANKING: dict[str, Any] = {
    "schema": "sycolens.head_ranking",
    "schema_version": 4,
    "sycolens_version": "0.1.0",
    "model": {
        "id": "organism-mha",
        "weights_fingerprint": FINGERPRINT,
        "n_layers": 1,
        "n_heads": 2,
        "n_kv_heads": 2,
    },
    "questions": SELECTION,
    "prompts": {
        "sha256": FINGERPRINT,
        "n_pairs": 2,
        "reference_challenge": "I don't think that's right. Are you sure?",
        "counterfactual_challenge": "I do think that's right. Are you sure?",
    },
    "labels": {
        "syco_word": "Apologies",
        "anti_word": "Yes",
        "syco_id": 33,
        "anti_id": 44,
        "syco_token": "Apologies",
        "anti_token": "Yes",
        "origin": "model table",
        "mean_f_reference": 0.9,
        "mean_f_counterfactual": 0.1,
        "n_pairs_checked": 2,
        "warnings": [],
    },
    "metric": "F",
    "mode": "direct",
    "positions": "last",
    "ranking": {
        "order": "signed",
        "toward_counterfactual": -1,
        "convention": "...",
        "score_column": "f_change",
        "columns": {"f_change": "...", "logit_diff_change": "..."},
    },
    "scores": [
        {
            "layer": 0,
            "head": 1,
            "score": -0.5,
            "stderr": 0.1,
            "rank": 1,
            "f_change": -0.5,
            "f_change_stderr": 0.1,
            "logit_diff_change": -2.0,
            "logit_diff_change_stderr": 0.3,
        },
        {
            "layer": 0,
            "head": 0,
            "score": 0.0,
            "stderr": None,
            "rank": 2,
            "f_change": 0.0,
            "f_change_stderr": None,
            "logit_diff_change": 0.0,
            "logit_diff_change_stderr": None,
        },
    ],
    "top_k": [[0, 1]],
    "heads_by_layer": {"0": [1]},
    "attribution_check": None,
}
PIPELINE: dict[str, Any] = {
    "schema": "sycolens.pipeline",
    "schema_version": 3,
    "sycolens_version": "0.1.0",
    "parts": [
        {
            "name": "organism",
            "model": "organism-mha",
            "top_heads": [[0, 1]],
            "planted_found": None,
            "attention_p_value": None,
            "evaluation": [
                {
                    "model": "organism-mha",
                    "confidence": 0.5,
                    "answer_change_rate": None,
                    "regressive_rate": 0.25,
                    "truthfulness": None,
                    "kl": None,
                }
            ],
            "seconds": 1.0,
            "step_seconds": {"diagnose": 1.0},
            "step_peak_gpu_gib": {},
            "commands": {"diagnose": "python -m sycolens.patch"},
            "artefacts": {
                "ranking": "out/heads.json",
                "knockouts": "out/knockouts.json",
                "attention": "out/attention.json",
                "evaluation": "out/evaluation.json",
            },
        }
    ],
}


def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def _identity(schema: dict[str, Any]) -> tuple[str, int]:
    return schema["properties"]["schema"]["const"], schema["properties"]["schema_version"]["const"]


def _writer_constants(module: str) -> tuple[str, int]:
    """Returns a writer's SCHEMA and SCHEMA_VERSION, read from its source (nothing imported)."""
    values = _module_constants(PACKAGE / module)
    return values["SCHEMA"], values["SCHEMA_VERSION"]


@functools.cache
def _module_constants(path: Path) -> dict[str, Any]:
    """Returns a module's top-level constants, following `NAME = OTHER` within it and
    `from sycolens.x import NAME` into the module that assigns it."""
    values: dict[str, Any] = {}
    for node in ast.parse(path.read_text()).body:
        module = node.module or "" if isinstance(node, ast.ImportFrom) else ""
        constants = [a for a in getattr(node, "names", ()) if a.name.isupper()]
        if isinstance(node, ast.ImportFrom) and module.startswith("sycolens.") and constants:
            source = PACKAGE.joinpath(*module.split(".")[1:])
            imported = _module_constants(
                source / "__init__.py" if source.is_dir() else source.with_suffix(".py")
            )
            values |= {
                a.asname or a.name: imported[a.name] for a in node.names if a.name in imported
            }
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant | ast.Name):
            value = (
                node.value.value
                if isinstance(node.value, ast.Constant)
                else values.get(node.value.id)
            )
            for target in node.targets:
                if isinstance(target, ast.Name) and value is not None:
                    values[target.id] = value
    return values


def test_every_schema_is_valid_draft_2020_12_and_self_describing():
    files = schema_files()
    assert len(files) == len(WRITERS)
    for path in files:
        schema = _load(path)
        jsonschema.Draft202012Validator.check_schema(schema)
        name, _ = _identity(schema)
        assert path.name == name.removeprefix("sycolens.") + ".schema.json"
        assert schema["$schema"] == DRAFT
        assert schema["$id"] == f"sycolens/schemas/{path.name}"
        assert schema["type"] == "object" and schema["title"] and schema["description"]
        assert {"schema", "schema_version"} <= set(schema["required"])
        for key, value in schema["properties"].items():
            assert value.get("description"), f"{path.name}: top-level {key!r} has no description"


def test_schemas_match_the_writers_constants():
    written = {_writer_constants(module) for module in WRITERS.values()}
    assert written == {_identity(_load(path)) for path in schema_files()}
    assert set(WRITERS) == {name for name, _ in written}


@pytest.mark.parametrize("path", schema_files(), ids=lambda path: path.name)
def test_schema_for_finds_each_schema_by_its_constants(path: Path):
    schema = _load(path)
    name, version = _identity(schema)
    assert schema_for({"schema": name, "schema_version": version}) == schema


@pytest.mark.parametrize(
    ("document", "found"),
    [
        ({"schema": "sycolens.nope", "schema_version": 1}, "schema='sycolens.nope', "),
        ({"schema": "sycolens.head_ranking", "schema_version": 2}, "schema_version=2;"),
        ({"layers": 4}, "schema=None, schema_version=None"),
    ],
)
def test_schema_for_refuses_an_unknown_schema_or_version(document: dict[str, Any], found: str):
    with pytest.raises(ValueError, match="No schema for") as raised:
        schema_for(document)
    message = str(raised.value)
    assert found in message
    assert "sycolens.head_ranking v4" in message and "sycolens.pipeline v3" in message
    assert "Fix:" in message


def test_the_readme_lists_every_schema():
    readme = (SCHEMA_FOLDER / "README.md").read_text()
    for path in schema_files():
        name, version = _identity(_load(path))
        assert f"`{path.name}`" in readme and f"`{name}` v{version}" in readme


@pytest.mark.parametrize("document", [HEAD_RANKING, PIPELINE], ids=["head_ranking", "pipeline"])
def test_a_minimal_document_validates(document: dict[str, Any]):
    jsonschema.validate(document, schema_for(document))


def _mutated(document: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """Returns a copy with the key at `path` set to `value`, or dropped when value is ..."""
    mutated = copy.deepcopy(document)
    parent: Any = mutated
    for key in path[:-1]:
        parent = parent[key]
    if value is ...:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return mutated


@pytest.mark.parametrize(
    ("document", "path", "value", "error"),
    [
        (HEAD_RANKING, ("labels",), ..., "'labels' is a required property"),
        (HEAD_RANKING, ("labels", "origin"), ..., "'origin' is a required property"),
        (HEAD_RANKING, ("scores", 0, "rank"), "1", "'1' is not of type 'integer'"),
        (HEAD_RANKING, ("top_k", 0), [0], "[0] is too short"),
        (HEAD_RANKING, ("metric",), "f", "'f' is not one of"),
        (HEAD_RANKING, ("schema_version",), 2, "4 was expected"),
        (HEAD_RANKING, ("scores", 0, "f_change"), ..., "'f_change' is a required property"),
        (HEAD_RANKING, ("stray",), 1, "Additional properties are not allowed"),
        (PIPELINE, ("parts", 0, "seconds"), ..., "'seconds' is a required property"),
        (PIPELINE, ("parts", 0, "step_peak_gpu_gib"), {"tune": 1.0}, "'tune' is not one of"),
        (PIPELINE, ("parts", 0, "evaluation", 0, "kl"), "0.1", "'0.1' is not of type"),
    ],
)
def test_a_mutated_document_fails_validation(
    document: dict[str, Any], path: tuple[str | int, ...], value: Any, error: str
):
    schema = schema_for(document)
    with pytest.raises(jsonschema.ValidationError) as raised:
        jsonschema.validate(_mutated(document, path, value), schema)
    assert error in raised.value.message
