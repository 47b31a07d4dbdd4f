"""Organism training: deterministic, resumable, refuses to clobber, and reproducible."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sycolens.organism.train import STATE_DIR, OrganismConfig, train_organism

TINY = OrganismConfig(
    variant="gqa", steps=6, batch_size=8, checkpoint_every=2, d_model=32, planted_dropout=0.5
)


class _Interrupt(Exception):
    pass


def _interrupt_after(step_to_stop: int):
    def on_step(step: int) -> None:
        if step == step_to_stop:
            raise _Interrupt

    return on_step


def test_interrupted_run_resumes_to_identical_weights(tmp_path: Path):
    straight = tmp_path / "straight"
    train_organism(TINY, straight, show_progress=False)
    resumed = tmp_path / "resumed"
    with pytest.raises(_Interrupt):
        train_organism(TINY, resumed, show_progress=False, on_step=_interrupt_after(4))
    assert (resumed / STATE_DIR / "state.json").is_file()
    summary = train_organism(TINY, resumed, show_progress=False)
    assert not (resumed / STATE_DIR).exists()
    a = load_file(straight / "model.safetensors")
    b = load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=0, rtol=0)
    assert summary["config"]["n_kv_heads"] == 2


def test_existing_model_needs_overwrite(tmp_path: Path):
    train_organism(TINY, tmp_path, show_progress=False)
    with pytest.raises(FileExistsError, match=r"already holds a trained model.*--overwrite"):
        train_organism(TINY, tmp_path, show_progress=False)
    train_organism(TINY, tmp_path, show_progress=False, overwrite=True)


def test_resuming_with_other_settings_is_refused(tmp_path: Path):
    with pytest.raises(_Interrupt):
        train_organism(TINY, tmp_path, show_progress=False, on_step=_interrupt_after(3))
    other = OrganismConfig(variant="gqa", steps=6, batch_size=8, checkpoint_every=2, seed=1,
                           d_model=32)  # fmt: skip
    with pytest.raises(ValueError, match=r"holds a run with another config"):
        train_organism(other, tmp_path, show_progress=False)
