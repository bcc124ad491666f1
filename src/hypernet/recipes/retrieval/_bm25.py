"""BM25 through PyPI ``bm25s`` (English stemmer and stopwords, k1 1.5, b 0.75): ranking and hard negatives.

Example:
    >>> bm = BM25(["the cat sat on the mat", "dogs chase cats", "stock markets fell"])
    >>> bm.topk(["cat on a mat"], k=2)[0].tolist()
    [0, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ...errors import ConfigError


def _libs() -> tuple[Any, Any]:
    try:
        import bm25s
        import Stemmer
    except ImportError:  # pragma: no cover - the retrieval extra is part of dev
        raise ConfigError(
            "expected the packages bm25s and PyStemmer for BM25, got an ImportError; install them: pip install 'hypernet[retrieval]'"
        ) from None
    return bm25s, Stemmer


class BM25:
    """A BM25 index of ``corpus`` (``bm25s.BM25(k1=1.5, b=0.75)`` over stemmed, stopword-filtered tokens)."""

    def __init__(self, corpus: Sequence[str], *, k1: float = 1.5, b: float = 0.75):
        bm25s, stemmer_mod = _libs()
        self._bm25s = bm25s
        self._stemmer = stemmer_mod.Stemmer("english")
        self.size = len(corpus)
        self._model = bm25s.BM25(k1=k1, b=b)
        self._model.index(self._tok(corpus), show_progress=False)

    def _tok(self, texts: Sequence[str]) -> Any:
        return self._bm25s.tokenize(list(texts), stopwords="en", stemmer=self._stemmer, show_progress=False)

    def scores(self, queries: Sequence[str]) -> torch.Tensor:
        """``(Q, N)`` BM25 scores against every document."""
        out = np.zeros((len(queries), self.size), dtype=np.float32)
        for i, q in enumerate(queries):
            toks = self._bm25s.tokenize([q], stopwords="en", stemmer=self._stemmer, show_progress=False, return_ids=False)[0]
            if toks:
                out[i] = self._model.get_scores(toks)
        return torch.from_numpy(out)

    def topk(self, queries: Sequence[str], k: int) -> torch.Tensor:
        """``(Q, k)`` ids of the best documents (ties broken by id)."""
        s = self.scores(queries)
        ids = torch.arange(s.shape[1], dtype=torch.float32)
        return torch.sort(s - 1e-9 * ids / max(1, s.shape[1]), dim=1, descending=True, stable=True).indices[:, :k]


def hard_negatives(corpus: Sequence[str], queries: Sequence[str], relevant: Sequence[set[int]], *, depth: int = 20) -> list[list[int]]:
    """For each query, the BM25 top-``depth`` documents that are not relevant to it."""
    top = BM25(corpus).topk(queries, min(depth, len(corpus)))
    return [[int(d) for d in row if int(d) not in rel] for row, rel in zip(top.tolist(), relevant, strict=True)]
