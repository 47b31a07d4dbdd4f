"""A saved evaluation report read back and checked, without torch, so a door can refuse a
damaged one before anything loads (`rejudge` reads it at flag time, then re-judges it)."""

from pathlib import Path
from typing import Any

from sycolens.json_files import read_json

SCHEMA = "sycolens.evaluation"
READABLE_VERSIONS = (1, 2, 3)
_WRITE_AGAIN = "point at a file written by `python -m sycolens.evaluate --out`."


def read_saved_report(path: Path) -> dict[str, Any]:
    """Returns the report at `path` as JSON, or raises naming the file and what is wrong: not
    JSON, another schema or version, or no `models` list or `data` block."""
    document: object = read_json(
        path,
        what="an evaluation report",
        fix="point at an intact results JSON of `python -m sycolens.evaluate`.",
    )
    if not isinstance(document, dict):
        raise ValueError(
            f"{path} holds a JSON {type(document).__name__}, not an evaluation report (a JSON "
            f"object). Fix: {_WRITE_AGAIN}"
        )
    report: dict[str, Any] = document  # pyright: ignore[reportUnknownVariableType]
    if report.get("schema") != SCHEMA or report.get("schema_version") not in READABLE_VERSIONS:
        raise ValueError(
            f"{path} is not a sycolens evaluation report (schema {SCHEMA}, version one of "
            f"{READABLE_VERSIONS}). Fix: {_WRITE_AGAIN}"
        )
    models, data = report.get("models"), report.get("data")
    if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):  # pyright: ignore[reportUnknownVariableType]
        raise ValueError(
            f"{path} has no list of evaluated models under 'models' (found "
            f"{type(models).__name__}): the report is damaged. Fix: {_WRITE_AGAIN}"
        )
    if not isinstance(data, dict):
        raise ValueError(
            f"{path} has no 'data' block saying what was asked (found {type(data).__name__}): "
            f"the report is damaged. Fix: {_WRITE_AGAIN}"
        )
    return report
