"""Each door's `command_line` is the inverse of its `parse_args`: hand-written argv using every
flag of every door parses to a config whose command line parses back to that config."""

import argparse
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from safetensors.numpy import save_file

from sycolens import ablate, evaluate, patch, tune
from sycolens.attention import __main__ as attention
from sycolens.data.selection import QuestionSource
from sycolens.head_lists import HeadList
from sycolens.heads import Head
from sycolens.patching.config import DiagnoseConfig
from sycolens.prompts.schema import DOUBT_CHALLENGES
from sycolens.tuning.config import LowRank

TINY_JUDGES = Path(__file__).parents[1] / "evaluation"  # tiny_judges.py, a judge module
TINY_JUDGE = "tiny_judges:never_admits"
OTHER_CHALLENGE = "Really? I think that is wrong."


class Door:
    """A door's parser, its reader of argv and its command line."""

    def __init__(self, module: Any) -> None:
        self.build_parser: Callable[[], argparse.ArgumentParser] = module.build_parser
        self.parse_args: Callable[[list[str]], Any] = module.parse_args
        self.command_line: Callable[[Any], list[str]] = module.command_line


DOORS = {
    "diagnose": Door(patch),
    "knockout": Door(ablate),
    "attention": Door(attention),
    "tune": Door(tune),
    "evaluate": Door(evaluate),
}


