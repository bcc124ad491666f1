"""Issue 25, item 11: the cached data sets are checked against their sha256 on every load."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

from hypernet.data import fashion_mnist, mnist
from hypernet.data.errors import DataError


def _fake_mnist() -> bytes:
    split = (np.zeros((10, 784), np.float32), np.zeros(10, np.int64))
    return gzip.compress(pickle.dumps((split, split, split), protocol=2), mtime=0)


def test_a_well_formed_fake_in_the_mnist_cache_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERNET_DATA", str(tmp_path))
    cached = mnist.default_path()
    cached.parent.mkdir(parents=True)
    cached.write_bytes(_fake_mnist())
    with pytest.raises(DataError, match=r"has changed since it was fetched.*hypernet data fetch mnist"):
        mnist.load_mnist()
    assert mnist.load_mnist(cached).x_train.shape == (10, 784)  # your own file, given explicitly, is loaded as it is


def test_a_changed_fashion_mnist_cache_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERNET_DATA", str(tmp_path))
    root = fashion_mnist.default_dir()
    root.mkdir(parents=True)
    for name in fashion_mnist.SHA256:
        (root / name).write_bytes(gzip.compress(b"\0" * 16, mtime=0))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz has changed since it was fetched"):
        fashion_mnist.load_fashion_mnist()
