"""Model loading: embedded GGUF chat models, local checkpoints and hub names, all hooked."""

from sycolens.models.load import LoadedModel, accepted_model_forms, load_model, resolve_checkpoint
from sycolens.models.registry import ARCHITECTURES, EMBEDDED_MODELS, Architecture, EmbeddedModel

__all__ = [
    "ARCHITECTURES",
    "EMBEDDED_MODELS",
    "Architecture",
    "EmbeddedModel",
    "LoadedModel",
    "accepted_model_forms",
    "load_model",
    "resolve_checkpoint",
]
