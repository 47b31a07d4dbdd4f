"""SPT and SFT end to end on the organism: what trains, what stays, exports, resume, errors."""

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM
from transformers.modeling_layers import GradientCheckpointingLayer

from sycolens.data.selection import QuestionSource
from sycolens.evaluation.config import EvaluationJob
from sycolens.evaluation.run import trained_on
from sycolens.heads import Head
from sycolens.models import LoadedModel
from sycolens.models.deltas import apply_deltas, training_question_ids
from sycolens.models.head_access import HeadLayout
from sycolens.models.spec import ModelSpec
from sycolens.organism.config import PLANTED_HEADS
from sycolens.prompts.chat import Message
from sycolens.prompts.schema import Question
from sycolens.training.config import TrainingConfig
from sycolens.tuning.config import LowRank, TuneConfig, TuneJob
from sycolens.tuning.data import build_examples
from sycolens.tuning.run import TuneResult, tune_model, tuning_roles

CHAT = [Message(role="user", content="what is 2 + 3 ?")]
QUESTIONS = QuestionSource(source="organism", n=8)


@pytest.fixture
def ranking(organism_ranking: Path) -> Path:
    return organism_ranking


def _job(out: Path, ranking: Path | None, **tune: object) -> TuneJob:
    training = TrainingConfig(steps=4, learning_rate=1e-3, checkpoint_every=2)
    settings = {"k": 3, "training": training, "batch_size": 4, **tune}
    return TuneJob(model=ModelSpec(name="organism-mha"), ranking=ranking, questions=QUESTIONS,
                   tune=TuneConfig(**settings), out=out)  # type: ignore[arg-type]  # fmt: skip


def _deltas(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), framework="pt") as handle:
        return {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118


def test_spt_trains_only_the_planted_heads_slices_and_exports_them(
    ranking: Path, tmp_path: Path, fresh_model: Callable[..., LoadedModel]
):
    model = fresh_model("organism-mha")
    before = {name: p.detach().clone() for name, p in model.hf_parameters().items()}
    result = tune_model(model, _job(tmp_path / "run", ranking), show_progress=False)
    assert set(result.heads) == set(PLANTED_HEADS)
    layout = HeadLayout.of(model.hf_model)
    assert result.n_trainable == 3 * 4 * 64 * layout.d_head  # K x Q/K/V/O x d_model x d_head
    # Every weight outside the trained slices is bitwise unchanged (the deltas are merged in).
    touched = {name: torch.zeros_like(p, dtype=torch.bool) for name, p in before.items()}
    for head in result.heads:
        for role in ("query", "key", "value", "output"):
            for piece in layout.slices(head, role):
                piece.of(touched[piece.name]).fill_(True)
    after = model.hf_parameters()
    for name, original in before.items():
        now = after[name].detach()
        assert torch.equal(now[~touched[name]], original[~touched[name]]), name
    assert any(not torch.equal(after[n].detach(), before[n]) for n in touched)
    document = json.loads((tmp_path / "run" / "tune.json").read_text())
    assert document["history"][-1]["loss"] < document["history"][0]["loss"]
    read = TuneResult.read(tmp_path / "run")
    assert read.document == document and read.heads == result.heads and read.mode == "spt"
    assert read.training.history == result.training.history and read.training.steps == 4
    assert read.n_trainable == result.n_trainable
    # Recorded before the deltas are merged in: SPT's record is the base weights'.
    assert read.model.weights_fingerprint == document["base_fingerprint"]
    assert len(document["question_ids"]) == 8 and document["n_examples"] == 16
    assert not (tmp_path / "run" / "checkpoint").exists()
    deltas_file = tmp_path / "run" / "deltas.safetensors"
    assert training_question_ids(deltas_file) == frozenset(document["question_ids"])
    assert sum(t.numel() for t in _deltas(deltas_file).values()) == result.n_trainable


def test_the_exported_checkpoint_and_the_deltas_give_the_tuned_logits(
    ranking: Path, tmp_path: Path, fresh_model: Callable[..., LoadedModel]
):
    tuned = fresh_model("organism-mha")
    tune_model(tuned, _job(tmp_path / "run", ranking), show_progress=False)
    tokens = torch.tensor([tuned.chat.tokenize(CHAT)])
    with torch.no_grad():
        expected = tuned.hf_model(tokens).logits
        plain = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "model")
        torch.testing.assert_close(plain(tokens).logits, expected, atol=1e-4, rtol=0)
        base_plus = fresh_model("organism-mha")
        apply_deltas(base_plus, tmp_path / "run" / "deltas.safetensors")
        torch.testing.assert_close(base_plus.hf_model(tokens).logits, expected, atol=1e-5, rtol=0)


