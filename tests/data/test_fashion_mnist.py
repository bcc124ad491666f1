"""Fashion-MNIST loader on tiny synthetic IDX files, and the fetch logic with apt-get / dpkg mocked."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import numpy as np
import pytest

import hypernet.cli.fetch.fashion_mnist as fm
from hypernet.cli import main
from hypernet.cli.fetch import _download, fetch
from hypernet.data import DataError
from hypernet.data.cache import sha256


def _write(root: Path, n_train: int = 6, n_test: int = 4) -> dict[str, bytes]:
    """The four files in Debian's layout: gzip IDX, uint8 images (N, 28, 28) and labels (N,)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    blobs = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        blobs[f"{split}-images-idx3-ubyte.gz"] = gzip.compress(fm.idx_header(fm.IMAGES, (n, 28, 28)) + images.tobytes(), mtime=0)
        blobs[f"{split}-labels-idx1-ubyte.gz"] = gzip.compress(fm.idx_header(fm.LABELS, (n,)) + labels.tobytes(), mtime=0)
    for name, blob in blobs.items():
        (root / name).write_bytes(blob)
    return blobs


def test_load_synthetic_files(tmp_path: Path) -> None:
    _write(tmp_path)
    data = fm.load_fashion_mnist(tmp_path)
    assert data.x_train.shape == (6, 784) and data.x_test.shape == (4, 784)
    assert float(data.x_train.min()) >= 0.0 and float(data.x_train.max()) <= 1.0
    assert data.y_test.tolist() == [0, 1, 2, 3] and data.y_train.dtype.is_floating_point is False


def test_load_errors_name_the_file_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERNET_DATA", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="hypernet data fetch fashion-mnist"):
        fm.load_fashion_mnist()
    _write(tmp_path / "d")
    labels = tmp_path / "d" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(b"not gzip")
    with pytest.raises(DataError, match="cannot read"):
        fm.load_fashion_mnist(tmp_path / "d")
    labels.write_bytes(gzip.compress(fm.idx_header(fm.IMAGES, (1, 1, 1)) + b"\0"))
    with pytest.raises(DataError, match="magic 0x00000801"):
        fm.load_fashion_mnist(tmp_path / "d")
    labels.write_bytes(gzip.compress(fm.idx_header(fm.LABELS, (4,)) + b"\0"))
    with pytest.raises(DataError, match="truncated"):
        fm.load_fashion_mnist(tmp_path / "d")
    labels.write_bytes(gzip.compress(fm.idx_header(fm.LABELS, (3,)) + b"\0\0\0"))
    with pytest.raises(DataError, match="labels"):
        fm.load_fashion_mnist(tmp_path / "d")


def test_fetch_checks_sha256_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERNET_DATA", str(tmp_path / "cache"))
    calls: list[Path] = []

    def download(directory: Path) -> Path:  # stands in for apt-get download + a directory instead of a .deb
        calls.append(directory)
        _write(directory / "files")
        return directory / "files"

    with pytest.raises(DataError, match="sha256"):  # the pinned checksums: synthetic files are refused
        fm.fetch_fashion_mnist(download=download)
    assert not fm.default_dir().exists()
    blobs = _write(tmp_path / "mine")
    monkeypatch.setattr(fm, "SHA256", {name: sha256(blob) for name, blob in blobs.items()})
    dest = fm.fetch_fashion_mnist(download=download)
    assert dest == tmp_path / "cache" / "fashion-mnist"
    assert all((dest / name).read_bytes() == blob for name, blob in blobs.items())
    assert fm.fetch_fashion_mnist(download=download) == dest and len(calls) == 2  # already there: no second download
    assert "sha256 verified; train/test 6/4" in fetch("fashion-mnist", tmp_path / "mine")
    (tmp_path / "partial").mkdir()
    with pytest.raises(DataError, match="no such file"):
        fm.fetch_fashion_mnist(tmp_path / "partial")
    with pytest.raises(DataError, match=r"\.deb or a directory"):
        fm.fetch_fashion_mnist(tmp_path / "missing.deb")


def _completed(returncode: int, stderr: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess([], returncode, "", stderr)


def test_fetch_from_a_deb_unpacks_it_with_dpkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blobs = _write(tmp_path / "src")
    monkeypatch.setattr(fm, "SHA256", {name: sha256(blob) for name, blob in blobs.items()})
    deb = tmp_path / "dataset-fashion-mnist_1_all.deb"
    deb.write_bytes(b"!<arch>\n")
    seen: list[list[str]] = []

    def fake_run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        if cmd[0] == "dpkg":  # unpack the files where dpkg -x would
            _write(Path(cmd[3]) / fm.MEMBER_DIR)
        return _completed(0)

    monkeypatch.setattr(_download.subprocess, "run", fake_run)
    dest = fm.fetch_fashion_mnist(deb, dest=tmp_path / "out")
    assert seen[0][:2] == ["dpkg", "-x"] and (dest / "train-images-idx3-ubyte.gz").read_bytes() == blobs["train-images-idx3-ubyte.gz"]


def test_apt_failures_are_data_errors_with_a_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_download.subprocess, "run", lambda cmd, **kw: _completed(100, "E: Unable to locate package dataset-fashion-mnist"))
    with pytest.raises(DataError, match=r"Unable to locate.*apt-get update"):
        fm.apt_download(tmp_path)

    monkeypatch.setattr(_download.subprocess, "run", lambda cmd, **kw: _completed(0))
    with pytest.raises(DataError, match=r"to write a \.deb into .*, got none"):
        fm.apt_download(tmp_path)

    def missing(cmd: list[str], **kw: object) -> None:
        raise FileNotFoundError(cmd[0])

    monkeypatch.setattr(_download.subprocess, "run", missing)
    with pytest.raises(DataError, match="not available"):
        fm.apt_download(tmp_path)


def test_cli_fetch_fashion_mnist_from_a_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HYPERNET_DATA", str(tmp_path / "cache"))
    blobs = _write(tmp_path / "mine")
    monkeypatch.setattr(fm, "SHA256", {name: sha256(blob) for name, blob in blobs.items()})
    assert main(["data", "fetch", "fashion-mnist", "--path", str(tmp_path / "mine")]) == 0
    assert "fashion-mnist:" in capsys.readouterr().out
    assert (tmp_path / "cache" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").is_file()
