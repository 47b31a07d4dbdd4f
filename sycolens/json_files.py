"""Write result files so that an interruption never leaves a half-written or NaN-laden file,
and read them back so that a damaged one is named, not met with a bare parser error.

Every JSON sycolens writes goes through `write_json`: strict JSON (NaN is refused, so callers
write null for "not measured"), to a temp file beside the target, then renamed over it, so a
reader sees the old file or the new one, never a torn one. Missing parent folders are made.
`read_json` reads a file a user hands over (a ranking, a report, a checkpoint's config.json):
a truncated or binary file is an error naming it, where the damage is, and the fix.
"""

import json
import math
import os
from pathlib import Path
from typing import Any


def write_json(path: Path, document: Any) -> None:
    """Writes `document` to `path` atomically (temp file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        staging.write_text(json.dumps(document, indent=1, allow_nan=False))
        staging.replace(path)
    finally:
        staging.unlink(missing_ok=True)


def without_nan(value: Any) -> Any:
    """Returns `value` with every NaN float, at any depth, replaced by None (JSON null)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: without_nan(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_nan(item) for item in value]
    return value


def read_json(path: Path, *, what: str, fix: str) -> Any:
    """Returns the JSON in `path`, or raises naming the file (`what` it should be) and `fix`
    when it is not UTF-8 JSON (truncated, binary, or another kind of file)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        problem = f"is not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"
    except UnicodeDecodeError:
        problem = "is not UTF-8 text"
    raise ValueError(f"{path} {problem}; it should be {what}. Fix: {fix}")


def read_document(
    path: Path, *, schema: str, versions: tuple[int, ...], what: str, fix: str
) -> dict[str, Any]:
    """Returns the JSON object in `path` if it is a `schema` file of one of `versions`, or
    raises naming the file, what it should be and `fix`."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} does not exist; it should be {what}. Fix: {fix}")
    document: object = read_json(path, what=what, fix=fix)
    if not isinstance(document, dict):
        raise ValueError(
            f"{path} holds a JSON {type(document).__name__}, not {what} (a JSON object). Fix: {fix}"
        )
    checked: dict[str, Any] = document  # pyright: ignore[reportUnknownVariableType]
    if checked.get("schema") != schema or checked.get("schema_version") not in versions:
        found = f"schema {checked.get('schema')!r} v{checked.get('schema_version')!r}"
        raise ValueError(
            f"{path} is not {what} ({found}; this sycolens reads {schema} "
            f"v{', v'.join(map(str, versions))}). Fix: {fix}"
        )
    return checked
