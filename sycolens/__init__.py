"""sycolens: find and fix sycophancy in chat language models (Chen et al., ICML 2024).

    import sycolens as sl
    model = sl.load_model("organism-mha")
    diagnosis = sl.diagnose(model, n=32)

The notebook API (`sycolens.api`) is imported on first use, so `import sycolens` stays light.
"""

from importlib import import_module
from typing import TYPE_CHECKING

from sycolens._lazy import lazy_attributes, lazy_dir

if TYPE_CHECKING:
    # attention, evaluate, heads and tune are modules to a type checker (see _CALLABLE_MODULES).
    from sycolens.api import diagnose, knockout, save_ranking
    from sycolens.models.load import load_model

__version__ = "0.1.0"

_HOMES = {
    "load_model": "models.load",
    "diagnose": "api",
    "save_ranking": "api",
    "knockout": "api",
}
# Also modules (CLI doors, a package, the Head type) made callable as their API namesakes, so
# `from sycolens import tune` and `sycolens.tune(...)` give the same object whichever came first.
_CALLABLE_MODULES = ("attention", "evaluate", "heads", "tune")
__all__ = ["__version__", "diagnose", "knockout", "load_model", "save_ranking"]
_lazy_attribute = lazy_attributes(__name__, _HOMES)


def __getattr__(name: str) -> object:
    if name in _CALLABLE_MODULES:
        return import_module(f"{__name__}.{name}")
    return _lazy_attribute(name)


__dir__ = lazy_dir(globals(), {**_HOMES, **{name: name for name in _CALLABLE_MODULES}})
