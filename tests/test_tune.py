"""`python -m sycolens.tune`: flags, checks before loading, and a full run on the organism."""

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from sycolens import tune
from sycolens.tuning.config import LowRank


@pytest.fixture
def ranking(organism_ranking: Path) -> Path:
    return organism_ranking


def test_every_flag_arrives(ranking: Path, tmp_path: Path):
    job = tune.parse_args([
        "--model", "organism-mha", "--heads", str(ranking), "--top-k", "2",
        "--roles", "query,output",
        "--questions", "organism", "--n-questions", "12", "--seed", "5", "--steps", "7",
        "--lr", "0.01", "--min-lr", "0.001", "--warmup", "2", "--weight-decay", "0.1",
        "--batch-size", "3", "--accumulation", "2", "--checkpoint-every", "4",
        "--allow-other-weights", "--train-shared-kv", "--out", str(tmp_path / "run"),
        "--autocast", "bf16", "--gradient-checkpointing", "--lora-rank", "4", "--lora-alpha", "8",
        "--fsdp", "--fsdp-offload",
    ]).job  # fmt: skip
    assert job.ranking == ranking and job.allow_other_weights and job.out == tmp_path / "run"
    assert (job.questions.source, job.questions.n, job.questions.seed) == ("organism", 12, 5)
    config = job.tune
    assert (config.mode, config.k, config.heads, config.roles) == (
        "spt",
        2,
        "top",
        ("query", "output"),
    )
    assert config.train_shared_kv and config.batch_size == 3 and config.seed == 5
    training = config.training
    assert (training.steps, training.learning_rate, training.min_learning_rate) == (7, 0.01, 0.001)
    assert (training.warmup_steps, training.weight_decay, training.accumulation) == (2, 0.1, 2)
    assert training.checkpoint_every == 4 and training.autocast == "bfloat16"
    assert config.gradient_checkpointing and config.lora == LowRank(rank=4, alpha=8.0, seed=5)
    assert config.fsdp and config.fsdp_offload
    control = tune.parse_args(["--random-heads", "7", "--out", str(tmp_path)]).job.tune
    assert (control.heads, control.head_seed, control.seed) == ("random", 7, 0)
    assert control.training.autocast is None and not control.gradient_checkpointing
    assert control.lora is None and not control.fsdp and not control.fsdp_offload


def test_presets_fill_what_is_not_given(tmp_path: Path):
    small = tune.parse_args(["--random-heads", "--out", str(tmp_path)]).job.tune
    assert (small.k, small.training.steps, small.training.learning_rate) == (3, 60, 1e-3)
    paper = tune.parse_args(["--random-heads", "--paper-preset", "llama-7b",
                             "--out", str(tmp_path)]).job.tune  # fmt: skip
    assert (paper.k, paper.batch_size, paper.training.steps) == (32, 32, 240)
    assert paper.training.learning_rate == 1e-5
    sft = tune.parse_args(["--mode", "sft", "--paper-preset", "mistral-7b",
                           "--out", str(tmp_path)]).job.tune  # fmt: skip
    assert (sft.training.learning_rate, sft.training.steps) == (5e-6, 120)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], r"SPT needs --heads: a ranking"),
        (["--heads", "missing.json"], r"--heads missing.json: no such file, and not a list"),
        (["--heads", "3.3,2.x"], r"no such file, and not a list of heads.*e\.g\. 3\.3,2\.0"),
        (["--model", "organism-mha", "--heads", "4.0,1.1"],
         r"names 4\.0, outside organism-mha's 4 layers \(0\.\.3\) x 4 heads"),
        (["--model", "organism-mha", "--heads", "1.1,1.1"], r"names 1\.1 more than once"),
        (["--model", "organism-mha", "--heads", "1.2,2.0", "--top-k", "3"],
         r"--top-k 3 asks for more heads than the 2 that --heads 1\.2,2\.0 names"),
        (["--mode", "sft", "--k", "4"], r"SFT trains every parameter"),
        (["--random-heads", "--roles", "query,weights"], r"--roles 'query,weights'"),
        (["--random-heads", "--top-k", "-1"], r"--top-k must be >= 1 for SPT"),
        (["--random-heads", "--steps", "-2"], r"steps must be >= 1"),
        (["--mode", "sft", "--paper-preset", "llama-70b", "--batch-size", "0"],
         r"batch_size must be >= 1"),
        (["--random-heads", "--model", "no-such-model"], r"Unknown model 'no-such-model'"),
        (["--random-heads", "--lora-alpha", "2"], r"--lora-alpha needs --lora-rank"),
        (["--model", "organism-mha", "--random-heads", "--top-k", "17"],
         r"--top-k 17 asks for more heads than organism-mha has \(16\)"),
        (["--random-heads", "--weight-decay", "nan"], r"--weight-decay must be a finite number"),
        (["--random-heads", "--lora-rank", "0"], r"--lora-rank must be >= 1, got 0"),
        (["--mode", "sft", "--lora-rank", "2"], r"LoRA is for SPT's head slices"),
        (["--mode", "sft", "--fsdp-offload"],
         r"--fsdp-offload keeps FSDP's shards in host memory.*Fix: add --fsdp"),
    ],
)  # fmt: skip
def test_bad_flags_fail_before_anything_loads(
    argv: list[str], message: str, usage_error: Callable[..., str], tmp_path: Path
):
    assert re.search(message, usage_error(tune.parse_args, [*argv, "--out", str(tmp_path)]))


