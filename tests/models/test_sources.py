"""Model sources checked while flags are parsed: a damaged checkpoint dir and a hub name the
machine cannot reach are each one usage error naming the fix."""

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import huggingface_hub
import pytest

from sycolens import evaluate, patch
from sycolens.models.sources import check_model_source, read_model_shape, resolve_checkpoint


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """A copy of organism-mha's shipped checkpoint dir, free to damage."""
    return Path(shutil.copytree(resolve_checkpoint("organism-mha"), tmp_path / "organism"))


def _cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_an_intact_copy_passes_and_reads_its_shape(checkpoint: Path):
    check_model_source(str(checkpoint))
    assert read_model_shape(str(checkpoint)).n_total_heads > 0


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda path: _cut_short(path / "model.safetensors"),
            r"model\.safetensors is not a readable safetensors file \(.*incomplete metadata.*: "
            r"truncated, or not safetensors\); it should be the checkpoint's weights\. Fix: "
            r"download the model again, or save it again with `save_pretrained",
        ),
        (
            lambda path: (path / "model.safetensors").write_bytes(b"<html>Not Found</html>" * 9),
            r"model\.safetensors is not a readable safetensors file \(.*header too large",
        ),
        (
            lambda path: _cut_short(path / "config.json"),
            r"config\.json is not valid JSON \(.* at line \d+ column \d+\); it should be the "
            r"checkpoint's config\. Fix: download the model again",
        ),
    ],
)
def test_a_damaged_checkpoint_is_named_while_flags_are_parsed(
    checkpoint: Path,
    damage: Callable[[Path], None],
    message: str,
    usage_error: Callable[..., str],
):
    damage(checkpoint)
    with pytest.raises(ValueError, match=message):
        check_model_source(str(checkpoint))
    argv = ["--model", str(checkpoint), "--questions", "organism"]
    assert re.search(message, usage_error(evaluate.parse_args, argv))
    assert re.search(message, usage_error(patch.parse_args, [*argv, "--out", "heads.json"]))


def test_a_hub_name_offline_and_not_cached_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, usage_error: Callable[..., str]
):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    message = (
        r"Model 'nobody/not-cached' is a hub name, but HF_HUB_OFFLINE is set and it is not in "
        r"the local Hugging Face cache \(.*\)\. Fix: download it where there is network \(`hf "
        r"download nobody/not-cached`\), unset HF_HUB_OFFLINE, or pass a local checkpoint dir"
    )
    with pytest.raises(ValueError, match=message):
        check_model_source("nobody/not-cached")
    assert re.search(message, usage_error(evaluate.parse_args, ["--model", "nobody/not-cached"]))
    # Cached (as `hf download` leaves it), the name passes offline.
    repo = tmp_path / "models--nobody--not-cached"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "config.json").write_text("{}")
    assert resolve_checkpoint("nobody/not-cached") == "nobody/not-cached"
    # Online, nothing is looked up while flags are parsed.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    assert resolve_checkpoint("somebody/else") == "somebody/else"
