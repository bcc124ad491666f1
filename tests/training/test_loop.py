"""The shared loop: bitwise resume, callbacks, evaluation, logging, errors."""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from hypernet.training import Callback, TrainingError, TrainState, fit, read_metrics, seed_everything
from hypernet.training import logger as logger_module
from hypernet.training.loop import gradient_norm


def _problem() -> tuple[nn.Module, torch.optim.Optimizer, DataLoader[Any]]:
    """A model with dropout, a loader shuffled by torch's global RNG: resume must restore all of it."""
    seed_everything(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Dropout(0.3), nn.ReLU(), nn.Linear(16, 3))
    data = TensorDataset(torch.randn(40, 6), torch.randint(0, 3, (40,)))
    return model, torch.optim.Adam(model.parameters(), lr=1e-2), DataLoader(data, batch_size=8, shuffle=True)


def _step(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    x, y = batch
    x = x + 0.01 * torch.from_numpy(np.random.randn(*x.shape).astype(np.float32))  # numpy's RNG
    loss = nn.functional.cross_entropy(model(x), y) * (1 + 1e-3 * random.random())  # Python's RNG
    return loss, {"acc": float((model(x).argmax(1) == y).float().mean())}


def _fit(run_dir: Path, **kw: Any) -> tuple[nn.Module, Any]:
    model, opt, loader = _problem()
    return model, fit(model, _step, loader, opt, epochs=4, run_dir=run_dir, checkpoint_every=3, progress=False, tensorboard=False, **kw)


@pytest.mark.parametrize("stop_at", [7, 10, 13])  # mid-epoch after a checkpoint, an epoch boundary, mid-epoch between checkpoints
def test_resume_gives_bitwise_identical_losses(tmp_path: Path, stop_at: int) -> None:
    full_model, full = _fit(tmp_path / "full")
    _, first = _fit(tmp_path / "part", max_steps=stop_at)
    assert first.steps == stop_at and first.losses == full.losses[:stop_at]
    torch.manual_seed(1234)  # scramble every RNG: the checkpoint must bring them back
    np.random.seed(99)
    random.seed(5)
    model, rest = _fit(tmp_path / "part", resume=True)
    assert rest.resumed_from == stop_at and rest.steps == full.steps == 20
    assert first.losses + rest.losses == full.losses  # bitwise: float equality, no tolerance
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), full_model.state_dict().values(), strict=True))
    merged = read_metrics(tmp_path / "part" / "metrics.csv")["train/loss"]
    assert merged == read_metrics(tmp_path / "full" / "metrics.csv")["train/loss"]