@pytest.mark.parametrize("world_size", [None, "1"])
def test_fsdp_in_a_lone_process_is_refused_naming_the_launch(
    world_size: str | None,
    monkeypatch: pytest.MonkeyPatch,
    usage_error: Callable[..., str],
    tmp_path: Path,
):
    if world_size is None:
        monkeypatch.delenv("WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("WORLD_SIZE", world_size)
    flags = ["--mode", "sft", "--fsdp", "--out", str(tmp_path)]
    message = (
        r"--fsdp shards the model over the processes of a launch, but this process runs alone "
        r"\(WORLD_SIZE is unset or 1\)\. Fix: launch N >= 2 processes, e\.g\. `accelerate launch "
        r"--multi_gpu --num_processes N.*torchrun --nproc_per_node N.*add --fsdp-offload"
    )
    assert re.search(message, usage_error(tune.parse_args, flags))
    offloaded = tune.parse_args([*flags, "--fsdp-offload"]).job.tune  # one GPU, host memory
    assert offloaded.fsdp and offloaded.fsdp_offload
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert tune.parse_args(flags).job.tune.fsdp


def test_a_full_run_writes_the_run_folder(
    ranking: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "run"
    tune.main(["--model", "organism-mha", "--heads", str(ranking), "--questions", "organism",
               "--n-questions", "4", "--steps", "3", "--batch-size", "4",
               "--out", str(out)])  # fmt: skip
    document = json.loads((out / "tune.json").read_text())
    assert document["schema"] == "sycolens.tune_run" and len(document["history"]) == 3
    assert {tuple(h) for h in document["heads"]} == {(1, 2), (2, 0), (3, 3)}
    assert (out / "deltas.safetensors").is_file() and (out / "model" / "config.json").is_file()
    printed = capsys.readouterr().out
    # 3 heads x W_Q, W_K, W_V, W_O x d_model 64 x d_head 16
    assert "SPT on (3,3), (2,0), (1,2): 12,288 trainable parameters" in printed
    assert f"wrote {out}" in printed


def test_a_head_list_trains_its_heads_and_is_recorded(tmp_path: Path):
    out = tmp_path / "run"
    tune.main(["--model", "organism-mha", "--heads", "2.0, 1.2", "--questions", "organism",
               "--n-questions", "4", "--steps", "1", "--batch-size", "4",
               "--out", str(out)])  # fmt: skip
    document = json.loads((out / "tune.json").read_text())
    assert [tuple(h) for h in document["heads"]] == [(2, 0), (1, 2)]
    assert document["ranking"] == "2.0,1.2"
    assert document["heads_source"] == {
        "kind": "list",
        "origin": "2.0, 1.2",
        "heads": [[2, 0], [1, 2]],
    }


def test_a_heads_by_layer_file_is_taken_as_written_by_diagnose(tmp_path: Path):
    by_layer = tmp_path / "heads_by_layer.json"
    by_layer.write_text(json.dumps({"1": [2], "3": [3, 0]}))
    job = tune.parse_args(["--model", "organism-mha", "--heads", str(by_layer),
                           "--out", str(tmp_path / "run")]).job  # fmt: skip
    assert job.ranking == by_layer and job.tune.k == 3  # every head of the file


def test_a_random_control_beside_a_head_list_matches_its_size(tmp_path: Path):
    job = tune.parse_args(["--model", "organism-mha", "--heads", "1.2,2.0", "--random-heads", "4",
                           "--out", str(tmp_path / "run")]).job  # fmt: skip
    assert (job.tune.heads, job.tune.k, job.tune.head_seed) == ("random", 2, 4)
