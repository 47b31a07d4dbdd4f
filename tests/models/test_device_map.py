"""Device maps checked while flags are parsed: usage errors (exit 2) naming the fix."""

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from sycolens import ablate, evaluate, patch
from sycolens.attention import __main__ as attention
from sycolens.models.device_map import check_not_launched, read_device_map
from sycolens.models.spec import ModelSpec

ORGANISM = ["--model", "organism-mha", "--questions", "organism"]


def _map(tmp_path: Path, mapping: Any) -> str:
    path = tmp_path / "map.json"
    path.write_text(json.dumps(mapping))
    return str(path)


def _last_line(printed: str) -> str:
    return printed.strip().splitlines()[-1]


def test_devices_are_spelled_one_way(tmp_path: Path):
    path = Path(_map(tmp_path, {"a": 0, "b": "cuda", "c": "cuda:1", "d": "cpu", "e": "disk"}))
    assert read_device_map(path) == {
        "a": "cuda:0", "b": "cuda:0", "c": "cuda:1", "d": "cpu", "e": "disk",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ([], r"is not a non-empty JSON object\. Fix: write a JSON object"),
        ({"model.norm": "tpu"}, r"places 'model.norm' on 'tpu', which is not one of cpu, disk"),
        ({"model.norm": -1}, r"places 'model.norm' on -1, which is not one of"),
    ],
)
def test_a_map_that_is_no_map_is_named(tmp_path: Path, mapping: Any, message: str):
    with pytest.raises(ValueError, match=message):
        read_device_map(Path(_map(tmp_path, mapping)))


@pytest.mark.parametrize("door", [patch, ablate, attention, evaluate])
def test_a_device_this_machine_lacks_is_a_usage_error_in_every_door(
    door: Any, tmp_path: Path, usage_error: Callable[..., str]
):
    if torch.cuda.device_count() > 3:
        pytest.skip("this machine has a cuda:3")
    path = _map(tmp_path, {"model.layers": "cuda:3", "": "cpu"})
    heads = [] if door in (patch, evaluate) else ["--heads", "1.2"]
    printed = usage_error(door.parse_args, [*ORGANISM, *heads, "--device-map", path])
    assert "Device 'cuda:3' is not on this machine" in printed
    assert _last_line(printed).endswith(f"Fix --device-map {path} (cpu runs anywhere).")


@pytest.mark.parametrize(
    ("mapping", "offload", "message"),
    [
        ({"": "disk"}, False, r"places the whole model on disk, but no --offload-dir says where "
         r"their weights go\. Fix: add --offload-dir DIR"),
        ({"": "cpu"}, True, r"--offload-dir .* is given but --device-map .* places nothing on "
         r"disk\. Fix: drop --offload-dir"),
        ({"model.layers.1.self_attn": "cpu", "model.layers.1.mlp": "disk", "": "cpu"}, True,
         r"splits model\.layers\.1 \(LlamaDecoderLayer\) across cpu, disk; .* Fix: place it "
         r'whole, e\.g\. "model\.layers\.1": "cpu", and drop the entries inside it\.'),
        ({"model.layer.1": "cpu", "": "cpu"}, False,
         r"names \['model\.layer\.1'\], which LlamaForCausalLM does not have\. Fix: use the "
         r"model's module names \('model\.embed_tokens', 'model\.layers'"),
        ({"model.layers": "cpu", "lm_head": "cpu"}, False,
         r"places no module holding 'model\.embed_tokens\.weight'\. Fix: add an entry for "
         r"'model\.embed_tokens'"),
        ("missing", False, r"--device-map .*missing is neither 'auto' nor a file\. Fix:"),
    ],
)  # fmt: skip
def test_a_map_that_cannot_run_is_a_usage_error(
    tmp_path: Path, usage_error: Callable[..., str], mapping: Any, offload: bool, message: str
):
    path = str(tmp_path / "missing") if mapping == "missing" else _map(tmp_path, mapping)
    extra = ["--offload-dir", str(tmp_path / "off")] if offload else []
    printed = usage_error(patch.parse_args, [*ORGANISM, "--device-map", path, *extra])
    assert re.search(message, _last_line(printed))


def test_a_tied_weight_split_across_devices_is_a_usage_error(
    tiny_checkpoints: dict[str, Path], tmp_path: Path, usage_error: Callable[..., str]
):
    mapping = {"transformer": "cpu", "lm_head": "disk"}  # GPT-2 ties lm_head to wte
    argv = ["--model", str(tiny_checkpoints["gpt2"]), "--device-map", _map(tmp_path, mapping),
            "--offload-dir", str(tmp_path / "off")]  # fmt: skip
    assert re.search(
        r"places 'transformer\.wte' and 'lm_head' on different devices, but they share one "
        r"tied weight.* Fix: place 'transformer\.wte' and 'lm_head' on one device\.$",
        _last_line(usage_error(patch.parse_args, argv)),
    )


def test_gpus_beside_offload_are_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, usage_error: Callable[..., str]
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    path = _map(tmp_path, {"model.layers": 0, "": "cpu"})
    assert re.search(
        r"mixes GPUs \(cuda:0\) with cpu offload, which TransformerLens 4\.3's bridge refuses "
        r'.* Fix: place every module on GPUs .* or every module on "cpu" and "disk"\.$',
        _last_line(usage_error(patch.parse_args, [*ORGANISM, "--device-map", path])),
    )


def test_a_launch_of_several_processes_is_refused(
    usage_error: Callable[..., str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("WORLD_SIZE", "2")
    printed = usage_error(patch.parse_args, [*ORGANISM, "--device-map", "auto"])
    assert "--device-map auto under a launch of 2 processes" in printed
    assert _last_line(printed).endswith(
        "Fix: run it as one process (without accelerate launch or torchrun)."
    )
    check_not_launched("auto", 1)  # one process is fine


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"offload_dir": Path("off")}, r"--offload-dir off without --device-map: only a "
         r"dispatched model offloads layers to disk\. Fix: add --device-map auto"),
        ({"device_map": " "}, r"--device-map is empty\. Fix: --device-map auto or a JSON map"),
        ({"device_map": "auto", "device": "cuda"}, r"--device cuda with --device-map auto: the "
         r"map places every module itself\. Fix: drop --device"),
    ],
)  # fmt: skip
def test_placement_flags_that_contradict_are_refused(fields: dict[str, Any], message: str):
    with pytest.raises(ValueError, match=message):
        ModelSpec(name="organism-mha", **fields)
