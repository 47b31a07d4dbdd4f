"""Write result files so that an interruption never leaves a half-written or NaN-laden file.

Every JSON sycolens writes goes through `write_json`: strict JSON (NaN is refused, so callers
write null for "not measured"), to a temp file beside the target, then renamed over it, so a
reader sees the old file or the new one, never a torn one. Missing parent folders are made.
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
