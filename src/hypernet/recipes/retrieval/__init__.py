"""The retrieval recipe: ``hn.Hypencoder`` (each query becomes a small scoring network), its index and search."""

from ._index import DocumentIndex
from ._qnet import QNetWeights
from .hypencoder import Hypencoder, SearchResult

__all__ = ["DocumentIndex", "Hypencoder", "QNetWeights", "SearchResult"]
