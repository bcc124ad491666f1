"""``recipe: instant`` for ``hypernet train``: meta-train an instant classifier on synthetic tabular tasks (``examples/instant.yaml``).

Training draws random classification tasks (:class:`SyntheticTabularTasks`); the model learns to
turn a labelled support set into a classifier in one forward pass. ``hypernet eval`` reports the
accuracy on held-out synthetic episodes and on sklearn digits (support: the digits training split,
never seen in training); ``hypernet export`` writes the classifier generated for that support set.

Example:
    >>> from hypernet.cli.config import validate
    >>> cfg = validate({"recipe": "instant", "name": "doc"})
    >>> InstantRecipe().build_model(cfg).max_classes
    10
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from ...cli.common import digits, no_cond
from ...cli.config import RunConfig, Section
from ...cli.registry import Recipe, RunContext, register_recipe
from ...errors import ConfigError
from ...training.errors import UsageError
from ...training.loop import FitResult
from ...training.rng import seed_everything
from .classifier import InstantClassifier
from .tasks import SyntheticTabularTasks


class InstantModel(Section):
    """``model:`` the instant classifier (no backbone: tabular features)."""

    max_classes: int = Field(default=10, ge=2)
    hidden: int = Field(default=32, ge=1)
    head: Literal["ridge", "prototype", "ridge_prototype"] = "ridge"
    width: int = Field(default=128, ge=1)


class TasksSection(Section):
    """``tasks:`` the synthetic training tasks: ranges of features, classes and support rows."""

    features: list[int] = Field(default_factory=lambda: [2, 64], min_length=2, max_length=2)
    classes: list[int] = Field(default_factory=lambda: [2, 10], min_length=2, max_length=2)
    support: list[int] = Field(default_factory=lambda: [30, 300], min_length=2, max_length=2)
    queries: int = Field(default=64, ge=1)


class InstantConfig(RunConfig):
    """Config of the ``instant`` recipe; ``train.max_steps`` is the number of episodes."""

    recipe: Literal["instant"] = "instant"
    model: InstantModel = Field(default_factory=InstantModel)
    tasks: TasksSection = Field(default_factory=TasksSection)
    eval_episodes: int = Field(default=20, ge=1)


def _tasks(config: InstantConfig) -> SyntheticTabularTasks:
    t = config.tasks
    pair = lambda v: (v[0], v[1])  # noqa: E731
    return SyntheticTabularTasks(features=pair(t.features), classes=pair(t.classes), support=pair(t.support), queries=t.queries)


@register_recipe("instant")
class InstantRecipe(Recipe):
    """An :class:`~hypernet.InstantClassifier` meta-trained on synthetic tabular tasks."""

    config_class = InstantConfig

    def build_model(self, config: InstantConfig) -> InstantClassifier:
        m = config.model
        return InstantClassifier(max_classes=m.max_classes, hidden=m.hidden, head=m.head, width=m.width)

    def train(self, config: InstantConfig, ctx: RunContext) -> FitResult:
        t = config.train
        if t.max_steps is None:
            raise ConfigError("expected train.max_steps (the number of training episodes) for the instant recipe, got none; add it")
        seed_everything(config.seed)
        model = self.build_model(config).to(ctx.dist.device)
        return model._meta_fit(
            _tasks(config),
            t.max_steps,
            lr=t.lr,
            weight_decay=t.weight_decay,
            seed=config.seed,
            progress=ctx.progress,
            run_dir=ctx.run_dir,
            resume=ctx.resume,
            checkpoint_every=t.checkpoint_every,
            keep_last=t.keep_last,
            log_every=t.log_every,
            grad_clip=t.grad_clip,
            config=config.model_dump(mode="json"),
        )

    def evaluate(self, config: InstantConfig, model: nn.Module) -> dict[str, float]:
        if not isinstance(model, InstantClassifier):
            raise UsageError(f"expected an InstantClassifier, got {type(model).__name__}; pass the run directory of an instant run")
        tasks, g = _tasks(config), torch.Generator().manual_seed(config.seed + 1)
        correct = []
        with torch.no_grad():
            for _ in range(config.eval_episodes):
                ep = tasks(g)
                logits = model.classify(ep.x_support, ep.y_support, ep.x_query)
                correct.append(float((logits.argmax(1) == ep.y_query).float().mean()))
        x, y, x_test, y_test = digits(config.seed)
        return {"episode_acc": sum(correct) / len(correct), "digits_acc": float(model.fit(x, y).score(x_test, y_test))}

    def parse_cond(self, config: InstantConfig, text: str | None) -> None:
        no_cond(text, "instant (the support set is the digits training split)")

    def materialize(self, config: InstantConfig, model: nn.Module, cond: object) -> nn.Module:
        if not isinstance(model, InstantClassifier):
            raise UsageError(f"expected an InstantClassifier, got {type(model).__name__}; pass the run directory of an instant run")
        x, y, _, _ = digits(config.seed)
        return model.fit(x, y).materialize()
