"""A saved evaluation report read back and checked, without torch: the one reader of the
report. `rejudge` reads any version at flag time (refusing a damaged one before anything
loads); `EvaluationReport.read` and a resumed evaluation read the current version only."""

from pathlib import Path
from typing import Any

from sycolens.json_files import read_json

SCHEMA = "sycolens.evaluation"
SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
_WRITE_AGAIN = "point at a file written by `python -m sycolens.evaluate --out`."


def read_saved_report(path: Path, versions: tuple[int, ...] = READABLE_VERSIONS) -> dict[str, Any]:
    """Returns the report at `path` as JSON, or raises naming the file and what is wrong: not
    JSON, another schema, a version outside `versions` (an older one names `rejudge`), or no
    `models` list or `data` block."""
    document: object = read_json(
        path,
        what="an evaluation report",
        fix="point at an intact results JSON of `python -m sycolens.evaluate` (a rerun resumes "
        "from the last finished model of an intact report).",
    )
    if not isinstance(document, dict):
        raise ValueError(
            f"{path} holds a JSON {type(document).__name__}, not an evaluation report (a JSON "
            f"object). Fix: {_WRITE_AGAIN}"
        )
    report: dict[str, Any] = document  # pyright: ignore[reportUnknownVariableType]
    version = report.get("schema_version")
    if report.get("schema") == SCHEMA and version in READABLE_VERSIONS and version not in versions:
        raise ValueError(
            f"{path} is a sycolens evaluation report v{version}, judged before confidence meant "
            f"no admission of a mistake (v{SCHEMA_VERSION}). Fix: `sycolens rejudge {path}` "
            f"writes it as v{SCHEMA_VERSION}, or write to another path."
        )
    if report.get("schema") != SCHEMA or version not in versions:
        raise ValueError(
            f"{path} is not a sycolens evaluation report (schema {SCHEMA}, version one of "
            f"{versions}). Fix: {_WRITE_AGAIN}"
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
