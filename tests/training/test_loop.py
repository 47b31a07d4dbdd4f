"""The training loop: schedule, accumulation, exact resume, and what it refuses."""

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from sycolens.training.config import TrainingConfig, learning_rate_at
from sycolens.training.loop import LossOutput, train

DATA = torch.randn(64, 6, generator=torch.Generator().manual_seed(1))
TARGET = DATA @ torch.randn(6, 1, generator=torch.Generator().manual_seed(2))


class _Interrupt(Exception):
    pass


def _stop_at(step_to_stop: int):
    def on_step(step: int) -> None:
        if step == step_to_stop:
            raise _Interrupt

    return on_step


def _model() -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 1))


def _loss_at(model: torch.nn.Module, batch: int = 8, accumulation: int = 1):
    def loss_at(step: int, micro: int) -> LossOutput:
        size = batch // accumulation
        start = (step * batch + micro * size) % len(DATA)
        rows = slice(start, start + size)
        loss = torch.nn.functional.mse_loss(model(DATA[rows]), TARGET[rows])
        return LossOutput(loss, {"loss": loss.item()}, size)

    return loss_at


CONFIG = TrainingConfig(steps=6, learning_rate=0.05, warmup_steps=2, weight_decay=0.1,
                        accumulation=2, checkpoint_every=2)  # fmt: skip


def test_an_interrupted_run_resumes_to_identical_weights_moments_and_rng(tmp_path: Path):
    straight = _model().train()
    done = train(dict(straight.named_parameters()), _loss_at(straight, accumulation=2), CONFIG,
                 tmp_path / "a", identity={}, show_progress=False)  # fmt: skip

    resumed = _model().train()
    with pytest.raises(_Interrupt):
        train(dict(resumed.named_parameters()), _loss_at(resumed, accumulation=2), CONFIG,
              tmp_path / "b", identity={}, show_progress=False, on_step=_stop_at(3))  # fmt: skip
    torch.manual_seed(123)  # a later session starts with other RNG state and other weights
    resumed = _model().train()
    again = train(dict(resumed.named_parameters()), _loss_at(resumed, accumulation=2), CONFIG,
                  tmp_path / "b", identity={}, show_progress=False)  # fmt: skip
    for (name, a), (_, b) in zip(straight.named_parameters(), resumed.named_parameters(),
                                 strict=True):  # fmt: skip
        torch.testing.assert_close(a, b, atol=0, rtol=0, msg=name)
    assert again.history == done.history and len(done.history) == 6


def test_accumulated_micro_batches_equal_one_big_batch(tmp_path: Path):
    config = TrainingConfig(steps=3, learning_rate=0.01, max_grad_norm=None)
    whole, split = _model().eval(), _model().eval()  # eval: no dropout, same function
    train(dict(whole.named_parameters()), _loss_at(whole, batch=16), config, tmp_path / "a",
          identity={}, show_progress=False)  # fmt: skip
    accumulated = TrainingConfig(steps=3, learning_rate=0.01, max_grad_norm=None, accumulation=4)
    train(dict(split.named_parameters()), _loss_at(split, batch=16, accumulation=4), accumulated,
          tmp_path / "b", identity={}, show_progress=False)  # fmt: skip
    for a, b in zip(whole.parameters(), split.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_only_the_given_parameters_train(tmp_path: Path):
    model = _model().eval()
    first, last = model[0], model[2]
    assert isinstance(first, torch.nn.Linear) and isinstance(last, torch.nn.Linear)
    frozen = last.weight.detach().clone()
    trainable = {"first.weight": first.get_parameter("weight")}
    train(trainable, _loss_at(model), TrainingConfig(steps=2, learning_rate=0.1, weight_decay=0.5),
          tmp_path, identity={}, show_progress=False)  # fmt: skip
    torch.testing.assert_close(last.weight, frozen, atol=0, rtol=0)


def test_schedule_warms_up_then_follows_a_cosine_to_the_floor():
    config = TrainingConfig(steps=11, learning_rate=1.0, min_learning_rate=0.1, warmup_steps=1)
    assert learning_rate_at(config, 0) == 1.0
    assert learning_rate_at(config, 1) == pytest.approx(1.0)
    assert learning_rate_at(config, 6) == pytest.approx(
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2))
    )
    assert learning_rate_at(config, 11) == pytest.approx(0.1)
    warm = TrainingConfig(steps=10, learning_rate=2.0, warmup_steps=4)
    assert [learning_rate_at(warm, s) for s in range(4)] == [0.5, 1.0, 1.5, 2.0]


