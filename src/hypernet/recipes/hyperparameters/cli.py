"""``recipe: sweep`` for ``hypernet train``: one model over a range of L2 strengths on sklearn digits (``examples/sweep.yaml``).

The :class:`~hypernet.HyperparameterSweep` trains with the data loss (cross-entropy) plus the
sampled weight decay; ``hypernet eval`` computes the validation curve over ``eval.points``
values, picks the best value on the validation split and reports the test accuracy there;
``hypernet export --cond 0.001`` writes the plain weights at that value.

Example:
    >>> from hypernet.cli.config import validate
    >>> cfg = validate({"recipe": "sweep", "name": "doc"})
    >>> type(SweepRecipe().build_model(cfg)).__name__
    'HyperparameterSweep'
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import nn
from torch.utils.data import TensorDataset

from ..._nn import mlp
from ...cli.common import accuracy, digits, fit_options, parse_float_cond
from ...cli.config import RunConfig, Section
from ...cli.optim import make_optimizer
from ...cli.registry import Recipe, RunContext, register_recipe
from ...training.distributed import make_loader
from ...training.loop import FitResult
from ...training.rng import seed_everything
from .ranges import LogUniform, Uniform
from .sweep import HyperparameterSweep


class RangeSection(Section):
    """One hyperparameter's range."""

    low: float = Field(gt=0)
    high: float = Field(gt=0)
    log: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> RangeSection:
        if self.low >= self.high:
            raise ValueError(f"expected low < high, got low={self.low}, high={self.high}; swap them, or widen the range")
        return self


class SweepModel(Section):
    """``model:`` the sweep and its MLP target (64 pixels -> hidden -> 10 classes)."""

    hidden: list[int] = Field(default_factory=lambda: [32])
    embedding_dim: int = Field(default=16, ge=1)
    per_batch: int = Field(default=4, ge=1, description="distinct hyperparameter values per batch")
    generator: str | None = Field(default=None, description="a registered generator, or null for the gated generator")


class SweepConfig(RunConfig):
    """Config of the ``sweep`` recipe."""

    recipe: Literal["sweep"] = "sweep"
    model: SweepModel = Field(default_factory=SweepModel)
    l2: RangeSection = Field(default_factory=lambda: RangeSection(low=1e-5, high=1e-1), description="the L2 strength's range")
    eval_points: int = Field(default=9, ge=2, description="points of the validation curve")


def _loss(out: torch.Tensor, y: torch.Tensor, hp: dict[str, torch.Tensor]) -> torch.Tensor:
    return nn.functional.cross_entropy(out, y, reduction="none")


def _data(config: SweepConfig) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Train / validation / test splits of digits (validation: a quarter of the training split)."""
    x, y, x_test, y_test = digits(config.seed)
    n_val = len(y) // 4
    return {"train": (x[n_val:], y[n_val:]), "val": (x[:n_val], y[:n_val]), "test": (x_test, y_test)}


@register_recipe("sweep")
class SweepRecipe(Recipe):
    """A :class:`~hypernet.HyperparameterSweep` over the L2 strength of an MLP on digits."""

    config_class = SweepConfig

    def build_model(self, config: SweepConfig) -> HyperparameterSweep:
        m = config.model
        space = {"l2": (LogUniform if config.l2.log else Uniform)(config.l2.low, config.l2.high)}
        return HyperparameterSweep(
            mlp([64, *m.hidden, 10], kaiming=False),
            _loss,
            space,
            weight_decay="l2",
            generator=m.generator,
            embedding_dim=m.embedding_dim,
            per_batch=m.per_batch,
        )

    def train(self, config: SweepConfig, ctx: RunContext) -> FitResult:
        seed_everything(config.seed)
        data = _data(config)
        sweep = self.build_model(config).to(ctx.dist.device)
        loader = make_loader(TensorDataset(*data["train"]), config.train.batch_size, seed=config.seed)
        return sweep.fit(loader, optimizer=make_optimizer(sweep.parameters(), config.train), **fit_options(config, ctx))

    def evaluate(self, config: SweepConfig, model: nn.Module) -> dict[str, float]:
        assert isinstance(model, HyperparameterSweep)
        data = _data(config)
        model.curve(config.eval_points, [data["val"]])
        best = model.best()["l2"]
        net = model.materialize(best)
        test = accuracy(net, *data["test"])
        curve = model.curve_
        assert curve is not None
        return {"best_l2": best, "val_loss_at_best": min(curve.metrics["loss"]), "test_loss": test["loss"], "test_acc": test["acc"]}

    def parse_cond(self, config: SweepConfig, text: str | None) -> Any:
        return parse_float_cond(text, f"an L2 strength in [{config.l2.low}, {config.l2.high}]")
