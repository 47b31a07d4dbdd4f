"""Model loading: embedded GGUF chat models, local checkpoints and hub names, all hooked.

Names are imported on first use, so `sycolens.models.spec` and `.sources` stay light.
"""

from typing import TYPE_CHECKING

from sycolens._lazy import lazy_attributes

if TYPE_CHECKING:
    from sycolens.models.load import LoadedModel, load_model, load_model_spec
    from sycolens.models.registry import (
        ARCHITECTURES,
        EMBEDDED_MODELS,
        Architecture,
        EmbeddedModel,
    )
    from sycolens.models.sources import accepted_model_forms, resolve_checkpoint
    from sycolens.models.spec import ModelSpec

_HOMES = {
    "LoadedModel": "load",
    "load_model": "load",
    "load_model_spec": "load",
    "ARCHITECTURES": "registry",
    "EMBEDDED_MODELS": "registry",
    "Architecture": "registry",
    "EmbeddedModel": "registry",
    "accepted_model_forms": "sources",
    "resolve_checkpoint": "sources",
    "ModelSpec": "spec",
}
__all__ = [
    "ARCHITECTURES",
    "EMBEDDED_MODELS",
    "Architecture",
    "EmbeddedModel",
    "LoadedModel",
    "ModelSpec",
    "accepted_model_forms",
    "load_model",
    "load_model_spec",
    "resolve_checkpoint",
]
__getattr__ = lazy_attributes(__name__, _HOMES)
