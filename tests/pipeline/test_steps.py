"""The pipeline's step configs: built in Python from the part, and each one's command line
parses, with its door's own parser, back to the config (the demo parts and both experiments)."""

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.numpy import save_file

from sycolens import evaluate, tune
from sycolens.models.sources import read_model_shape
from sycolens.models.tiny import save_tiny_checkpoint
from sycolens.pipeline.config import DEMO_PARTS, SMOKE_SIZES, PartSpec
from sycolens.pipeline.config_file import read_parts
from sycolens.pipeline.steps import (
    PartPaths,
    StepConfig,
    command_line,
    step_configs,
)
from sycolens.prompts.label_spec import LabelWords

EXPERIMENTS = Path(__file__).parents[2] / "experiments"


def write_step_inputs(part: PartSpec, paths: PartPaths, ranking: Path, checkpoint: Path) -> None:
    """Writes what the later steps read before they run, as the earlier steps would: the
    ranking (`ranking`'s, on the part model's shape), each SPT run's deltas header and the
    SFT checkpoint (a copy of `checkpoint`)."""
    shape = read_model_shape(part.model)
    document = json.loads(ranking.read_text())
    document["model"] = {**document["model"], "n_layers": shape.n_layers, "n_heads": shape.n_heads}
    paths.folder.mkdir(parents=True, exist_ok=True)
    paths.ranking.write_text(json.dumps(document))
    for step in part.tuning_steps:
        paths.run(step).mkdir()
    for step in ("spt-top", "spt-random"):
        if step in part.tuning_steps:
            deltas = paths.run(step) / "deltas.safetensors"
            save_file({}, str(deltas), metadata={"base_fingerprint": "0" * 64})
    shutil.copytree(checkpoint, paths.run("sft") / "model")


Parse = Callable[[str, list[str]], StepConfig]


def assert_round_trip(parse_step: Parse, part: PartSpec, paths: PartPaths) -> None:
    """Every step's command line parses, with its door's parser, back to its config."""
    for step, config in step_configs(part, paths).items():
        assert parse_step(step, command_line(config)) == config, step


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_checkpoint("llama", tmp_path_factory.mktemp("tiny") / "llama")


def test_the_organism_parts_steps_read_back(
    organism_ranking: Path, tiny_llama: Path, tmp_path: Path, parse_step: Parse
):
    organism = DEMO_PARTS["organism"]
    second = replace(DEMO_PARTS["smollm2"], model="organism-gqa", questions="organism")
    labelled = replace(organism, name="labelled", labels=LabelWords(syco="No", anti="Yes"))
    for part in (organism, second, labelled):
        paths = PartPaths(tmp_path / part.name)
        write_step_inputs(part, paths, organism_ranking, tiny_llama)
        assert_round_trip(parse_step, part, paths)


@pytest.mark.smollm2  # reads SmolLM2's shape: end-to-end tier
def test_the_smollm2_parts_steps_read_back(
    organism_ranking: Path, tiny_llama: Path, tmp_path: Path, parse_step: Parse
):
    part = DEMO_PARTS["smollm2"]
    paths = PartPaths(tmp_path / part.name)
    write_step_inputs(part, paths, organism_ranking, tiny_llama)
    assert_round_trip(parse_step, part, paths)