def test_an_interrupted_run_resumes_to_the_same_deltas(
    ranking: Path,
    tmp_path: Path,
    interrupt_training: Callable[[int], AbstractContextManager[None]],
    fresh_model: Callable[..., LoadedModel],
    capsys: pytest.CaptureFixture[str],
):
    tune_model(fresh_model("organism-mha"), _job(tmp_path / "whole", ranking), show_progress=False)
    with interrupt_training(4):  # step 3 of 4, after the checkpoint at step 2
        tune_model(
            fresh_model("organism-mha"), _job(tmp_path / "cut", ranking), show_progress=False
        )
    assert (tmp_path / "cut" / "checkpoint").exists()
    capsys.readouterr()
    tune_model(fresh_model("organism-mha"), _job(tmp_path / "cut", ranking), show_progress=False)
    assert "resuming from the checkpoint in" in capsys.readouterr().out  # says what it skips
    whole = _deltas(tmp_path / "whole" / "deltas.safetensors")
    resumed = _deltas(tmp_path / "cut" / "deltas.safetensors")
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[name], resumed[name]) for name in whole)


def test_checkpointed_layers_train_the_same_deltas_and_bf16_autocast_tracks_fp32(
    ranking: Path, tmp_path: Path, fresh_model: Callable[..., LoadedModel]
):
    q_calls: dict[str, int] = {}

    def run(name: str, **tune: object) -> dict[str, torch.Tensor]:
        model = fresh_model("organism-mha")
        # The last layer: the backward passes through it (not through layers below the deltas).
        layers = [m for m in model.hf_model.modules() if isinstance(m, GradientCheckpointingLayer)]
        layer = layers[-1]
        q_calls[name] = 0

        def count(*_: object) -> None:
            q_calls[name] += 1

        layer.get_submodule("self_attn.q_proj").register_forward_hook(count)
        tune_model(model, _job(tmp_path / name, ranking, **tune), show_progress=False)
        return _deltas(tmp_path / name / "deltas.safetensors")

    def losses(name: str) -> list[float]:
        history = json.loads((tmp_path / name / "tune.json").read_text())["history"]
        return [row["loss"] for row in history]

    plain = run("plain")
    recomputed = run("recomputed", gradient_checkpointing=True)
    training = TrainingConfig(steps=4, learning_rate=1e-3, checkpoint_every=2, autocast="bfloat16")
    mixed = run("bf16", training=training)
    # Each checkpointed backward ran the layer again: its query projection ran twice as often.
    assert q_calls["plain"] > 0 and q_calls["recomputed"] == 2 * q_calls["plain"]
    for name, delta in plain.items():
        torch.testing.assert_close(recomputed[name], delta, atol=1e-6, rtol=0)
        assert mixed[name].dtype == torch.float32
    assert losses("bf16") != losses("plain")  # the forward really ran in bfloat16
    assert losses("bf16") == pytest.approx(losses("plain"), rel=0.02)


