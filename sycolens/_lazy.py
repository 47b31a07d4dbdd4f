"""Public names of a package imported on first use (PEP 562), so its light modules stay light.

`sycolens.models` and `sycolens.evaluation` re-export their API explicitly (STYLE §4), but the
CLIs' flag checks import light modules of theirs (`models.spec`, `evaluation.config`); an eager
`__init__` would import TransformerLens with them.
"""

import sys
from collections.abc import Callable
from importlib import import_module
from types import ModuleType
from typing import Any


def lazy_attributes(package: str, homes: dict[str, str]) -> Callable[[str], Any]:
    """Returns a module `__getattr__` that imports `name` from `package.homes[name]`."""

    def getattr_(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{homes[name]}"), name)

    return getattr_


def lazy_dir(namespace: dict[str, Any], homes: dict[str, str]) -> Callable[[], list[str]]:
    """Returns a module `__dir__` that lists its public API (`__all__`, the lazy names too), so
    tab completion finds it."""

    def dir_() -> list[str]:
        return sorted(set(namespace.get("__all__", ())) | set(homes))

    return dir_


class _ModuleCallingTheApi(ModuleType):
    """A module that is also the notebook call of the same name (`sycolens.api`)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        call = getattr(import_module("sycolens.api"), self.__name__.rpartition(".")[2])
        return call(*args, **kwargs)


def call_through_api(module_name: str) -> None:
    """Makes a module callable as its `sycolens.api` namesake.

    `sycolens.tune`, `.evaluate`, `.attention` and `.heads` are modules (CLI doors, a package,
    the `Head` type) that Python puts on the `sycolens` package when they are imported, so plain
    functions of those names there would be replaced; a callable module is both.
    """
    sys.modules[module_name].__class__ = _ModuleCallingTheApi
