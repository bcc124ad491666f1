"""``recipe: uncertainty`` for ``hypernet train``: a noise-conditioned hypernetwork on sklearn digits (``examples/uncertainty.yaml``).

Each step trains ``samples`` weight draws with :class:`~hypernet.NoiseStep`. ``hypernet eval``
reports the test accuracy, negative log-likelihood and calibration error of the mean prediction
over ``eval_samples`` draws (fixed by the seed); ``hypernet export --cond SEED`` writes the plain
weights of the draw taken with that seed.

Example:
    >>> from hypernet.cli.config import validate
    >>> cfg = validate({"recipe": "uncertainty", "name": "doc"})
    >>> type(UncertaintyRecipe().build_model(cfg).condition).__name__
    'Noise'
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn
from torch.utils.data import TensorDataset

from ..._model import HyperModel
from ..._nn import mlp
from ...cli.common import digits, fit_options
from ...cli.config import RunConfig, Section
from ...cli.optim import make_optimizer
from ...cli.registry import Recipe, RunContext, register_recipe
from ...conditions import Noise
from ...training.distributed import make_loader
from ...training.errors import UsageError
from ...training.loop import FitResult, fit
from ...training.rng import seed_everything
from .metrics import expected_calibration_error, negative_log_likelihood
from .predictive import NoiseStep, predictive


class UncertaintyModel(Section):
    """``model:`` the noise hypernetwork and its MLP target (64 pixels -> hidden -> 10 classes)."""

    hidden: list[int] = Field(default_factory=lambda: [32])
    noise_dim: int = Field(default=8, ge=1)
    generator: str = "mlp"
    generator_kwargs: dict[str, Any] = Field(default_factory=dict)


class StepSection(Section):
    """``step:`` the :class:`~hypernet.NoiseStep` arguments."""

    samples: int = Field(default=4, ge=1)
    diversity: Literal["entropy", "pairwise"] = "entropy"
    diversity_weight: float = Field(default=0.0, ge=0)
    likelihood: Literal["mean", "mixture"] = "mean"


class UncertaintyConfig(RunConfig):
    """Config of the ``uncertainty`` recipe."""

    recipe: Literal["uncertainty"] = "uncertainty"
    model: UncertaintyModel = Field(default_factory=UncertaintyModel)
    step: StepSection = Field(default_factory=StepSection)
    eval_samples: int = Field(default=16, ge=1)


@register_recipe("uncertainty")
class UncertaintyRecipe(Recipe):
    """A :class:`~hypernet.HyperModel` with a :class:`~hypernet.Noise` condition, trained with :class:`~hypernet.NoiseStep`."""

    config_class = UncertaintyConfig

    def build_model(self, config: UncertaintyConfig) -> HyperModel:
        m = config.model
        target = mlp([64, *m.hidden, 10], kaiming=False)
        return HyperModel(target, condition=Noise(m.noise_dim), generator=m.generator, generator_kwargs=dict(m.generator_kwargs))

    def train(self, config: UncertaintyConfig, ctx: RunContext) -> FitResult:
        seed_everything(config.seed)
        x, y, _, _ = digits(config.seed)
        model = self.build_model(config).to(ctx.dist.device)
        s = config.step
        step = NoiseStep(s.samples, s.diversity, s.diversity_weight, s.likelihood)
        loader = make_loader(TensorDataset(x, y), config.train.batch_size, seed=config.seed)
        return fit(model, step, loader, make_optimizer(model.parameters(), config.train), **fit_options(config, ctx))

    def evaluate(self, config: UncertaintyConfig, model: nn.Module) -> dict[str, float]:
        _, _, x_test, y_test = digits(config.seed)
        draws = torch.randn(config.eval_samples, config.model.noise_dim, generator=torch.Generator().manual_seed(config.seed))
        pred = predictive(model, x_test, draws=draws)
        probs = pred.probs
        return {
            "test_acc": float((probs.argmax(-1) == y_test).float().mean()),
            "test_nll": negative_log_likelihood(probs, y_test),
            "test_ece": expected_calibration_error(probs, y_test),
            "mutual_information": float(pred.mutual_information.mean()),
        }

    def parse_cond(self, config: UncertaintyConfig, text: str | None) -> int:
        if text is None or not text.strip().isdigit():
            raise UsageError(
                f"expected --cond to be a seed (a non-negative int) choosing one weight draw, got {text!r}; pass e.g. --cond 0"
            )
        return int(text)

    def materialize(self, config: UncertaintyConfig, model: nn.Module, cond: Any) -> nn.Module:
        if not isinstance(model, HyperModel):
            raise UsageError(f"expected a HyperModel, got {type(model).__name__}; pass the run directory of an uncertainty run")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cond)
            return model.materialize(None)  # one draw z ~ N(0, I), fixed by the seed
