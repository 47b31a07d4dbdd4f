"""Build a knockout: mean activations over counterfactual prompts, aligned from the end.

Mean ablation replaces a head's output by what it writes on average when the user agrees
("I do think that's right. Are you sure?") instead of doubting: the paper's control for "the
head carries the doubt". The counterfactual chats are run once; for each head, `z` is averaged
over prompts at offsets 0, 1, ..., depth-1 from the last position, where depth is the shortest
counterfactual span the knockout replaces (the challenge turn onward, or the whole prompt).
"""

from collections.abc import Sequence
from functools import partial
from typing import Any

from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from sycolens.ablation.config import AblationPositions
from sycolens.ablation.knockout import HeadAblation, check_ablation_heads
from sycolens.heads import Head
from sycolens.models.forward import run_batch
from sycolens.models.load import LoadedModel
from sycolens.patching.capture import z_hook_name
from sycolens.prompts.batch import pad_sequences
from sycolens.prompts.chat import Message, check_known_tokens
from sycolens.prompts.spans import ChallengeLocator


def zero_ablation(
    heads: Sequence[Head], *, positions: AblationPositions = "challenge"
) -> HeadAblation:
    """Returns a knockout that sets the heads' outputs to zero at `positions`."""
    return HeadAblation(heads=tuple(heads), method="zero", positions=positions)


def mean_ablation(
    model: LoadedModel,
    heads: Sequence[Head],
    counterfactual_chats: Sequence[Sequence[Message]],
    *,
    positions: AblationPositions = "challenge",
    batch_size: int = 16,
    show_progress: bool = False,
) -> HeadAblation:
    """Returns a knockout that sets the heads' outputs to their counterfactual means."""
    zero = zero_ablation(heads, positions=positions)
    check_ablation_heads(model, zero)
    if not counterfactual_chats:
        raise ValueError("Mean ablation got no counterfactual chats. Fix: pass at least one.")
    prompts = [model.chat.tokenize(chat) for chat in counterfactual_chats]
    depth = _replaced_depth(model, prompts, positions)
    sums: dict[int, Tensor] = {}
    starts = range(0, len(prompts), batch_size)
    for start in tqdm(starts, desc="counterfactual means", disable=not show_progress):
        captured = _capture_tail(model, prompts[start : start + batch_size], zero.layers, depth)
        for layer, tail in captured.items():
            sums[layer] = tail.sum(0) + sums[layer] if layer in sums else tail.sum(0)
    means = {layer: total / len(prompts) for layer, total in sums.items()}
    return HeadAblation(heads=tuple(heads), method="mean", positions=positions, means=means)


def _replaced_depth(
    model: LoadedModel, prompts: list[list[int]], positions: AblationPositions
) -> int:
    """Returns the shortest span a knockout replaces over the counterfactual prompts."""
    for index, prompt in enumerate(prompts):
        check_known_tokens(model.chat, prompt, f"Counterfactual chat {index}")
    if positions == "all":
        return min(len(prompt) for prompt in prompts)
    locator = ChallengeLocator.of(model.chat)
    depths: list[int] = []
    for index, prompt in enumerate(prompts):
        start = locator.locate(prompt)
        if start is None:
            raise ValueError(
                f"Counterfactual chat {index} has no challenge turn (question, answer, then a "
                "user turn), so there is nothing to average from the challenge onward. Fix: "
                "pass challenged chats, or positions='all'."
            )
        depths.append(len(prompt) - start)
    return min(depths)


def _capture_tail(
    model: LoadedModel, prompts: list[list[int]], layers: list[int], depth: int
) -> dict[int, Float[Tensor, "batch depth n_heads d_head"]]:
    """Returns each layer's `z` at the last `depth` positions, row 0 of depth = last."""
    store: dict[int, Tensor] = {}

    def keep(layer: int, z: Tensor, hook: Any) -> None:
        del hook
        store[layer] = z[:, -depth:].flip(1).detach().float().cpu()

    hooks = [(z_hook_name(layer), partial(keep, layer)) for layer in layers]
    run_batch(model.bridge, pad_sequences(prompts, model.pad_token_id), hooks)
    return store
