"""Ranking metrics over top-k id lists: MRR@k, nDCG@k (binary relevance), recall@k (of ``min(k, |relevant|)``).

Queries with no relevant document are left out (as in the arXiv-tags protocol without ``arxiv_doc``).

Example:
    >>> mrr([[3, 1, 2]], [{1}]), recall([[3, 1, 2]], [{1, 2}], k=2)
    (0.5, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _rows(ranked: Sequence[Sequence[int]], relevant: Sequence[set[int]]) -> list[tuple[Sequence[int], set[int]]]:
    return [(r, rel) for r, rel in zip(ranked, relevant, strict=True) if rel]


def mrr(ranked: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int = 10) -> float:
    """Mean reciprocal rank of the first relevant document in the top ``k`` (0 when none)."""
    rows = _rows(ranked, relevant)
    return sum(next((1.0 / (i + 1) for i, d in enumerate(r[:k]) if d in rel), 0.0) for r, rel in rows) / max(1, len(rows))


def ndcg(ranked: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int = 10) -> float:
    """nDCG@k with binary gains."""
    rows = _rows(ranked, relevant)
    total = 0.0
    for r, rel in rows:
        dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(r[:k]) if d in rel)
        total += dcg / sum(1.0 / math.log2(i + 2) for i in range(min(k, len(rel))))
    return total / max(1, len(rows))


def recall(ranked: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int = 10) -> float:
    """Relevant documents in the top ``k`` over ``min(k, |relevant|)``."""
    rows = _rows(ranked, relevant)
    return sum(len(set(r[:k]) & rel) / min(k, len(rel)) for r, rel in rows) / max(1, len(rows))
