"""Fixtures of the tuning tests: a training run interrupted at a chosen loss."""

from collections.abc import Callable, Generator
from contextlib import AbstractContextManager, contextmanager

import pytest
import torch

from sycolens.tuning import run as tuning_run


@pytest.fixture
def interrupt_training(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[int], AbstractContextManager[None]]:
    """`with interrupt_training(n): <run>`: the run's n-th loss raises KeyboardInterrupt, as a
    user's Ctrl-C would, and the block expects it; the real loss is back afterwards."""
    real_loss = tuning_run.reply_loss

    @contextmanager
    def interrupted(at_call: int) -> Generator[None]:
        calls = {"n": 0}

        def crashing_loss(*args: object, **kwargs: object) -> torch.Tensor:
            calls["n"] += 1
            if calls["n"] == at_call:
                raise KeyboardInterrupt
            return real_loss(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(tuning_run, "reply_loss", crashing_loss)
        try:
            with pytest.raises(KeyboardInterrupt):
                yield
        finally:
            monkeypatch.setattr(tuning_run, "reply_loss", real_loss)

    return interrupted
