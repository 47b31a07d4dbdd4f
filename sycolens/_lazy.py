"""Public names of a package imported on first use (PEP 562), so its light modules stay light.

`sycolens.models` and `sycolens.evaluation` re-export their API explicitly (STYLE §4), but the
CLIs' flag checks import light modules of theirs (`models.spec`, `evaluation.config`); an eager
`__init__` would import TransformerLens with them.
"""

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_attributes(package: str, homes: dict[str, str]) -> Callable[[str], Any]:
    """Returns a module `__getattr__` that imports `name` from `package.homes[name]`."""

    def getattr_(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{homes[name]}"), name)

    return getattr_