def test_spt_with_lora_exports_plain_low_rank_deltas_that_give_the_tuned_logits(
    ranking: Path, tmp_path: Path, fresh_model: Callable[..., LoadedModel]
):
    tuned = fresh_model("organism-mha")
    lora = LowRank(rank=2, alpha=4.0)
    result = tune_model(tuned, _job(tmp_path / "run", ranking, lora=lora), show_progress=False)
    layout = HeadLayout.of(tuned.hf_model)
    assert result.n_trainable == 3 * 4 * 2 * (64 + layout.d_head)  # K x roles x r x (m + n)
    deltas = _deltas(tmp_path / "run" / "deltas.safetensors")
    assert len(deltas) == 3 * 4 and all(d.dim() == 2 for d in deltas.values())
    assert all(int(torch.linalg.matrix_rank(d)) == 2 for d in deltas.values())
    document = json.loads((tmp_path / "run" / "tune.json").read_text())
    assert document["lora"] == {"rank": 2, "alpha": 4.0, "seed": 0}
    assert document["history"][-1]["loss"] < document["history"][0]["loss"]
    tokens = torch.tensor([tuned.chat.tokenize(CHAT)])
    base_plus = fresh_model("organism-mha")
    apply_deltas(base_plus, tmp_path / "run" / "deltas.safetensors")
    with torch.no_grad():
        torch.testing.assert_close(
            base_plus.hf_model(tokens).logits, tuned.hf_model(tokens).logits, atol=1e-5, rtol=0
        )
    with pytest.raises(ValueError, match=r"LoRA is for SPT's head slices"):
        TuneConfig(mode="sft", lora=lora)


def test_sft_of_float16_weights_under_float16_autocast_is_refused():
    training = TrainingConfig(steps=1, learning_rate=1e-3, autocast="float16")
    with pytest.raises(ValueError, match=r"float16 gradients cannot be unscaled.*--dtype float32"):
        TuneJob(model=ModelSpec(name="organism-mha", dtype="float16"),
                tune=TuneConfig(mode="sft", training=training))  # fmt: skip


def test_a_resume_folder_of_other_settings_is_refused(
    ranking: Path,
    tmp_path: Path,
    interrupt_training: Callable[[int], AbstractContextManager[None]],
    fresh_model: Callable[..., LoadedModel],
):
    job = _job(tmp_path / "run", ranking, training=TrainingConfig(
        steps=4, learning_rate=1e-3, checkpoint_every=1))  # fmt: skip
    with interrupt_training(2):
        tune_model(fresh_model("organism-mha"), job, show_progress=False)
    other = _job(tmp_path / "run", ranking, seed=1)
    with pytest.raises(ValueError, match=r"holds a run with other settings"):
        tune_model(fresh_model("organism-mha"), other, show_progress=False)


def test_random_heads_and_sft_through_the_same_loop(
    tmp_path: Path, fresh_model: Callable[..., LoadedModel]
):
    random_run = tune_model(fresh_model("organism-mha"),
                            _job(tmp_path / "random", None, heads="random"),
                            show_progress=False)  # fmt: skip
    assert len(random_run.heads) == 3 and random_run.document["ranking"] is None
    model = fresh_model("organism-mha")
    sft = tune_model(model, _job(tmp_path / "sft", None, mode="sft", k=0), show_progress=False)
    assert sft.heads == () and sft.n_trainable == sum(
        p.numel() for p in model.hf_parameters().values()
    )
    assert (tmp_path / "sft" / "model").is_dir()
    assert not (tmp_path / "sft" / "deltas.safetensors").exists()
    job = EvaluationJob(model=ModelSpec(name="organism-mha"),
                        tuned=(str(tmp_path / "sft" / "model"),),
                        deltas=(tmp_path / "random" / "deltas.safetensors",))  # fmt: skip
    assert trained_on(job) == frozenset(sft.document["question_ids"])


def test_grouped_query_models_train_query_and_output_unless_asked(
    tiny_models: dict[str, LoadedModel],
):
    layout = HeadLayout.of(tiny_models["llama-gqa"].hf_model)
    assert tuning_roles(layout, None, False) == ("query", "output")
    with pytest.raises(
        ValueError, match=r"each key/value head feeds 2 query heads.*--train-shared-kv"
    ):
        tuning_roles(layout, ("query", "key"), False)
    assert tuning_roles(layout, ("query", "key"), True) == ("query", "key")
    mha = HeadLayout.of(tiny_models["llama"].hf_model)
    assert tuning_roles(mha, None, False) == ("query", "key", "value", "output")


