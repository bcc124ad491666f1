"""Offline data loaders; ``hypernet data fetch`` (:mod:`hypernet.cli.fetch`) gets what is not bundled.

The loaders only read files: nothing here runs ``pip`` or ``apt-get``. ``fetch_mnist`` and
``fetch_mlbench`` are re-exported lazily from the command line's fetchers.
"""

from typing import Any

from .digits import DigitsTasks, load_digits_tasks, pair_tasks
from .errors import DataError
from .mnist import MNIST, load_mnist, mnist_tasks
from .split_mnist import TaskSequence, permuted_mnist, split_mnist
from .tabular import TabularData, list_tabular, load_tabular

__all__ = [
    "MNIST",
    "DataError",
    "DigitsTasks",
    "TabularData",
    "TaskSequence",
    "fetch_mlbench",
    "fetch_mnist",
    "list_tabular",
    "load_digits_tasks",
    "load_mnist",
    "load_tabular",
    "mnist_tasks",
    "pair_tasks",
    "permuted_mnist",
    "split_mnist",
]


_FETCHERS = {"fetch_mnist": "mnist", "fetch_mlbench": "mlbench"}


def __getattr__(name: str) -> Any:
    if name in _FETCHERS:
        import importlib

        return getattr(importlib.import_module(f"hypernet.cli.fetch.{_FETCHERS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
