"""``recipe: architecture`` for ``hypernet train``: a SMASH-style search over MLPs on sklearn digits (``examples/architecture.yaml``).

``hypernet eval`` ranks ``eval.candidates`` sampled architectures on the validation split with
generated weights only and reports the best one's test accuracy; ``hypernet export --cond
"32(relu)-16(tanh)"`` writes the plain weights of that architecture (the format of ``str(arch)``).

Example:
    >>> from hypernet.cli.config import validate
    >>> cfg = validate({"recipe": "architecture", "name": "doc"})
    >>> ArchitectureRecipe().parse_cond(cfg, "32(relu)-16(tanh)").widths
    (32, 16)
"""

from __future__ import annotations

import re
from typing import Literal

import torch
from pydantic import Field
from torch import nn
from torch.utils.data import TensorDataset

from ...cli.common import accuracy, digits, fit_options
from ...cli.config import RunConfig, Section
from ...cli.optim import make_optimizer
from ...cli.registry import Recipe, RunContext, register_recipe
from ...training.distributed import make_loader
from ...training.errors import UsageError
from ...training.loop import FitResult
from ...training.rng import seed_everything
from .search import ArchitectureSearch
from .space import ACTIVATIONS, Architecture, MLPSpace


class SpaceSection(Section):
    """``space:`` the MLPs searched (64 pixels -> hidden layers -> 10 classes)."""

    depths: list[int] = Field(default_factory=lambda: [1, 2])
    widths: list[int] = Field(default_factory=lambda: [16, 32, 64])
    activations: list[str] = Field(default_factory=lambda: ["relu", "tanh"], description=f"among {sorted(ACTIVATIONS)}")


class ArchitectureConfig(RunConfig):
    """Config of the ``architecture`` recipe."""

    recipe: Literal["architecture"] = "architecture"
    space: SpaceSection = Field(default_factory=SpaceSection)
    embedding_dim: int = Field(default=32, ge=1)
    candidates: int = Field(default=8, ge=1, description="architectures ranked by `hypernet eval`")


def _space(config: ArchitectureConfig) -> MLPSpace:
    s = config.space
    return MLPSpace(64, 10, depths=tuple(s.depths), widths=tuple(s.widths), activations=tuple(s.activations))


def _data(config: ArchitectureConfig) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    x, y, x_test, y_test = digits(config.seed)
    n_val = len(y) // 4
    return {"train": (x[n_val:], y[n_val:]), "val": (x[:n_val], y[:n_val]), "test": (x_test, y_test)}


@register_recipe("architecture")
class ArchitectureRecipe(Recipe):
    """An :class:`~hypernet.ArchitectureSearch` over a small space of MLPs."""

    config_class = ArchitectureConfig

    def build_model(self, config: ArchitectureConfig) -> ArchitectureSearch:
        return ArchitectureSearch(_space(config), embedding_dim=config.embedding_dim)

    def train(self, config: ArchitectureConfig, ctx: RunContext) -> FitResult:
        seed_everything(config.seed)
        data = _data(config)
        search = self.build_model(config).to(ctx.dist.device)
        loader = make_loader(TensorDataset(*data["train"]), config.train.batch_size, seed=config.seed)
        return search.fit(loader, optimizer=make_optimizer(search.parameters(), config.train), **fit_options(config, ctx))

    def evaluate(self, config: ArchitectureConfig, model: nn.Module) -> dict[str, float]:
        if not isinstance(model, ArchitectureSearch):
            raise UsageError(f"expected an ArchitectureSearch, got {type(model).__name__}; pass the run directory of an architecture run")
        data = _data(config)
        candidates = model.sample(min(config.candidates, model.space.num_architectures), seed=config.seed)
        ranking = model.rank(candidates, [data["val"]])
        best = ranking[0].arch
        test = accuracy(model.materialize(best), *data["test"])
        return {
            "best_val_acc": ranking[0].score,
            "worst_val_acc": ranking[-1].score,
            "best_test_acc": test["acc"],
            "best_depth": float(best.depth),
        }

    def parse_cond(self, config: ArchitectureConfig, text: str | None) -> Architecture:
        layers = re.findall(r"(\d+)\((\w+)\)", text or "")
        if not layers or "-".join(f"{w}({a})" for w, a in layers) != (text or "").strip():
            raise UsageError(
                f"expected --cond to be an architecture (width(activation) per layer), got {text!r}; pass e.g. --cond '32(relu)-16(tanh)'"
            )
        arch = Architecture(tuple(int(w) for w, _ in layers), tuple(a for _, a in layers))
        return _space(config).validate(arch)
