"""Recipes: the ready-made uses of hypernetworks, one subpackage each (re-exported lazily at top level).

Each recipe is a subpackage with the same inner shape: the public class in a file named after
it, its private parts beside it, helpers shared by several recipes in ``_common.py``, and a
``cli.py`` registering it with the ``hypernet`` command (see :mod:`hypernet.cli.registry`).
Subpackages are imported on first use, so ``import hypernet.recipes`` loads no scikit-learn.

Example:
    >>> import hypernet.recipes as recipes
    >>> recipes.ContinualLearner.__name__
    'ContinualLearner'
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .continual import ContinualLearner, TaskPrediction
    from .hypertab import HyperTabClassifier

SUBPACKAGES = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg))
"""Every recipe subpackage, found on disk (a new recipe needs no entry here)."""
_NAMES = {"ContinualLearner": "continual", "TaskPrediction": "continual", "HyperTabClassifier": "hypertab"}


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        value = getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    elif name in SUBPACKAGES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = ["ContinualLearner", "HyperTabClassifier", "TaskPrediction"]
