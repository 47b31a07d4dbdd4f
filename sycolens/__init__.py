"""sycolens: find and fix sycophancy in chat language models (Chen et al., ICML 2024).

    import sycolens as sl
    model = sl.load_model("organism-mha")
    diagnosis = sl.diagnose(model, n=32)

The notebook API (`sycolens.api`) is imported on first use, so `import sycolens` stays light.
"""

from typing import TYPE_CHECKING

from sycolens._lazy import lazy_attributes, lazy_dir

if TYPE_CHECKING:
    from sycolens.api import (
        attention,
        diagnose,
        evaluate,
        heads,
        knockout,
        save_ranking,
        tune,
    )
    from sycolens.models.load import load_model

__version__ = "0.1.0"

_HOMES = {
    "load_model": "models.load",
    "heads": "api",
    "diagnose": "api",
    "save_ranking": "api",
    "knockout": "api",
    "attention": "api",
    "tune": "api",
    "evaluate": "api",
}
__all__ = [
    "__version__",
    "attention",
    "diagnose",
    "evaluate",
    "heads",
    "knockout",
    "load_model",
    "save_ranking",
    "tune",
]
__getattr__ = lazy_attributes(__name__, _HOMES)
__dir__ = lazy_dir(globals(), _HOMES)
