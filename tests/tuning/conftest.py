"""Fixtures of the tuning tests: a training run interrupted at a chosen loss, and the check
that two run folders hold the same outputs."""

from collections.abc import Callable, Generator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

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


def _written_tensors(run: Path) -> dict[str, torch.Tensor]:
    """Returns every tensor a run wrote, named `file:tensor`."""
    tensors: dict[str, torch.Tensor] = {}
    for path in sorted(run.rglob("*.safetensors")):
        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():  # noqa: SIM118
                tensors[f"{path.relative_to(run)}:{name}"] = handle.get_tensor(name)
    return tensors


@pytest.fixture(scope="session")
def assert_same_outputs() -> Callable[..., None]:
    """`assert_same_outputs(first, second, tolerance)`: two run folders hold the same files, the
    same HF config and training record, and every tensor within `tolerance` (0: equal)."""

    def check(first: Path, second: Path, tolerance: float) -> None:
        assert sorted(p.relative_to(first) for p in first.rglob("*")) == sorted(
            p.relative_to(second) for p in second.rglob("*")
        )
        for name in ("model/config.json", "model/sycolens_tuning.json"):
            assert (first / name).read_text() == (second / name).read_text(), name
        expected, found = _written_tensors(first), _written_tensors(second)
        assert expected.keys() == found.keys()
        for name, tensor in expected.items():
            torch.testing.assert_close(found[name], tensor, atol=tolerance, rtol=0, msg=name)

    return check