def test_bad_inputs_name_the_fix(
    ranking: Path, tmp_path: Path, fresh_model: Callable[..., LoadedModel]
):
    with pytest.raises(ValueError, match=r"--top-k must be >= 1 for SPT"):
        TuneConfig(k=0)
    with pytest.raises(ValueError, match=r"no wrong answer.*Fix: add `wrong_answers`"):
        build_examples([Question(id="q", kind="fact", question="Who?", answer="me")])
    with pytest.raises(ValueError, match=r"SPT on the top heads needs heads\. Fix: pass --heads"):
        tune_model(fresh_model("organism-mha"), _job(tmp_path / "a", None), show_progress=False)
    other = fresh_model("organism-gqa")
    with pytest.raises(ValueError, match=r"ranked on .*other weights"):
        tune_model(other, _job(tmp_path / "b", ranking), show_progress=False)
    (tmp_path / "done").mkdir()
    finished = {"schema": "sycolens.tune_run", "mode": "spt", "model": {"id": "organism-mha"}}
    (tmp_path / "done" / "tune.json").write_text(json.dumps(finished))
    with pytest.raises(FileExistsError, match=r"already holds a finished run \(spt on 'organism"):
        tune_model(fresh_model("organism-mha"), _job(tmp_path / "done", ranking),
                   show_progress=False)  # fmt: skip
    huge = _job(tmp_path / "huge", ranking, batch_size=100_000)
    with pytest.raises(ValueError, match=r"--batch-size 100000 is more than the \d+ training "
                       r"conversations of \d+ questions.*Fix: --batch-size"):  # fmt: skip
        tune_model(fresh_model("organism-mha"), huge, show_progress=False)
    assert not (tmp_path / "huge").exists()


def test_spt_on_gpt2_under_the_bridge_trains_only_deltas_and_sft_is_refused(
    tiny_checkpoints: dict[str, Path], tmp_path: Path, fresh_model: Callable[..., LoadedModel]
):
    """The bridge computes GPT-2's fused c_attn from split q/k/v copies: SPT freezes those too
    (no gradient is kept for any weight), and SFT, which would leave Q/K/V untrained, refuses."""
    model = fresh_model(str(tiny_checkpoints["gpt2"]))
    training = TrainingConfig(steps=2, learning_rate=1e-2, checkpoint_every=2)
    job = TuneJob(model=ModelSpec(name=str(tiny_checkpoints["gpt2"])),
                  questions=QuestionSource(source="bundled", n=2),
                  tune=TuneConfig(k=2, heads="random", training=training, batch_size=2),
                  out=tmp_path / "spt")  # fmt: skip
    result = tune_model(model, job, show_progress=False)
    assert all(p.grad is None for p in model.hf_model.parameters())
    assert result.training.history[-1]["loss"] > 0
    sft = TuneJob(model=job.model, questions=job.questions, out=tmp_path / "sft",
                  tune=TuneConfig(mode="sft", k=0, training=training, batch_size=2))  # fmt: skip
    with pytest.raises(ValueError, match=r"SFT of .* is not supported: under TransformerBridge"):
        tune_model(fresh_model(str(tiny_checkpoints["gpt2"])), sft, show_progress=False)


def test_random_heads_given_a_ranking_avoid_its_top_heads(
    tmp_path: Path, ranking: Path, fresh_model: Callable[..., LoadedModel]
):
    planted = set(PLANTED_HEADS)  # the ranking's top 3
    drawn: set[Head] = set()
    for seed in range(4):
        job = _job(tmp_path / f"random-{seed}", ranking, heads="random", head_seed=seed)
        run = tune_model(fresh_model("organism-mha"), job, show_progress=False)
        assert len(run.heads) == 3 and not set(run.heads) & planted
        assert run.document["excluded_heads"] == sorted(list(h) for h in planted)
        drawn |= set(run.heads)
    assert len(drawn) > 3  # the seeds draw different heads
    too_many = _job(tmp_path / "too-many", ranking, heads="random", k=9)
    with pytest.raises(
        ValueError, match=r"--top-k 9 is more than the 7 heads to draw from outside"
    ):
        tune_model(fresh_model("organism-mha"), too_many, show_progress=False)
