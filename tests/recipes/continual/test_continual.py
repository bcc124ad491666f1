"""ContinualLearner: the output regulariser protects earlier tasks, frozen embeddings, CL3 task inference, save/load."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import hypernet as hn
from hypernet.data.digits import load_digits_tasks
from hypernet.recipes.continual.metrics import predictive_entropy


def digits_tasks(n: int = 3) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    d = load_digits_tasks()
    out = []
    for t in range(n):
        tr, te = d.task_train == t, d.task_test == t
        out.append((d.x_train[tr], d.y_train[tr], d.x_test[te], d.y_test[te]))
    return out


def learner(beta: float, seed: int = 0, **kw: object) -> hn.ContinualLearner:
    torch.manual_seed(seed)
    target = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 2))
    args: dict[str, object] = {"embedding_dim": 8, "num_tasks": 5, "generator_kwargs": {"chunk_size": 300, "hidden": (16,)}, "lr": 3e-3}
    args.update(kw)
    return hn.ContinualLearner(target, beta=beta, **args)  # type: ignore[arg-type]


def loader(x: torch.Tensor, y: torch.Tensor, shuffle: bool = True) -> DataLoader[tuple[torch.Tensor, ...]]:
    return DataLoader(TensorDataset(x, y), batch_size=32, shuffle=shuffle, generator=torch.Generator().manual_seed(0))


def train_sequence(cl: hn.ContinualLearner, tasks: list[tuple[torch.Tensor, ...]], epochs: int = 8) -> None:
    tests = [loader(xte, yte, shuffle=False) for _, _, xte, yte in tasks]
    for t, (xtr, ytr, _, _) in enumerate(tasks):
        cl.fit_task(t, loader(xtr, ytr), epochs=epochs, eval_loaders=tests)


@pytest.fixture(scope="module")
def trained() -> hn.ContinualLearner:
    """beta=0.05, three digit-pair tasks in a row (shared by several tests: training is the slow part)."""
    cl = learner(0.05)
    train_sequence(cl, digits_tasks(3))
    return cl


def test_regulariser_reduces_forgetting_of_task_0(trained: hn.ContinualLearner) -> None:
    plain = learner(0.0)
    train_sequence(plain, digits_tasks(3))
    drops = {}
    for beta, cl in ((0.0, plain), (0.05, trained)):
        acc = cl.accuracy_matrix
        drops[beta] = float(acc[0, 0] - acc[2, 0])
        assert acc[0, 0] > 0.95 and acc[2, 2] > 0.9  # each task was learned
    assert drops[0.0] > 0.06, drops  # without the regulariser, task 0 is forgotten (measured: 0.11)
    assert drops[0.05] < 0.02, drops  # with it, task 0 is kept (measured: 0.0)
    assert drops[0.0] - drops[0.05] > 0.06, drops


def test_finished_embeddings_do_not_change_and_can_move_when_unfrozen() -> None:
    tasks = digits_tasks(2)
    for freeze in (True, False):
        cl = learner(0.05, freeze_embeddings=freeze)
        cl.fit_task(0, loader(tasks[0][0], tasks[0][1]), max_steps=3)
        before = cl.embedding.table.detach().clone()
        cl.fit_task(1, loader(tasks[1][0], tasks[1][1]), max_steps=3)
        after = cl.embedding.table.detach()
        assert not torch.equal(before[1], after[1])  # the new task's embedding trains
        assert torch.equal(before[2:], after[2:])  # unused ids never move
        assert torch.equal(before[0], after[0]) == freeze


def test_task_inference_equals_a_per_sample_entropy_loop(trained: hn.ContinualLearner) -> None:
    cl, tasks = trained, digits_tasks(3)
    x = torch.cat([t[2][:20] for t in tasks])
    pred = cl.predict(x)
    cl.model.eval()
    with torch.no_grad():
        for i in range(x.shape[0]):
            ents = [float(predictive_entropy(cl.model(x[i : i + 1], t))[0]) for t in cl.tasks_]
            best = min(range(len(ents)), key=ents.__getitem__)
            assert int(pred.task[i]) == cl.tasks_[best]
            assert int(pred.label[i]) == int(cl.model(x[i : i + 1], cl.tasks_[best]).argmax(-1))
            assert torch.allclose(pred.entropy[:, i], torch.tensor(ents), atol=1e-5)
    assert pred.entropy.shape == (3, x.shape[0])


def test_task_inference_is_one_batched_call(monkeypatch: pytest.MonkeyPatch) -> None:
    cl = learner(0.05)
    cl.tasks_ = [0, 1, 2, 3]
    calls = []
    cl.model.register_forward_pre_hook(lambda m, args: calls.append(args))
    x = torch.rand(10, 64)
    logits = cl.task_logits(x)
    assert len(calls) == 1 and logits.shape == (4, 10, 2)
    monkeypatch.setattr("hypernet.recipes.continual.learner.ROWS_PER_CALL", 8)  # 2 samples x 4 tasks per call
    calls.clear()
    assert torch.allclose(cl.task_logits(x), logits, atol=1e-6) and len(calls) == 5


def test_save_load_round_trip_reproduces_outputs_exactly(trained: hn.ContinualLearner, tmp_path: Path) -> None:
    cl, tasks = trained, digits_tasks(2)
    path = cl.save(tmp_path / "cl")
    assert path.suffix == ".json" and (path.with_suffix(".safetensors")).is_file()
    other = learner(0.05, seed=123).load(tmp_path / "cl")
    x = tasks[0][2]
    assert torch.equal(other.logits(x, 1), cl.logits(x, 1))
    a, b = other.predict(x), cl.predict(x)
    assert torch.equal(a.task, b.task) and torch.equal(a.label, b.label)
    assert other.tasks_ == cl.tasks_ and torch.equal(other.accuracy_matrix.nan_to_num(), cl.accuracy_matrix.nan_to_num())
    with pytest.raises(hn.CheckpointError, match="embedding_dim"):
        learner(0.05, embedding_dim=4).load(tmp_path / "cl")
    hn.training.save_checkpoint(tmp_path / "other", step=1, model=nn.Linear(2, 2))
    with pytest.raises(hn.CheckpointError, match="ContinualLearner checkpoint"):
        cl.load(tmp_path / "other")


def test_lookahead_and_sampled_regulariser_train() -> None:
    tasks = digits_tasks(3)
    plain = learner(0.05)
    ahead = learner(0.05, lookahead=True, reg_tasks=1)
    for cl in (plain, ahead):
        for t, (x, y, _, _) in enumerate(tasks):
            result = cl.fit_task(t, loader(x, y), max_steps=3)
    assert result.steps == 3 and "train/reg" in result.metrics and math.isfinite(result.metrics["train/reg"])
    assert not torch.equal(plain.model.generator.out.weight, ahead.model.generator.out.weight)


def test_errors_say_what_to_fix() -> None:
    with pytest.raises(hn.ConfigError, match="beta"):
        learner(-1.0)
    with pytest.raises(hn.ConfigError, match="reg_tasks"):
        learner(0.1, reg_tasks=0)
    cl = learner(0.1)
    with pytest.raises(hn.ConfigError, match="fit_task first"):
        cl.predict(torch.rand(2, 64))
    with pytest.raises(hn.ConditionError, match="num_tasks"):
        cl.evaluate(7, [(torch.rand(2, 64), torch.zeros(2, dtype=torch.long))])
    with pytest.raises(hn.HypernetError, match=r"\(x, y\)"):
        cl.evaluate(0, [torch.rand(2, 64)])
    with pytest.raises(hn.HypernetError, match="empty"):
        cl.evaluate(0, [])
    assert cl.compression > 0 and cl.num_tasks == 5 and cl.backward_transfer() != cl.backward_transfer()  # NaN before training