def test_resume_without_rng_restore_would_differ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The resume test can fail: with RNG restoring disabled the losses after resuming change."""
    _, full = _fit(tmp_path / "full")
    _fit(tmp_path / "part", max_steps=7)
    import hypernet.training.loop as loop

    monkeypatch.setattr(loop, "restore_rng", lambda *a, **k: None)
    torch.manual_seed(1234)
    _, rest = _fit(tmp_path / "part", resume=True)
    assert rest.losses != full.losses[7:]


def test_callbacks_evaluation_and_stop(tmp_path: Path) -> None:
    events: list[str] = []

    class Spy(Callback):
        def on_fit_start(self, state: TrainState) -> None:
            events.append("start")

        def on_after_backward(self, state: TrainState) -> None:
            assert all(p.grad is not None for p in state.model.parameters())
            events.append("backward")

        def on_step_end(self, state: TrainState) -> None:
            events.append(f"step{state.step}")
            state.stop = state.step == 7

        def on_epoch_end(self, state: TrainState) -> None:
            events.append(f"epoch{state.epoch}:{state.eval_metrics['score']}")

        def on_fit_end(self, state: TrainState) -> None:
            events.append("end")

    model, opt, loader = _problem()
    result = fit(model, _step, loader, opt, epochs=3, evaluate=lambda m: {"score": float(m.training)}, callbacks=[Spy()], progress=False)
    assert result.steps == 7 and result.epochs == 1 and result.metrics["eval/score"] == 0.0  # evaluated in eval mode
    assert events[:3] == ["start", "backward", "step1"] and "epoch0:0.0" in events and events[-1] == "end"
    assert model.training


def test_nan_loss_is_a_training_error() -> None:
    model, opt, loader = _problem()
    with pytest.raises(TrainingError, match="loss became nan at step 1"):
        fit(model, lambda m, b: m(b[0]).sum() * float("nan"), loader, opt, progress=False)


def test_gradient_norm_equals_the_norm_of_all_gradients() -> None:
    a, b = torch.randn(3, requires_grad=True), torch.randn(2, 2, requires_grad=True)
    (a.sum() * 2 + (b * torch.arange(4.0).view(2, 2)).sum()).backward()
    want = torch.cat([a.grad.flatten(), b.grad.flatten()]).norm()  # type: ignore[union-attr]
    assert gradient_norm([a, b, torch.zeros(1, requires_grad=True)]) == pytest.approx(float(want), rel=1e-6)
    assert gradient_norm([torch.zeros(1, requires_grad=True)]) == 0.0


@pytest.mark.parametrize("clip", [None, 0.5])
def test_gradient_norm_of_sparse_gradients_equals_the_dense_one(clip: float | None) -> None:
    sparse, dense = nn.Embedding(6, 3, sparse=True), nn.Embedding(6, 3)
    dense.load_state_dict(sparse.state_dict())
    ids = torch.tensor([1, 1, 4])  # a repeated row: its gradients add up
    for emb in (sparse, dense):
        (emb(ids) * torch.arange(9.0).view(3, 3)).sum().backward()
    assert sparse.weight.grad is not None and sparse.weight.grad.is_sparse
    assert gradient_norm(sparse.parameters(), clip) == pytest.approx(gradient_norm(dense.parameters(), clip), rel=1e-6)
    torch.testing.assert_close(sparse.weight.grad.to_dense(), dense.weight.grad)


def test_bad_arguments(tmp_path: Path) -> None:
    model, opt, loader = _problem()
    with pytest.raises(TrainingError, match="keep_last"):
        fit(model, _step, loader, opt, keep_last=0)
    with pytest.raises(TrainingError, match="got none"):
        fit(model, _step, loader, opt, run_dir=tmp_path, resume=True, progress=False)
    with pytest.raises(TrainingError, match="run_dir=None"):
        fit(model, _step, loader, opt, resume=True, progress=False)
    with pytest.raises(TrainingError, match="scalar loss"):
        fit(model, lambda m, b: m(b[0]), loader, opt, progress=False)


def test_run_files_and_tensorboard_events(tmp_path: Path) -> None:
    model, opt, loader = _problem()
    fit(model, _step, loader, opt, epochs=2, run_dir=tmp_path, evaluate=lambda m: {"acc": 0.5}, progress=False)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"metrics.csv", "loss.png", "metrics.png", "summary.json", "checkpoints"} <= names
    assert any(n.startswith("events.out.tfevents.") for n in names)
    metrics = read_metrics(tmp_path / "metrics.csv")
    assert [s for s, _ in metrics["train/loss"]] == list(range(1, 11)) and metrics["eval/acc"] == [(5, 0.5), (10, 0.5)]


def test_without_tensorboard_one_warning_and_csv_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # importing it now raises ImportError
    monkeypatch.setattr(logger_module, "_warned_tensorboard", False)
    for name in ("a", "b"):
        model, opt, loader = _problem()
        with caplog.at_level(logging.WARNING, logger="hypernet"):
            fit(model, _step, loader, opt, epochs=1, run_dir=tmp_path / name, progress=False)
        assert not any(p.name.startswith("events.") for p in (tmp_path / name).iterdir())
        assert (tmp_path / name / "metrics.csv").is_file()
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) == 1
    assert "tensorboard is not installed" in caplog.records[0].getMessage()


def test_progress_bar_draws_loss_and_rate(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    model, opt, loader = _problem()
    fit(model, _step, loader, opt, epochs=1, progress=True)
    err = capsys.readouterr().err
    assert "loss=" in err and "step/s" in err and "5/5" in err
    fit(model, _step, loader, opt, epochs=1)  # not a terminal: no bar, one line per epoch on stdout
    out = capsys.readouterr()
    assert "step/s" not in out.err and "epoch 1/1" in out.out
    fit(model, _step, loader, opt, epochs=1, progress=False)
    assert capsys.readouterr() == ("", "")


def _nan_loss(m: nn.Module, loss: torch.Tensor) -> torch.Tensor:
    return loss * float("nan")


def _nan_gradient(m: nn.Module, loss: torch.Tensor) -> torch.Tensor:  # value unchanged (sqrt(0) = 0), gradient sqrt'(0) * abs'(0) = NaN
    return loss + torch.sqrt((m.weight - m.weight.detach()).abs().sum())  # type: ignore[operator]


@pytest.mark.parametrize(
    ("poison", "match", "clip"),
    [
        (_nan_loss, "loss became nan at step 3", None),
        (_nan_gradient, "expected finite gradients, got a gradient norm of nan at step 3", None),
        (_nan_gradient, "expected finite gradients, got a gradient norm of nan at step 3", 1.0),
    ],
)
def test_non_finite_loss_or_gradient_raises_before_the_optimizer_step(
    poison: Callable[[nn.Module, torch.Tensor], torch.Tensor], match: str, clip: float | None
) -> None:
    """The parameters stay those of the last good step: nothing is updated by the step whose loss or gradient is NaN."""
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    data = [(torch.randn(4, 3),) for _ in range(5)]
    calls = []

    def step(m: nn.Module, batch: tuple[torch.Tensor]) -> torch.Tensor:
        calls.append(1)
        loss = m(batch[0]).square().mean()
        return poison(m, loss) if len(calls) == 3 else loss

    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    snapshots: list[dict[str, torch.Tensor]] = []

    class Snap(Callback):
        def on_step_end(self, state: TrainState) -> None:
            snapshots.append({k: v.clone() for k, v in model.state_dict().items()})

    with pytest.raises(TrainingError, match=match):
        fit(model, step, data, opt, callbacks=[Snap()], progress=False, grad_clip=clip)
    assert len(snapshots) == 2
    for k, v in model.state_dict().items():
        assert torch.isfinite(v).all() and torch.equal(v, snapshots[-1][k])
