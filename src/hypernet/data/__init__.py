"""Offline data loaders; ``hypernet data fetch`` (:mod:`hypernet.cli.fetch`) gets what is not bundled.

The loaders only read files: nothing here runs ``pip`` or ``apt-get``, and nothing here imports
:mod:`hypernet.cli` (a higher layer). A missing file raises :class:`DataError` naming the
``hypernet data fetch ...`` command; the fetch functions are ``hypernet.cli.fetch.<name>.fetch_<name>``.
"""

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
    "list_tabular",
    "load_digits_tasks",
    "load_mnist",
    "load_tabular",
    "mnist_tasks",
    "pair_tasks",
    "permuted_mnist",
    "split_mnist",
]