def test_resuming_another_run_is_refused(tmp_path: Path):
    model = _model()
    with pytest.raises(_Interrupt):
        train(dict(model.named_parameters()), _loss_at(model), CONFIG, tmp_path,
              identity={"run": 1}, show_progress=False, on_step=_stop_at(2))  # fmt: skip
    with pytest.raises(ValueError, match=r"holds a run with other settings"):
        train(dict(model.named_parameters()), _loss_at(model), CONFIG, tmp_path,
              identity={"run": 2}, show_progress=False)  # fmt: skip


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"steps": 0}, r"steps must be >= 1, got 0: zero steps would write an untrained model"),
        ({"steps": 5, "warmup_steps": 6}, r"--warmup must be in \[0, steps\], got 6 of 5"),
        ({"steps": 5, "accumulation": 0}, r"--accumulation must be >= 1, got 0\. Fix"),
        ({"steps": 5, "checkpoint_every": 0}, r"--checkpoint-every must be >= 1, got 0"),
        ({"steps": 5, "weight_decay": math.nan}, r"--weight-decay must be a finite number"),
        ({"steps": 5, "min_learning_rate": 2.0}, r"Need 0 <= min_learning_rate \(2.0\)"),
        ({"steps": 5, "max_grad_norm": 0.0}, r"max_grad_norm must be > 0 or None, got 0.0"),
        ({"steps": 5, "learning_rate": math.inf}, r"both finite. Fix the learning rates \(--lr"),
        ({"steps": 5, "learning_rate": math.nan}, r"both finite"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, float], message: str):
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**{"learning_rate": 1.0, **settings})  # type: ignore[arg-type]


@pytest.mark.parametrize("blows_up", ["loss", "gradient"])
def test_a_non_finite_loss_or_gradient_stops_training_before_the_weights_take_it(
    tmp_path: Path, blows_up: str
):
    model = _model()
    before = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    plain = _loss_at(model)

    def loss_at(step: int, micro: int) -> LossOutput:
        output = plain(step, micro)
        if step < 2:
            return output
        if blows_up == "loss":
            return LossOutput(output.loss * math.inf, output.metrics, output.n_samples)
        # A finite loss whose gradient overflows: inf * 0 in the backward.
        first: torch.nn.Linear = model[0]  # pyright: ignore[reportAssignmentType]
        return LossOutput(output.loss + (first.weight * math.inf).sum() * 0, {}, 8)

    config = dataclasses.replace(CONFIG, accumulation=1, checkpoint_every=10)
    message = r"step 3 of 6: the (loss|gradient norm) is (nan|inf).*no trained tensor took it"
    with pytest.raises(FloatingPointError, match=rf"Training stopped at {message}.*lower --lr"):
        train(dict(model.named_parameters()), loss_at, config, tmp_path, identity={},
              show_progress=False)  # fmt: skip
    after = model.state_dict()
    assert all(torch.isfinite(tensor).all() for tensor in after.values())
    assert any(not torch.equal(after[name], before[name]) for name in before)  # 2 steps ran


def test_resuming_with_other_trainable_tensors_is_refused(tmp_path: Path):
    model = _model()
    with pytest.raises(_Interrupt):
        train(dict(model.named_parameters()), _loss_at(model), CONFIG, tmp_path,
              identity={}, show_progress=False, on_step=_stop_at(2))  # fmt: skip
    fewer = dict(list(model.named_parameters())[:2])
    with pytest.raises(ValueError, match=r"holds trainable tensors .* not the ones of this run"):
        train(fewer, _loss_at(model), CONFIG, tmp_path, identity={}, show_progress=False)


def test_bfloat16_autocast_keeps_fp32_weights_and_follows_the_fp32_run(tmp_path: Path):
    config = TrainingConfig(steps=4, learning_rate=0.01)
    exact, mixed = _model().eval(), _model().eval()
    fp32 = train(dict(exact.named_parameters()), _loss_at(exact), config, tmp_path / "a",
                 identity={}, show_progress=False)  # fmt: skip
    bf16 = train(dict(mixed.named_parameters()), _loss_at(mixed),
                 dataclasses.replace(config, autocast="bfloat16"), tmp_path / "b",
                 identity={}, show_progress=False)  # fmt: skip
    losses = [[row["loss"] for row in run.history] for run in (fp32, bf16)]
    assert losses[0] != losses[1]  # the forward really ran in bfloat16
    assert losses[1] == pytest.approx(losses[0], rel=0.05)
    for a, b in zip(exact.parameters(), mixed.parameters(), strict=True):
        assert b.dtype == torch.float32
        torch.testing.assert_close(a, b, atol=2e-2, rtol=0)


def test_float16_scales_the_loss_and_resumes_with_the_scaler_state(tmp_path: Path):
    """A huge loss overflows float16 gradients: the scaler skips those steps and halves its
    scale, so a resume that forgot the scale would take other steps."""
    config = dataclasses.replace(CONFIG, autocast="float16")

    def loud(model: torch.nn.Module):
        quiet = _loss_at(model, accumulation=2)

        def loss_at(step: int, micro: int) -> LossOutput:
            output = quiet(step, micro)
            return LossOutput(output.loss * 1e4, output.metrics, output.n_samples)

        return loss_at

    straight = _model().train()
    done = train(dict(straight.named_parameters()), loud(straight), config, tmp_path / "a",
                 identity={}, show_progress=False)  # fmt: skip
    scales = [row["loss_scale"] for row in done.history]
    assert scales[-1] < scales[0] <= 65536.0  # overflowing steps were skipped, scale backed off

    resumed = _model().train()
    with pytest.raises(_Interrupt):
        train(dict(resumed.named_parameters()), loud(resumed), config, tmp_path / "b",
              identity={}, show_progress=False, on_step=_stop_at(3))  # fmt: skip
    resumed = _model().train()
    again = train(dict(resumed.named_parameters()), loud(resumed), config, tmp_path / "b",
                  identity={}, show_progress=False)  # fmt: skip
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert again.history == done.history