@pytest.mark.parametrize("name", ["llama2-7b-chat", "mistral-7b-instruct-v0.2"])
def test_the_experiments_steps_read_back(
    name: str,
    parse_step: Parse,
    organism_ranking: Path,
    tiny_llama: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    """Each config's steps at its full sizes, on a checkpoint of the 7B shape (32 layers x 32
    heads: a tiny checkpoint whose config says so; nothing loads its weights) and on a GPU this
    machine is made to show."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    shaped = tmp_path / "shaped"
    shutil.copytree(tiny_llama, shaped)
    config = json.loads((shaped / "config.json").read_text())
    (shaped / "config.json").write_text(
        json.dumps({**config, "num_hidden_layers": 32, "num_attention_heads": 32})
    )
    (part,) = read_parts(EXPERIMENTS / f"{name}.json")
    part = replace(part, model=str(shaped))
    paths = PartPaths(tmp_path / part.name)
    write_step_inputs(part, paths, organism_ranking, tiny_llama)
    assert_round_trip(parse_step, part, paths)
    configs = step_configs(part, paths)
    sft = configs["sft"]
    assert isinstance(sft, tune.TuneCliConfig) and sft.job.tune.gradient_checkpointing
    preset = name.split("-")[0].removesuffix("2") + "-7b"  # llama-7b, mistral-7b
    assert sft.job.tune.training.autocast == "bfloat16" and sft.paper_preset == preset
    evaluation = configs["evaluate"]
    assert isinstance(evaluation, evaluate.EvaluateConfig)
    assert evaluation.job.model.dtype == "bfloat16" and evaluation.job.model.device == "cuda"


def test_part_options_reach_their_steps(tmp_path: Path):
    part = replace(
        DEMO_PARTS["organism"],
        device="cuda:1",
        tune_preset="llama-7b",
        tune_autocast="float16",
        gradient_checkpointing=("spt-top",),
        fsdp_offload=("sft",),
        eval_dtype="float16",
        eval_final_request=True,
    )
    configs = step_configs(part, PartPaths(tmp_path))
    top, sft, random = configs["spt-top"], configs["sft"], configs["spt-random"]
    assert isinstance(top, tune.TuneCliConfig) and isinstance(sft, tune.TuneCliConfig)
    assert isinstance(random, tune.TuneCliConfig)
    assert top.job.tune.gradient_checkpointing and not sft.job.tune.gradient_checkpointing
    assert sft.job.tune.fsdp and sft.job.tune.fsdp_offload and not top.job.tune.fsdp
    assert random.job.tune.heads == "random" and random.job.tune.k == part.sizes.top_k
    assert top.job.tune.training.learning_rate == 1e-5  # Table 14's Llama-7B row
    assert top.job.tune.training.steps == part.sizes.tune_steps  # the part's size wins
    assert "--paper-preset llama-7b --steps 60 --batch-size 16" in " ".join(command_line(top))
    assert all(config.job.model.device == "cuda:1" for config in configs.values())
    line = " ".join(command_line(configs["evaluate"]))
    assert "--dtype float16" in line and "--final-request" in line
    assert "tokens" not in line  # the organism set's reply limits


def test_smoke_sizes_shorten_the_replies_and_the_command_says_so(tmp_path: Path):
    part = replace(DEMO_PARTS["smollm2"], sizes=SMOKE_SIZES)
    evaluation = step_configs(part, PartPaths(tmp_path))["evaluate"]
    assert isinstance(evaluation, evaluate.EvaluateConfig)
    protocol = evaluation.job.evaluation.protocol
    assert (protocol.answer_tokens, protocol.challenge_reply_tokens) == (16, 24)
    assert protocol.final_answer_tokens == 96  # no round 3 in SmolLM2's part: the set's, unused
    assert " ".join(command_line(evaluation)).endswith(
        "--no-final-request --answer-tokens 16 --challenge-reply-tokens 24 --n-general 2 "
        f"--n-texts 2 --out {tmp_path / 'evaluation.json'}"
    )  # the printed step parses back (tests/cli/test_command_lines.py)
    with_round_3 = replace(part, eval_final_request=True)
    line = " ".join(command_line(step_configs(with_round_3, PartPaths(tmp_path))["evaluate"]))
    assert "--answer-tokens 16 --challenge-reply-tokens 24 --final-answer-tokens 16" in line


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"device": "gpu"}, "Device 'gpu' is not one of"),
        ({"tune_preset": "llama-8b"}, "tune_preset 'llama-8b' is not a row of Tables 13/14"),
        ({"gradient_checkpointing": ("tune",)}, "gradient_checkpointing names ['tune']"),
        (
            {"random_control": False, "fsdp_offload": ("spt-random",)},
            "or set random_control to true",
        ),
    ],
)
def test_part_options_are_checked(change: dict[str, Any], message: str):
    with pytest.raises(ValueError, match=r"Part 'organism'.*" + message.replace("[", r"\[")):
        replace(DEMO_PARTS["organism"], **change)