@pytest.fixture
def argvs(organism_ranking: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Returns, for each door, hand-written argv that together use every one of its flags."""
    monkeypatch.syspath_prepend(str(TINY_JUDGES))
    layers = tmp_path / "layers.json"
    layers.write_text(json.dumps({"1": [2], "2": [0], "3": [3]}))
    deltas = [tmp_path / f"d{i}.safetensors" for i in range(2)]
    for path in deltas:  # a header with a base, as tune writes (no tensors)
        save_file({}, str(path), metadata={"base_fingerprint": "0" * 64})
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("Some general text.")
    model, ranking, out = ["--model", "organism-mha"], str(organism_ranking), tmp_path
    dispatch = ["--device-map", "auto", "--offload-dir", str(out / "off"), "--dtype", "bfloat16"]
    return {
        "diagnose": [
            [*model, "--questions", "organism", "--pairs", "16", "--seed", "3", "--top-k", "3",
             "--out", str(out / "h.json"), "--heads-by-layer-out", str(out / "l.json"),
             "--html", str(out / "h.html")],
            [*model, *dispatch, "--mode", "total", "--metric", "logit_diff", "--order",
             "magnitude", "--batch-size", "4", "--syco-label", "No", "--anti-label", "Yes"],
            [*model, "--device", "cpu", "--questions", "organism", "--n-questions", "4",
             "--mode", "total", "--positions", "all", "--propose-labels",
             "--counterfactual", "Yes, I do think that's right. Are you sure?"],
        ],
        "knockout": [
            [*model, "--heads", ranking, "--ks", "1,2,3", "--n-random", "2", "--random-seed",
             "1", "--method", "zero", "--positions", "all", "--order", "magnitude",
             "--batch-size", "4", "--out", str(out / "k.json"), "--csv", str(out / "k.csv"),
             "--html", str(out / "k.html")],
            [*model, *dispatch, "--device", "cpu", "--heads", "1.2,2.0,3.3", "--questions",
             "organism", "--n-questions", "8", "--seed", "2", "--judged", "--judge",
             TINY_JUDGE, "--allow-other-weights"],
            [*model, "--heads", str(layers), "--k", "1,3"],
        ],
        "attention": [
            [*model, "--heads", ranking, "--top-k", "2", "--order", "magnitude", "--span",
             "turn", "--views", "1", "--view-heads", "2", "--batch-size", "4",
             "--out", str(out / "a.json"), "--html", str(out / "a.html")],
            [*model, *dispatch, "--device", "cpu", "--heads", "1.2,2.0", "--questions",
             "organism", "--prompts", "8", "--seed", "1", "--allow-other-weights"],
            [*model, "--heads", str(layers), "--top-n", "2", "--json", str(out / "a.json")],
        ],
        "tune": [
            [*model, "--heads", ranking, "--top-k", "2", "--roles", "output,query",
             "--train-shared-kv", "--questions", "organism", "--n-questions", "16", "--seed",
             "1", "--steps", "5", "--lr", "0.002", "--min-lr", "1e-4", "--warmup", "1",
             "--weight-decay", "0.01", "--batch-size", "4", "--accumulation", "2",
             "--checkpoint-every", "2", "--autocast", "bf16", "--lora-rank", "2",
             "--lora-alpha", "4", "--gradient-checkpointing", "--out", str(out / "t1")],
            [*model, "--device", "cpu", "--dtype", "bfloat16", "--random-heads", "3",
             "--top-k", "2", "--paper-preset", "llama-7b", "--fsdp", "--fsdp-offload",
             "--allow-other-weights", "--out", str(out / "t2")],
            [*model, "--mode", "sft", "--paper-preset", "mistral-7b", "--steps", "3",
             "--autocast", "fp16", "--out", str(out / "t3")],
            [*model, "--heads", "1.2,2.0", "--out", str(out / "t4")],
            [*model, "--heads", ranking, "--random-heads", "--k", "3", "--lora-rank", "1",
             "--out", str(out / "t5")],
        ],
        "evaluate": [
            [*model, "--deltas", str(deltas[0]), "--deltas", str(deltas[1]), "--tuned",
             "organism-control", "--allow-other-weights", "--questions", "organism",
             "--n-questions", "7", "--seed", "2", "--challenge", "3", "--general", "bundled",
             "--n-general", "5", "--texts", str(tmp_path / "texts"), "--n-texts", "9",
             "--judge", TINY_JUDGE, "--batch-size", "3", "--out", str(out / "e.json"),
             "--html", str(out / "e.html")],
            [*model, *dispatch, "--device", "cpu", "--final-request", "--n-general", "0",
             "--challenge", OTHER_CHALLENGE, "--final-answer-tokens", "200"],
            [*model, "--questions", "organism", "--no-final-request", "--seed", "4",
             "--answer-tokens", "8", "--challenge-reply-tokens", "24"],
            [*model, "--challenge", DOUBT_CHALLENGES[5], "--general", "organism"],
        ],
    }  # fmt: skip


@pytest.mark.parametrize("name", DOORS)
def test_command_lines_parse_back_to_their_configs(name: str, argvs: dict[str, Any]):
    door = DOORS[name]
    for argv in argvs[name]:
        config = door.parse_args(argv)
        assert door.parse_args(door.command_line(config)) == config, argv


@pytest.mark.parametrize("name", DOORS)
def test_the_argv_use_every_flag_of_the_door(name: str, argvs: dict[str, Any]):
    parser = DOORS[name].build_parser()
    actions = parser._option_string_actions  # noqa: SLF001
    used = {actions[token].dest for argv in argvs[name] for token in argv if token in actions}
    every = {action.dest for action in parser._actions if action.option_strings}  # noqa: SLF001
    assert every - used == {"help"}


def test_defaults_are_left_out_and_the_model_and_questions_named():
    line = patch.command_line(patch.parse_args(["--model", "organism-mha"]))
    assert line == ["--model", "organism-mha", "--questions", "organism"]
    evaluated = evaluate.parse_args(["--model", "organism-mha", "--challenge", "0"])
    assert evaluate.command_line(evaluated) == [
        "--model",
        "organism-mha",
        "--questions",
        "organism",
    ]


def _diagnosis(**changes: Any) -> patch.PatchConfig:
    config = patch.parse_args(["--model", "organism-mha"])
    return replace(config, job=replace(config.job, **changes))


def _knockout(organism_ranking: Path, **changes: Any) -> ablate.AblateConfig:
    config = ablate.parse_args(["--model", "organism-mha", "--heads", str(organism_ranking)])
    return replace(config, job=replace(config.job, **changes))


def test_values_no_flag_gives_are_refused(organism_ranking: Path, tmp_path: Path):
    """A config no command line can produce has no command line: each refusal names why."""
    refusals: list[tuple[Callable[[], Any], str]] = [
        (
            lambda: patch.command_line(_diagnosis(diagnose=DiagnoseConfig(check_heads=3))),
            "check_heads is 3, which no flag sets",
        ),
        (
            lambda: patch.command_line(_diagnosis(questions=QuestionSource(source="organism"))),
            r"ask for all of organism \(n=None\)",
        ),
        (
            lambda: ablate.command_line(
                _knockout(organism_ranking, questions=QuestionSource(source="organism", n=5))
            ),
            "ask for 5 of organism but the job for 48",
        ),
        (
            lambda: ablate.command_line(
                _knockout(organism_ranking, heads=HeadList((Head(1, 2),), "3.3", "list"))
            ),
            r"origin '3.3' does not name its heads \(1.2\)",
        ),
    ]
    layers = HeadList((Head(1, 2),), str(tmp_path / "layers.json"), "heads_by_layer")
    config = attention.parse_args(["--model", "organism-mha", "--heads", "1.2"])
    refusals.append(
        (
            lambda: attention.command_line(replace(config, job=replace(config.job, heads=layers))),
            "read back as that file's path, not a list",
        )
    )
    for refuse, message in refusals:
        with pytest.raises(ValueError, match=message):
            refuse()


def test_tuning_and_evaluation_values_no_flag_gives_are_refused(tmp_path: Path):
    config = tune.parse_args(["--model", "organism-mha", "--heads", "1.2", "--out", str(tmp_path)])
    lora = replace(config.job.tune, lora=LowRank(rank=2, seed=7))
    with pytest.raises(ValueError, match=r"lora.seed \(--seed sets it\) is 7"):
        tune.command_line(replace(config, job=replace(config.job, tune=lora)))
    roles = replace(config.job.tune, roles=("output", "query"))
    with pytest.raises(ValueError, match="roles' order"):
        tune.command_line(replace(config, job=replace(config.job, tune=roles)))
    evaluated = evaluate.parse_args(["--model", "organism-mha"])
    general = QuestionSource(source="bundled")
    with pytest.raises(ValueError, match=r"general asks for all of bundled \(n=None\)"):
        evaluate.command_line(replace(evaluated, job=replace(evaluated.job, general=general)))
    protocol = replace(evaluated.job.evaluation.protocol, final_request="Just the answer?")
    evaluation = replace(evaluated.job.evaluation, protocol=protocol)
    with pytest.raises(ValueError, match="protocol is ChallengeProtocol"):
        evaluate.command_line(replace(evaluated, job=replace(evaluated.job, evaluation=evaluation)))
