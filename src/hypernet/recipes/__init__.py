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

import pkgutil
from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .continual import ContinualLearner, TaskPrediction
    from .hypertab import HyperTabClassifier

SUBPACKAGES = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg))
"""Every recipe subpackage, found on disk (a new recipe needs no entry here)."""
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {"ContinualLearner": ".continual", "TaskPrediction": ".continual", "HyperTabClassifier": ".hypertab"},
    globals(),
    SUBPACKAGES,
)

__all__ = ["ContinualLearner", "HyperTabClassifier", "TaskPrediction"]
