"""``recipe: continual`` for ``hypernet train``: digit-pair tasks learned one after another (see ``examples/continual.yaml``).

Each task is a pair of sklearn digits; the :class:`~hypernet.ContinualLearner` trains them in
order and a checkpoint is written after each, so ``--resume`` continues with the next task.
``hypernet eval`` reports the test accuracy on every task; ``hypernet export --cond T`` writes
the plain weights of task ``T``.

Example:
    >>> from hypernet.cli.config import validate
    >>> cfg = validate({"recipe": "continual", "name": "doc", "data": {"pairs": [[0, 1], [2, 3]]}})
    >>> ContinualRecipe().build_model(cfg).condition.num
    2
"""

from __future__ import annotations

import time
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn
from torch.utils.data import TensorDataset

from ..._nn import mlp
from ...cli.common import parse_int_cond
from ...cli.config import RunConfig, Section
from ...cli.registry import Recipe, RunContext, register_recipe
from ...data.digits import PAIRS, DigitsTasks, load_digits_tasks
from ...errors import ConfigError
from ...training.checkpoint import latest_checkpoint, save_checkpoint
from ...training.distributed import make_loader
from ...training.loop import FitResult
from ...training.rng import seed_everything
from .learner import ContinualLearner


class ContinualModel(Section):
    """``model:`` the learner and its MLP target (64 pixels -> hidden -> 2 classes)."""

    hidden: list[int] = Field(default_factory=lambda: [32])
    embedding_dim: int = Field(default=8, ge=1)
    generator: str = "chunked"
    generator_kwargs: dict[str, Any] = Field(default_factory=dict)
    beta: float = Field(default=0.01, ge=0, description="strength of the output regulariser")


class ContinualData(Section):
    """``data:`` the tasks: pairs of sklearn digits, learned in this order."""

    pairs: list[list[int]] = Field(default_factory=lambda: [list(p) for p in PAIRS])
    test_fraction: float = Field(default=0.25, gt=0, lt=1)


class ContinualConfig(RunConfig):
    """Config of the ``continual`` recipe."""

    recipe: Literal["continual"] = "continual"
    model: ContinualModel = Field(default_factory=ContinualModel)
    data: ContinualData = Field(default_factory=ContinualData)


def _learner(config: ContinualConfig) -> ContinualLearner:
    m = config.model
    if config.train.optimizer != "adam":
        raise ConfigError(
            f"expected train.optimizer 'adam' for the continual recipe (a new Adam per task), got {config.train.optimizer!r}; "
            "set train.optimizer: adam"
        )
    return ContinualLearner(
        mlp([64, *m.hidden, 2], kaiming=False),
        embedding_dim=m.embedding_dim,
        generator=m.generator,
        beta=m.beta,
        num_tasks=len(config.data.pairs),
        generator_kwargs=dict(m.generator_kwargs),
        lr=config.train.lr,
        grad_clip=config.train.grad_clip,
    )


def _data(config: ContinualConfig) -> DigitsTasks:
    return load_digits_tasks(config.data.test_fraction, seed=config.seed, pairs=tuple((a, b) for a, b in config.data.pairs))


@register_recipe("continual")
class ContinualRecipe(Recipe):
    """A :class:`~hypernet.ContinualLearner` on digit-pair tasks, one task after another."""

    config_class = ContinualConfig

    def build_model(self, config: ContinualConfig) -> nn.Module:
        return _learner(config).model

    def train(self, config: ContinualConfig, ctx: RunContext) -> FitResult:
        started = time.perf_counter()
        data = _data(config)
        learner = _learner(config)
        directory = ctx.run_dir / "checkpoints"
        steps, losses, resumed = 0, [], None
        if ctx.resume:
            ckpt = latest_checkpoint(directory)
            if ckpt is not None:
                ckpt.restore(learner.model)
                learner.tasks_ = [int(t) for t in ckpt.meta["extra"]["tasks"]]
                steps = resumed = ckpt.step
        path = None
        t = config.train
        for task in range(len(config.data.pairs)):
            if task in learner.tasks_:
                continue
            seed_everything(config.seed + task)  # per task, so a resumed run repeats the remaining tasks exactly
            mask = data.task_train == task
            loader = make_loader(TensorDataset(data.x_train[mask], data.y_train[mask]), t.batch_size, seed=config.seed + task)
            result = learner.fit_task(task, loader, t.epochs, max_steps=t.max_steps, progress=ctx.progress)
            steps += result.steps
            losses += result.losses
            path = save_checkpoint(
                directory, step=steps, model=learner.model, config=config.model_dump(mode="json"), extra={"tasks": learner.tasks_}
            )
        metrics = {f"eval/{k}": v for k, v in _evaluate(learner.model, data).items()}
        return FitResult(steps, t.epochs, losses, metrics, time.perf_counter() - started, ctx.run_dir, path, resumed)

    def evaluate(self, config: ContinualConfig, model: nn.Module) -> dict[str, float]:
        return _evaluate(model, _data(config))

    def parse_cond(self, config: ContinualConfig, text: str | None) -> int:
        return parse_int_cond(text, len(config.data.pairs), f"a task id (pairs {config.data.pairs})")


def _evaluate(model: nn.Module, data: DigitsTasks) -> dict[str, float]:
    """Test accuracy of every task with its own weights, and their mean."""
    out: dict[str, float] = {}
    model.eval()
    with torch.no_grad():
        for task in range(len(data.pairs)):
            mask = data.task_test == task
            logits = model(data.x_test[mask], task)
            out[f"acc_task{task}"] = float((logits.argmax(-1) == data.y_test[mask]).float().mean())
    out["acc"] = sum(out.values()) / len(out)
    return out
