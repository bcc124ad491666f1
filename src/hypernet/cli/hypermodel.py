"""The built-in ``hypermodel`` recipe: a :class:`~hypernet.HyperModel` over an MLP on digit-pair tasks.

Each task is a pair of digits (``data.pairs``) and a 2-way classification; batches mix
tasks, so a task-conditioned model (``model.condition: embedding``) gets per-sample
weights. ``examples/tiny.yaml`` is a small config of it.

Example:
    >>> from hypernet.cli.config import validate
    >>> cfg = validate({"recipe": "hypermodel", "name": "doc", "model": {"generator": "mlp"}})
    >>> model = HyperModelRecipe().build_model(cfg)
    >>> type(model).__name__, model.generator.name
    ('HyperModel', 'mlp')
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

import torch
from pydantic import Field, field_validator
from torch import nn
from torch.utils.data import TensorDataset

from .._model import HyperModel
from .._modes import eval_mode
from .._nn import mlp
from ..conditions import Embedding, Static
from ..data.digits import PAIRS, DigitsTasks
from ..errors import ConfigError, HypernetError
from ..generators import list_generators
from ..training.distributed import make_loader
from ..training.errors import UsageError
from ..training.loop import FitResult, fit
from ..training.rng import seed_everything
from .common import fit_options
from .config import ExistingFile, RunConfig, Section
from .optim import make_optimizer
from .registry import Recipe, RunContext, register_recipe


class ModelSection(Section):
    """``model:`` the hypernetwork and its MLP target."""

    condition: Literal["embedding", "static"] = Field(
        default="embedding", description="embedding: one weight set per task; static: one for all"
    )
    condition_dim: int = Field(default=8, ge=1, le=4096)
    generator: str = "chunked"
    generator_kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the generator (small numbers)")
    init: Literal["hyperfan", "hyperfan_out", "mip", "default"] = "hyperfan"
    parametrization: Literal["direct", "residual"] | None = None
    hidden: list[int] = Field(default_factory=lambda: [64], max_length=32, description="hidden widths of the target MLP")

    @field_validator("generator")
    @classmethod
    def _known_generator(cls, value: str) -> str:
        if value not in list_generators():
            raise ValueError(f"expected a registered generator: one of {', '.join(list_generators())}, got {value!r}; use one of them")
        return value

    @field_validator("hidden")
    @classmethod
    def _positive_widths(cls, value: list[int]) -> list[int]:
        if any(not 1 <= w <= MAX_WIDTH for w in value):
            raise ValueError(f"expected hidden widths 1..{MAX_WIDTH}, got {value}; pass widths in that range")
        return value

    @field_validator("generator_kwargs")
    @classmethod
    def _small_kwargs(cls, value: dict[str, Any]) -> dict[str, Any]:
        def check(item: Any, where: str) -> None:
            if isinstance(item, bool) or item is None:
                return
            if isinstance(item, (int, float)):
                if not (math.isfinite(item) and abs(item) <= MAX_WIDTH):
                    raise ValueError(
                        f"expected numbers within ±{MAX_WIDTH} in generator_kwargs, got {where} = {item}; pass a smaller number"
                    )
            elif isinstance(item, str):
                if len(item) > 100:
                    raise ValueError(f"expected short strings in generator_kwargs, got {where} of {len(item)} characters; pass at most 100")
            elif isinstance(item, list) and len(item) <= 32:
                for i, v in enumerate(item):
                    check(v, f"{where}[{i}]")
            else:
                raise ValueError(
                    f"expected numbers, strings or short lists in generator_kwargs, got {where} = {str(item)[:40]}; pass one of those"
                )

        for key, item in value.items():
            check(item, key)
        return value


MAX_WIDTH = 16384
"""Largest hidden width, condition size and generator_kwargs number."""


class DataSection(Section):
    """``data:`` which digits, split into which pairs."""

    name: Literal["digits", "mnist"] = "digits"
    path: ExistingFile | None = Field(default=None, description="mnist only: your mnist.pkl.gz (default: the fetched copy)")
    pairs: list[list[int]] = Field(default_factory=lambda: [list(p) for p in PAIRS], max_length=5)
    test_fraction: float = Field(default=0.25, gt=0, lt=1, description="digits only")
    limit: int | None = Field(default=None, ge=1, le=10**7, description="mnist only: keep the first N training samples")

    @field_validator("pairs")
    @classmethod
    def _valid_pairs(cls, value: list[list[int]]) -> list[list[int]]:
        flat = [d for p in value for d in p]
        if not value or any(len(p) != 2 for p in value) or any(not 0 <= d <= 9 for d in flat) or len(set(flat)) != len(flat):
            raise ValueError(f"expected pairs of distinct digits 0-9, got {value}; pass e.g. [[0, 1], [2, 3]]")
        return value


class HyperModelConfig(RunConfig):
    """Config of the ``hypermodel`` recipe."""

    recipe: Literal["hypermodel"] = "hypermodel"
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection = Field(default_factory=DataSection)


def _load_data(cfg: HyperModelConfig) -> DigitsTasks:
    pairs = tuple((a, b) for a, b in cfg.data.pairs)
    if cfg.data.name == "mnist":
        from ..data.mnist import mnist_tasks

        return mnist_tasks(cfg.data.path, pairs, cfg.data.limit)
    from ..data.digits import load_digits_tasks

    return load_digits_tasks(cfg.data.test_fraction, seed=cfg.seed, pairs=pairs)


def classification_step(conditioned: bool) -> Any:
    """The step function: cross-entropy and accuracy of a batch ``(x, task, y)``, per-sample conditions if ``conditioned``."""

    def step(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, task, y = batch
        logits = model(x, task if conditioned else None)
        return nn.functional.cross_entropy(logits, y), {"acc": (logits.argmax(1) == y).float().mean()}

    return step


@register_recipe("hypermodel")
class HyperModelRecipe(Recipe):
    """A HyperModel over an MLP, trained jointly on all digit-pair tasks."""

    config_class = HyperModelConfig

    def build_model(self, config: HyperModelConfig) -> HyperModel:
        m = config.model
        target = mlp([784 if config.data.name == "mnist" else 64, *m.hidden, 2], kaiming=False)
        condition = (
            Embedding(num=len(config.data.pairs), dim=m.condition_dim) if m.condition == "embedding" else Static(dim=m.condition_dim)
        )
        try:
            return HyperModel(
                target,
                condition=condition,
                generator=m.generator,
                init=m.init,
                parametrization=m.parametrization,
                generator_kwargs=dict(m.generator_kwargs),
            )
        except HypernetError as exc:
            key = "model.generator_kwargs" if m.generator_kwargs and "argument" in str(exc) else "model"
            raise ConfigError(f"invalid config: key '{key}': {exc}") from None
        except (TypeError, ValueError, RuntimeError) as exc:  # e.g. an argument the generator does not take
            raise ConfigError(
                f"invalid config: key 'model.generator_kwargs': expected arguments the generator takes, "
                f"got {' '.join(str(exc).split())[:200]}; remove or rename them"
            ) from None

    def train(self, config: HyperModelConfig, ctx: RunContext) -> FitResult:
        seed_everything(config.seed)
        data = _load_data(config)
        model = self.build_model(config).to(ctx.dist.device)
        t = config.train
        loader = make_loader(TensorDataset(data.x_train, data.task_train, data.y_train), t.batch_size, seed=config.seed)
        return fit(
            model,
            classification_step(config.model.condition == "embedding"),
            loader,
            make_optimizer(model.parameters(), t),
            evaluate=lambda m: _evaluate(config, m, data),
            **fit_options(config, ctx, summary={"name": config.name, "recipe": config.recipe, "compression": round(model.compression, 6)}),
        )

    def evaluate(self, config: HyperModelConfig, model: nn.Module) -> dict[str, float]:
        return _evaluate(config, model, _load_data(config))

    def parse_cond(self, config: HyperModelConfig, text: str | None) -> int | None:
        n = len(config.data.pairs)
        if config.model.condition == "static":
            if text not in (None, "", "none"):
                raise UsageError(f"expected no --cond for a static hypernetwork (one weight set), got {text!r}; leave --cond out")
            return None
        if text is None or not re.fullmatch(r"\s*[0-9]{1,6}\s*", text) or not 0 <= int(text) < n:
            raise UsageError(f"expected --cond to be a task id 0..{n - 1} (pairs {config.data.pairs}), got {text!r}; pass e.g. --cond 0")
        return int(text)


def _evaluate(config: HyperModelConfig, model: nn.Module, data: DigitsTasks) -> dict[str, float]:
    """Test loss, accuracy, and accuracy per task (``acc_task<i>``)."""
    device = next(model.parameters()).device
    x, task, y = data.x_test.to(device), data.task_test.to(device), data.y_test.to(device)
    with eval_mode(model), torch.no_grad():
        logits = model(x, task if config.model.condition == "embedding" else None)
        correct = (logits.argmax(1) == y).float()
        out = {"loss": float(nn.functional.cross_entropy(logits, y)), "acc": float(correct.mean())}
        for t in range(len(data.pairs)):
            out[f"acc_task{t}"] = float(correct[task == t].mean())
    return out
