"""JSON Schemas (draft 2020-12) of every JSON artefact sycolens writes, and a lookup by document.

Each artefact names itself with `"schema"` (e.g. "sycolens.head_ranking") and
`"schema_version"`; `<name>.schema.json` in this folder describes the version written now (the
table is in README.md). They let tools outside sycolens read the artefacts without its code, and
the tests validate the artefacts a real pipeline run writes against them, so a writer that drops
or retypes a key without a new schema version fails there.

    document = json.loads(Path("out/organism/heads.json").read_text())
    jsonschema.validate(document, schema_for(document))

jsonschema is a dev dependency: this module only finds and parses the schema.
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SCHEMA_FOLDER = Path(__file__).parent
SCHEMA_SUFFIX = ".schema.json"


def schema_files() -> list[Path]:
    """Returns every schema file of the folder, sorted by name."""
    return sorted(SCHEMA_FOLDER.glob(f"*{SCHEMA_SUFFIX}"))


def _identity(schema: Mapping[str, Any]) -> tuple[str, int]:
    """Returns the (schema string, version) a schema's const keys describe."""
    properties = schema["properties"]
    return properties["schema"]["const"], properties["schema_version"]["const"]


def known_schemas() -> dict[tuple[str, int], Path]:
    """Returns each (schema string, version) described here and its file."""
    return {_identity(json.loads(path.read_text())): path for path in schema_files()}


def schema_for(document: Mapping[str, Any]) -> dict[str, Any]:
    """Returns the parsed JSON Schema of `document`, chosen by its "schema" and "schema_version".

    Raises ValueError naming what the document says and the schemas known here when none
    matches (another program's JSON, or an older version than the one written now).
    """
    found = (document.get("schema"), document.get("schema_version"))
    known = known_schemas()
    for identity, path in known.items():
        if identity == found:
            schema: dict[str, Any] = json.loads(path.read_text())
            return schema
    listed = ", ".join(f"{name} v{version}" for name, version in sorted(known))
    raise ValueError(
        f"No schema for schema={found[0]!r}, schema_version={found[1]!r}; known: {listed}. "
        "Fix: pass a document sycolens wrote (it has both keys), or write it again with the "
        "current sycolens if it is an older version."
    )
