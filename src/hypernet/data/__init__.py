"""Offline data loaders (``hypernet data fetch`` gets what is not bundled)."""

from .digits import DigitsTasks, load_digits_tasks, pair_tasks
from .errors import DataError
from .mnist import MNIST, fetch_mnist, load_mnist, mnist_tasks

__all__ = ["MNIST", "DataError", "DigitsTasks", "fetch_mnist", "load_digits_tasks", "load_mnist", "mnist_tasks", "pair_tasks"]
