"""Model loading: embedded GGUF chat models, local checkpoints and hub names, all hooked.

Names are imported on first use, so `sycolens.models.spec` and `.sources` stay light.
"""

from typing import TYPE_CHECKING

from sycolens._lazy import lazy_attributes, lazy_dir

if TYPE_CHECKING:
    from sycolens.models.architecture import Architecture, architecture_of
    from sycolens.models.load import LoadedModel, load_model, load_model_spec
    from sycolens.models.registry import EMBEDDED_MODELS, FAMILY_TRAITS, EmbeddedModel
    from sycolens.models.sources import accepted_model_forms, resolve_checkpoint
    from sycolens.models.spec import ModelSpec

_HOMES = {
    "LoadedModel": "load",
    "load_model": "load",
    "load_model_spec": "load",
    "Architecture": "architecture",
    "architecture_of": "architecture",
    "EMBEDDED_MODELS": "registry",
    "FAMILY_TRAITS": "registry",
    "EmbeddedModel": "registry",
    "accepted_model_forms": "sources",
    "resolve_checkpoint": "sources",
    "ModelSpec": "spec",
}
__all__ = [
    "EMBEDDED_MODELS",
    "FAMILY_TRAITS",
    "Architecture",
    "EmbeddedModel",
    "LoadedModel",
    "ModelSpec",
    "accepted_model_forms",
    "architecture_of",
    "load_model",
    "load_model_spec",
    "resolve_checkpoint",
]
__getattr__ = lazy_attributes(__name__, _HOMES)
__dir__ = lazy_dir(globals(), _HOMES)
