"""Validation metrics of a sweep across hyperparameter values: :class:`Curve`.

Example:
    >>> curve = Curve([{"l2": 1e-4}, {"l2": 1e-3}, {"l2": 1e-2}], {"loss": [0.5, 0.3, 0.4], "acc": [0.8, 0.9, 0.85]})
    >>> curve.best(), curve.best("acc", mode="max")
    ({'l2': 0.001}, {'l2': 0.001})
    >>> curve.to_numpy().shape, curve.columns
    ((3, 3), ['l2', 'loss', 'acc'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..._boundary import guarded
from ...errors import ConfigError

__all__ = ["Curve"]


@guarded()
class Curve:
    """Metrics (one array each) at a list of hyperparameter points.

    Attributes:
        points: the hyperparameter values, one dict per point.
        metrics: ``{metric name: (n_points,) array}``.
    """

    def __init__(self, points: Sequence[Mapping[str, float]], metrics: Mapping[str, Sequence[float] | np.ndarray]) -> None:
        self.points = [dict(p) for p in points]
        self.metrics = {k: np.asarray(v, dtype=np.float64) for k, v in metrics.items()}
        for name, values in self.metrics.items():
            if values.shape != (len(self.points),):
                raise ConfigError(
                    f"expected metric {name!r} to have one value per point ({len(self.points)}), got shape {values.shape}; "
                    "pass one value per point"
                )

    def __len__(self) -> int:
        return len(self.points)

    def __repr__(self) -> str:
        return f"Curve({len(self)} points, metrics={sorted(self.metrics)})"

    @property
    def names(self) -> list[str]:
        """Hyperparameter names."""
        return list(self.points[0]) if self.points else []

    @property
    def columns(self) -> list[str]:
        """Hyperparameter names, then metric names: the columns of :meth:`to_numpy` / :meth:`to_pandas`."""
        return self.names + list(self.metrics)

    def values(self, name: str | None = None) -> np.ndarray:
        """The values of hyperparameter ``name`` (the only one by default) at every point."""
        if name is None:
            if len(self.names) != 1:
                raise ConfigError(f"expected a hyperparameter name (one of {self.names}), got None; pass one of them")
            name = self.names[0]
        if name not in self.names:
            raise ConfigError(f"expected a hyperparameter name in {self.names}, got {name!r}; pass one of them")
        return np.array([p[name] for p in self.points], dtype=np.float64)

    def best(self, metric: str | None = None, mode: str = "min") -> dict[str, float]:
        """The point with the lowest (``mode="min"``) or highest (``"max"``) value of ``metric`` (default: the first metric)."""
        if mode not in ("min", "max"):
            raise ConfigError(f"expected mode 'min' or 'max', got {mode!r}; pass one of them")
        metric = metric if metric is not None else next(iter(self.metrics), None)
        if metric not in self.metrics:
            raise ConfigError(f"expected a metric in {sorted(self.metrics)}, got {metric!r}; pass one of them")
        values = self.metrics[metric]
        finite = np.where(np.isfinite(values), values, np.inf if mode == "min" else -np.inf)
        index = int(np.argmin(finite) if mode == "min" else np.argmax(finite))
        return dict(self.points[index])

    def to_numpy(self) -> np.ndarray:
        """``(n_points, n_hyperparameters + n_metrics)`` array in the order of :attr:`columns`."""
        hp = np.array([[p[n] for n in self.names] for p in self.points], dtype=np.float64).reshape(len(self), len(self.names))
        ms = np.stack([self.metrics[m] for m in self.metrics], axis=1) if self.metrics else np.zeros((len(self), 0))
        return np.concatenate([hp, ms], axis=1)

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame`` with :attr:`columns` (needs pandas installed)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigError(
                "expected pandas to be installed for Curve.to_pandas(), got ImportError; pip install pandas, or use to_numpy()"
            ) from exc
        return pd.DataFrame(self.to_numpy(), columns=self.columns)
