"""Activation (gradient) checkpointing of an HF model's decoder layers, kept in eval mode.

Training keeps the model in eval mode (no dropout, so a resumed run takes the same steps), but
transformers only checkpoints a `GradientCheckpointingLayer` whose own `training` flag is set.
`checkpointed_layers` sets that flag on the layer modules alone, not on their children, so every
dropout stays off: the layers keep only their inputs in the forward and recompute the rest in
the backward, which gives the same gradients with less memory. Anything that changes the
forward (the per-head deltas' hooks) must stay in place through the backward, since the
recomputation runs it again, and the forward must not fill a key/value cache
(`use_cache=False`): the recomputation would fill it twice.
"""

from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

from transformers.modeling_layers import GradientCheckpointingLayer


@contextmanager
def checkpointed_layers(hf_model: Any) -> Generator[int]:
    """Checkpoints every decoder layer of `hf_model` while open; yields how many there are.

    The model's checkpointing state before (on or off, and whether its input embeddings were
    made to require gradients) is what it has again afterwards, even after an error.
    """
    layers = [m for m in hf_model.modules() if isinstance(m, GradientCheckpointingLayer)]
    if not layers or not getattr(hf_model, "supports_gradient_checkpointing", False):
        raise ValueError(
            f"{type(hf_model).__name__} does not support activation checkpointing in "
            "transformers. Fix: train without --gradient-checkpointing."
        )
    was_training = [layer.training for layer in layers]
    was_checkpointing = hf_model.is_activation_checkpointing
    input_grads_hooks = list(getattr(hf_model, "_require_grads_hooks", None) or [])
    hf_model.activation_checkpointing_enable()  # non-reentrant: inputs need no gradient
    if not input_grads_hooks:
        hf_model.disable_input_require_grads()  # else SPT's backward would reach the embeddings
    elif hf_model._require_grads_hooks != input_grads_hooks:
        # Enabling registered the input-gradient hooks again, over the handles of the model's
        # own: remove the new ones and keep the model's, which could never be removed otherwise.
        for hook in hf_model._require_grads_hooks:
            hook.remove()
        hf_model._require_grads_hooks = input_grads_hooks
        hf_model._require_grads_hook = input_grads_hooks[0]
    for layer in layers:
        layer.training = True  # the layer's flag only: its dropout modules stay in eval mode
    try:
        yield len(layers)
    finally:
        for layer, training in zip(layers, was_training, strict=True):
            layer.training = training
        if not was_checkpointing:
            hf_model.activation_checkpointing_disable()
