"""Fashion-MNIST from the Debian package ``dataset-fashion-mnist`` (fetched with apt-get, never installed).

``hypernet data fetch fashion-mnist`` runs ``apt-get download dataset-fashion-mnist``,
unpacks the ``.deb`` with ``dpkg -x``, checks the sha256 of the four IDX files under
``usr/share/datasets/fashion-mnist/`` and stores them in ``<data_dir>/fashion-mnist/``.
The Debian ``.gz`` files differ byte-wise from the upstream archives, so their own
sha256 are pinned (see ``DATA.md``). IDX format: a big-endian header (magic
``0x00000803`` for images with 3 dimensions, ``0x00000801`` for labels), then uint8
data; images ``(N, 28, 28)``, train 60,000, test 10,000, 10 balanced classes.

Example:
    >>> import gzip, tempfile, pathlib, numpy as np
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for split, n in (("train", 4), ("t10k", 2)):
    ...     images = np.zeros((n, 28, 28), np.uint8).tobytes()
    ...     labels = np.arange(n, dtype=np.uint8).tobytes()
    ...     _ = (root / f"{split}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_header(0x803, (n, 28, 28)) + images))
    ...     _ = (root / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_header(0x801, (n,)) + labels))
    >>> data = load_fashion_mnist(root)
    >>> data.x_train.shape, data.y_test.tolist()
    (torch.Size([4, 784]), [0, 1])
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .cache import data_dir, sha256
from .errors import DataError

PACKAGE = "dataset-fashion-mnist"
MEMBER_DIR = "usr/share/datasets/fashion-mnist"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SHA256 = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}
IMAGES, LABELS = 0x803, 0x801


def default_dir() -> Path:
    """``<data_dir>/fashion-mnist``."""
    return data_dir() / "fashion-mnist"


@dataclass
class FashionMNIST:
    """Train and test splits: ``x_*`` float32 ``(N, 784)`` in ``[0, 1]`` (pixel / 255), ``y_*`` int64 ``(N,)``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def idx_header(magic: int, shape: tuple[int, ...]) -> bytes:
    """The big-endian IDX header for uint8 data of ``shape`` (``magic`` 0x803 for images, 0x801 for labels)."""
    return struct.pack(f">I{len(shape)}I", magic, *shape)


def read_idx(blob: bytes, magic: int, name: str) -> np.ndarray:
    """Parse an (uncompressed) IDX file of uint8 data; raises :class:`DataError` naming ``name`` if it is not one."""
    ndim = magic & 0xFF
    head = 4 + 4 * ndim
    if len(blob) < head or struct.unpack(">I", blob[:4])[0] != magic:
        got = blob[:4].hex() if len(blob) >= 4 else f"{len(blob)} bytes"
        raise DataError(f"expected {name} to be an IDX file with magic {magic:#010x}, got {got}; fetch it again")
    shape = struct.unpack(f">{ndim}I", blob[4:head])
    size = int(np.prod(shape))
    if len(blob) - head != size:
        raise DataError(f"expected {name} to hold {size} bytes of data for shape {shape}, got {len(blob) - head}; the file is truncated")
    return np.frombuffer(blob, dtype=np.uint8, offset=head).reshape(shape)


def _read(root: Path, split: str, check: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    arrays = []
    for kind, magic in (("images-idx3", IMAGES), ("labels-idx1", LABELS)):
        path = root / f"{split}-{kind}-ubyte.gz"
        if not path.is_file():
            raise DataError(
                f"expected the Fashion-MNIST file {path}, got no such file; run `hypernet data fetch fashion-mnist` "
                "(or pass the directory of your own copy)"
            )
        raw = path.read_bytes()
        if check and sha256(raw) != SHA256[path.name]:  # the cache is checked on every load, not only when fetched
            raise DataError(
                f"the cached Fashion-MNIST file {path} has changed since it was fetched (expected sha256 {SHA256[path.name][:12]}..., "
                f"got {sha256(raw)[:12]}...); fetch it again with `hypernet data fetch fashion-mnist`"
            )
        try:
            blob = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"cannot read {path}: expected a gzip IDX file, got {exc}; fetch it again with `hypernet data fetch fashion-mnist`"
            ) from None
        arrays.append(read_idx(blob, magic, str(path)))
    images, labels = arrays
    if images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
        raise DataError(
            f"expected {split} images (N, 28, 28) and labels (N,), got {images.shape} and {labels.shape} in {root}; "
            "fetch them again with `hypernet data fetch fashion-mnist`"
        )
    x = torch.from_numpy(images.reshape(len(images), 784).astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels.astype(np.int64))


def load_fashion_mnist(path: str | Path | None = None) -> FashionMNIST:
    """Load Fashion-MNIST from a directory holding the four ``*-ubyte.gz`` files (default: the fetched copy).

    The cached copy's sha256 are checked on every load; files in a directory given as ``path`` are not.

    Raises:
        DataError: a file is missing (run ``hypernet data fetch fashion-mnist``), unreadable or not IDX.
    """
    root = Path(path) if path is not None else default_dir()
    x_train, y_train = _read(root, "train", check=path is None)
    x_test, y_test = _read(root, "t10k", check=path is None)
    return FashionMNIST(x_train, y_train, x_test, y_test)
