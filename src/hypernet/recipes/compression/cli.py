"""``recipe: compression`` for ``hypernet train``: a static hypernetwork with 1/ratio of an MLP's weights (``examples/compression.yaml``).

The MLP (64 pixels -> hidden -> 10 classes) is trained on sklearn digits through
:func:`~hypernet.compress` (Adam, one-cycle schedule peaking at ``train.lr``). ``hypernet eval``
reports the test accuracy and the compression ratio; ``hypernet export`` writes the plain MLP.

Example:
    >>> from hypernet.cli.config import validate
    >>> cfg = validate({"recipe": "compression", "name": "doc", "ratio": 4})
    >>> model = CompressionRecipe().build_model(cfg)
    >>> trainable_parameters(model) <= trainable_parameters(mlp([64, 64, 10])) / 4
    True
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from torch import nn

from ..._nn import mlp
from ...cli.common import accuracy, digits, fit_options, no_cond
from ...cli.config import RunConfig
from ...cli.registry import Recipe, RunContext, register_recipe
from ...errors import ConfigError
from ...training.loop import FitResult
from ...training.rng import seed_everything
from .compress import compress, static_hypernet, trainable_parameters


class CompressionConfig(RunConfig):
    """Config of the ``compression`` recipe."""

    recipe: Literal["compression"] = "compression"
    hidden: list[int] = Field(default_factory=lambda: [64], description="hidden widths of the MLP to compress")
    ratio: float = Field(default=4.0, gt=0, description="target parameters / hypernetwork parameters")
    generator: str = "ha"
    generator_kwargs: dict[str, Any] = Field(default_factory=dict)


def _target(config: CompressionConfig) -> nn.Module:
    return mlp([64, *config.hidden, 10], kaiming=False)


@register_recipe("compression")
class CompressionRecipe(Recipe):
    """:func:`~hypernet.compress` on an MLP over sklearn digits."""

    config_class = CompressionConfig

    def build_model(self, config: CompressionConfig) -> nn.Module:
        return static_hypernet(_target(config), config.ratio, generator=config.generator, generator_kwargs=dict(config.generator_kwargs))

    def train(self, config: CompressionConfig, ctx: RunContext) -> FitResult:
        if config.train.optimizer != "adam" or config.train.weight_decay:
            raise ConfigError(
                f"expected train.optimizer 'adam' without weight_decay for the compression recipe (Adam, one-cycle schedule), "
                f"got {config.train.optimizer!r} with weight_decay={config.train.weight_decay}; set train.optimizer: adam, weight_decay: 0"
            )
        seed_everything(config.seed)
        x, y, _, _ = digits(config.seed)
        options = fit_options(config, ctx)
        t = config.train
        done = compress(
            _target(config),
            (x, y),
            config.ratio,
            generator=config.generator,
            generator_kwargs=dict(config.generator_kwargs),
            epochs=options.pop("epochs"),
            batch_size=t.batch_size,
            lr=t.lr,
            seed=config.seed,
            **options,
        )
        return done.fit

    def evaluate(self, config: CompressionConfig, model: nn.Module) -> dict[str, float]:
        _, _, x_test, y_test = digits(config.seed)
        test = accuracy(model, x_test, y_test, None)
        ratio = trainable_parameters(_target(config)) / trainable_parameters(model)
        return {"test_loss": test["loss"], "test_acc": test["acc"], "ratio": ratio}

    def parse_cond(self, config: CompressionConfig, text: str | None) -> None:
        no_cond(text, "compression")
