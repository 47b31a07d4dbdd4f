"""Fixtures of the tuning tests: a training run interrupted at a chosen loss."""

from collections.abc import Callable, Generator
from contextlib import AbstractContextManager, contextmanager

import pytest

from sycolens.tuning import run as tuning_run
from tests.launched_runs import loss_interrupted_at


@pytest.fixture
def interrupt_training(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[int], AbstractContextManager[None]]:
    """`with interrupt_training(n): <run>`: the run's n-th loss raises KeyboardInterrupt, as a
    user's Ctrl-C would, and the block expects it (or, through the CLI, its exit 130); the real
    loss is back afterwards."""
    real_loss = tuning_run.reply_loss

    @contextmanager
    def interrupted(at_call: int) -> Generator[None]:
        monkeypatch.setattr(tuning_run, "reply_loss", loss_interrupted_at(at_call, real_loss))
        try:
            with pytest.raises((KeyboardInterrupt, SystemExit)) as stopped:
                yield
            if isinstance(stopped.value, SystemExit):
                assert stopped.value.code == 130
        finally:
            monkeypatch.setattr(tuning_run, "reply_loss", real_loss)

    return interrupted
