"""``recipe: hypertab`` for ``hypernet train``: a HyperTab ensemble on a scikit-learn table (``examples/hypertab.yaml``).

The :class:`~hypernet.HyperTabClassifier` is fitted on a stratified training split; its model,
masks and standardisation are checkpointed together (one checkpoint, written when fitting ends;
``--resume`` of a finished run does nothing). ``hypernet eval`` reports the test accuracy;
``hypernet export --cond J`` writes the plain MLP of ensemble member ``J`` (it reads the
columns ``masks[J]`` of the standardised table).

Example:
    >>> from hypernet.cli.config import validate
    >>> cfg = validate({"recipe": "hypertab", "name": "doc", "n_members": 4})
    >>> HyperTabRecipe().build_model(cfg).masks.shape
    torch.Size([4, 30])
"""

from __future__ import annotations

import time
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from ..._model import HyperModel
from ...cli.common import parse_int_cond
from ...cli.config import RunConfig
from ...cli.registry import Recipe, RunContext, register_recipe
from ...errors import ConfigError
from ...training.checkpoint import latest_checkpoint, save_checkpoint
from ...training.errors import UsageError
from ...training.loop import FitResult
from .classifier import HyperTabClassifier
from .validation import subset_size

# rows x features x classes of the bundled tables (what build_model needs before seeing data)
TABLES = {"wdbc": (30, 2), "wine": (13, 3), "iris": (4, 3), "digits": (64, 10)}


class HyperTabConfig(RunConfig):
    """Config of the ``hypertab`` recipe: a table bundled with scikit-learn and the estimator's arguments."""

    recipe: Literal["hypertab"] = "hypertab"
    table: Literal["wdbc", "wine", "iris", "digits"] = "wdbc"
    test_fraction: float = Field(default=0.25, gt=0, lt=1)
    n_members: int = Field(default=16, ge=1)
    subset_size: float | None = Field(default=None, gt=0)
    hidden: list[int] = Field(default_factory=lambda: [32])
    masks_per_step: int | None = Field(default=None, ge=1)


class FittedHyperTab(nn.Module):
    """What a fitted :class:`~hypernet.HyperTabClassifier` is made of, as one module (so it checkpoints like any model)."""

    mean: torch.Tensor
    scale: torch.Tensor
    masks: torch.Tensor

    def __init__(self, model: HyperModel, n_features: int, n_members: int) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(n_features, dtype=torch.float64))
        self.register_buffer("masks", torch.zeros(n_members, n_features))

    def estimator(self, params: dict[str, Any], n_classes: int) -> HyperTabClassifier:
        """A fitted estimator holding these weights, masks and standardisation."""
        est = HyperTabClassifier(**params)
        masks = self.masks.cpu().numpy().astype(bool)
        est.classes_ = np.arange(n_classes)
        est.n_features_in_ = masks.shape[1]
        est.mean_, est.scale_ = self.mean.cpu().numpy(), self.scale.cpu().numpy()
        est.masks_ = masks
        est.subsets_ = np.stack([np.flatnonzero(m) for m in masks])
        est._masks_t, est._subsets_t = torch.as_tensor(masks), torch.as_tensor(est.subsets_)
        est.model_ = self.model.eval()
        return est


def _params(config: HyperTabConfig) -> dict[str, Any]:
    t = config.train
    if t.optimizer == "sgd":
        raise ConfigError(
            "expected train.optimizer 'adamw' (or 'adam') for the hypertab recipe (AdamW, cosine schedule), got 'sgd'; "
            "set train.optimizer: adamw"
        )
    subset = config.subset_size
    return {
        "n_members": config.n_members,
        "subset_size": int(subset) if subset is not None and subset >= 1 else subset,
        "hidden": tuple(config.hidden),
        "epochs": t.epochs,
        "lr": t.lr,
        "batch_size": t.batch_size,
        "weight_decay": t.weight_decay,
        "masks_per_step": config.masks_per_step,
        "random_state": config.seed,
        "n_jobs": None,
    }


def _data(config: HyperTabConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    from ...data.tabular import load_tabular

    data = load_tabular(config.table)
    y = np.unique(data.y, return_inverse=True)[1]
    X = data.X.to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(X, y, test_size=config.test_fraction, random_state=config.seed, stratify=y)
    return x_train, y_train, x_test, y_test


@register_recipe("hypertab")
class HyperTabRecipe(Recipe):
    """A :class:`~hypernet.HyperTabClassifier` on a table bundled with scikit-learn."""

    config_class = HyperTabConfig

    def build_model(self, config: HyperTabConfig) -> FittedHyperTab:
        n_features, n_classes = TABLES[config.table]
        est = HyperTabClassifier(**_params(config))
        k = subset_size(est.subset_size, n_features)
        return FittedHyperTab(est._build(n_features, n_classes, k), n_features, config.n_members)

    def train(self, config: HyperTabConfig, ctx: RunContext) -> FitResult:
        started = time.perf_counter()
        directory = ctx.run_dir / "checkpoints"
        done = latest_checkpoint(directory) if ctx.resume else None
        if done is not None:  # fitting is one call: a checkpoint means the run is complete
            return FitResult(done.step, config.train.epochs, [], {}, time.perf_counter() - started, ctx.run_dir, done.path, done.step)
        x_train, y_train, x_test, y_test = _data(config)
        est = HyperTabClassifier(**_params(config), verbose=int(bool(ctx.progress))).fit(x_train, y_train)
        module = self.build_model(config)
        module.model.load_state_dict(est.model_.state_dict())
        module.mean.copy_(torch.as_tensor(est.mean_))
        module.scale.copy_(torch.as_tensor(est.scale_))
        module.masks.copy_(torch.as_tensor(est.masks_))
        path = save_checkpoint(directory, step=est.n_steps_, epoch=est.n_iter_, model=module, config=config.model_dump(mode="json"))
        metrics = {"train/loss": est.loss_curve_[-1], "eval/acc": float(est.score(x_test, y_test))}
        return FitResult(est.n_steps_, est.n_iter_, list(est.loss_curve_), metrics, time.perf_counter() - started, ctx.run_dir, path)

    def evaluate(self, config: HyperTabConfig, model: nn.Module) -> dict[str, float]:
        if not isinstance(model, FittedHyperTab):
            raise UsageError(f"expected a fitted HyperTab model, got {type(model).__name__}; pass the run directory of a hypertab run")
        _, _, x_test, y_test = _data(config)
        est = model.estimator(_params(config), TABLES[config.table][1])
        return {"test_acc": float(est.score(x_test, y_test))}

    def parse_cond(self, config: HyperTabConfig, text: str | None) -> int:
        return parse_int_cond(text, config.n_members, "an ensemble member")

    def materialize(self, config: HyperTabConfig, model: nn.Module, cond: Any) -> nn.Module:
        if not isinstance(model, FittedHyperTab):
            raise UsageError(f"expected a fitted HyperTab model, got {type(model).__name__}; pass the run directory of a hypertab run")
        return model.model.materialize(model.masks[cond])
