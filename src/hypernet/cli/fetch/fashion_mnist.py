"""``hypernet data fetch fashion-mnist``: ``apt-get download dataset-fashion-mnist``, ``dpkg -x``, the four IDX files
verified and stored in the data cache, where :func:`hypernet.data.fashion_mnist.load_fashion_mnist` reads them."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from ...data.errors import DataError
from ...data.fashion_mnist import IMAGES, LABELS, MEMBER_DIR, PACKAGE, SHA256, default_dir, idx_header, load_fashion_mnist
from . import _download

__all__ = [
    "IMAGES",
    "LABELS",
    "MEMBER_DIR",
    "PACKAGE",
    "SHA256",
    "apt_download",
    "default_dir",
    "fetch_fashion_mnist",
    "idx_header",
    "load_fashion_mnist",
    "unpack_deb",
]


def apt_download(directory: Path) -> Path:
    """``apt-get download dataset-fashion-mnist`` into ``directory`` (no install); returns the ``.deb``."""
    return _download.apt_download(PACKAGE, directory, "fashion-mnist")


def unpack_deb(deb: Path, directory: Path) -> Path:
    """``dpkg -x deb directory``; returns the directory holding the IDX files."""
    return _download.unpack_deb(deb, directory) / MEMBER_DIR


def fetch_fashion_mnist(
    source: str | Path | None = None, *, dest: str | Path | None = None, download: Callable[[Path], Path] = apt_download
) -> Path:
    """Put the four verified IDX files into ``dest`` (default :func:`default_dir`); returns it.

    Args:
        source: your own copy: the ``.deb`` or a directory holding the four ``.gz`` files;
            ``None`` downloads the package with ``apt-get download``.
        dest: the directory to store them in.
        download: how to get the ``.deb`` into a directory (replaced in tests).

    Raises:
        DataError: the download or unpacking failed, a file is missing, or a sha256 does not match.
    """
    dest = Path(dest) if dest is not None else default_dir()
    if source is None and _download.has_pinned(dest, SHA256):
        return dest
    with tempfile.TemporaryDirectory(prefix="hypernet-fashion-") as tmp:
        work = Path(tmp)
        origin = Path(source) if source is not None else download(work)
        if origin.is_dir():
            root = origin
        elif origin.is_file() and origin.suffix == ".deb":
            root = unpack_deb(origin, work / "root")
        else:
            raise DataError(
                f"expected the {PACKAGE} .deb or a directory of its *-ubyte.gz files at {origin}, got no such file or directory"
            )
        blobs = _download.read_pinned(
            root,
            SHA256,
            what="",
            missing_fix="pass the .deb or the directory holding the four files",
            mismatch=f"the file is corrupted or not Debian's {PACKAGE}: fetch it again",
        )
    return _download.store(dest, blobs)
