"""Offline data loaders (``hypernet data fetch`` gets what is not bundled)."""

from .digits import DigitsTasks, load_digits_tasks, pair_tasks
from .errors import DataError
from .mnist import MNIST, fetch_mnist, load_mnist, mnist_tasks
from .split_mnist import TaskSequence, permuted_mnist, split_mnist
from .tabular import TabularData, fetch_mlbench, list_tabular, load_tabular

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
