"""``hn.Hypencoder``: retrieval where each query becomes a small scoring network (Killingback, Zeng and Zamani, SIGIR 2025).

The query side is the base encoder plus hyper-heads (:mod:`._heads`) that attend over the query's
contextualised token embeddings and emit every weight and bias of a q-net (:mod:`._qnet`). The document
side is the same encoder, mean-pooled or first-token: one vector per document, encoded once into a
:class:`~.DocumentIndex`. A query's relevance score for a document is its q-net applied to the
document's vector, which is not limited to an inner product.

Example:
    >>> import torch
    >>> from transformers import BertConfig, BertModel
    >>> from hypernet.recipes.adapters._testing import tiny_tokenizer
    >>> _ = torch.manual_seed(0)
    >>> bert = BertModel(BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32))
    >>> model = Hypencoder(bert, tiny_tokenizer(64), qnet_layers=2, qnet_hidden=8)
    >>> index = model.index(["red apples", "green pears", "blue sky"])
    >>> hits = model.search(["apples"], index, k=2)
    >>> hits.ids.shape, len(index), index.width
    (torch.Size([1, 2]), 3, 16)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..._boundary import guarded
from ..._validation import check_bool, check_float, check_int
from ...errors import ConfigError, describe
from ._dual import DualEncoder, _check_width
from ._encode import check_texts, pool
from ._heads import HyperHeads
from ._index import DocumentIndex
from ._proxy import linear_seeds, quadratic_seeds
from ._qnet import QNetWeights, qnet_scores
from ._search import clustered_knn_graph, exhaustive_topk, graph_search, knn_graph

EXACT_GRAPH_LIMIT = 100_000
SEEDS = ("quadratic", "linear", "random")
BLOCK_NUMBERS = 2**24  # activations held at once by exhaustive search (queries x chunk x hidden)


@dataclass
class SearchResult:
    """Top-``k`` of each query: ``scores`` and document ``ids``, both ``(Q, k)``, best first."""

    scores: torch.Tensor
    ids: torch.Tensor

    def texts(self, index: DocumentIndex) -> list[list[str]]:
        """The documents' texts (the index must hold them)."""
        if not isinstance(index, DocumentIndex):
            raise ConfigError(f"expected the DocumentIndex searched, got {describe(index)}; pass the index given to search")
        top = int(self.ids.max()) if self.ids.numel() else -1
        if top >= len(index):
            raise ConfigError(f"expected the DocumentIndex searched (over {top} documents), got one of {len(index)}; pass that index")
        if index.texts is None:
            raise ConfigError("expected an index holding its texts, got one without; build it with index(texts, keep_texts=True)")
        texts = index.texts
        return [[texts[i] for i in row] for row in self.ids.tolist()]


@guarded()
class Hypencoder(DualEncoder):
    """A Hypencoder over a Hugging Face-style encoder.

    Args:
        encoder: the base encoder (``encoder(input_ids=, attention_mask=)`` -> ``last_hidden_state``), e.g. a ``BertModel``.
        tokenizer: its tokenizer.
        qnet_layers: hidden blocks of the q-net (the paper's "2-layer" q-net has 2).
        qnet_hidden: width of the q-net's hidden blocks (default: the encoder width, as in the paper).
        pooling: the document vector: ``"mean"`` over tokens or the ``"first"`` token.
        freeze_documents: encode documents with a frozen copy of the encoder (document vectors computed once;
            only the query side trains); ``False`` shares and trains one encoder for both sides.
        query_max_length, doc_max_length: tokens kept per query / document.
        temperature: training scores are divided by it (the paper uses raw q-net scores: 1).
        skip: add a linear skip to every q-net (default; ``False`` is the paper's q-net exactly):
            ``score = gain * qnet(d) + scale * <q, d>``
            with ``q`` the query's pooled, normalised token embeddings and ``d`` the normalised document vector
            (the index stores normalised vectors); ``scale`` starts at 20 (a bi-encoder's temperature of
            0.05) and ``gain`` at 0, so an untrained model ranks exactly as the encoder's cosine and training
            adds what an inner product cannot express. Both are trained. Chosen on validation: on BBC News
            known-item retrieval (200 steps, MiniLM) the paper's q-net reached MRR@10 0.23 on validation
            titles, the skip 0.77 (the fine-tuned bi-encoder: 0.77).
        seed: initialisation of the hyper-heads.
    """

    def __init__(
        self,
        encoder: nn.Module,
        tokenizer: Any,
        qnet_layers: int = 2,
        qnet_hidden: int | None = None,
        *,
        pooling: str = "mean",
        freeze_documents: bool = False,
        query_max_length: int = 32,
        doc_max_length: int = 256,
        temperature: float = 1.0,
        skip: bool = True,
        seed: int = 0,
    ):
        super().__init__(
            encoder,
            tokenizer,
            pooling=pooling,
            freeze_documents=freeze_documents,
            query_max_length=query_max_length,
            doc_max_length=doc_max_length,
        )
        check_int(qnet_layers, "qnet_layers", low=1, high=64, owner="Hypencoder")
        check_int(qnet_hidden, "qnet_hidden", low=1, high=1 << 16, optional=True, owner="Hypencoder")
        for name, value in (("query_max_length", query_max_length), ("doc_max_length", doc_max_length)):
            check_int(value, name, low=2, owner="Hypencoder")
        check_float(temperature, "temperature", low=0, low_open=True, owner="Hypencoder")
        check_int(seed, "seed", owner="Hypencoder")
        if qnet_layers < 1:
            raise ConfigError(f"expected qnet_layers >= 1 (hidden blocks of the q-net), got {qnet_layers}; pass a positive int")
        hidden = self.width if qnet_hidden is None else qnet_hidden
        if hidden < 1 or temperature <= 0:
            raise ConfigError(f"expected qnet_hidden >= 1 and temperature > 0, got {qnet_hidden} and {temperature}; pass positive values")
        self.qnet_dims = [self.width] + [hidden] * qnet_layers + [1]
        self.temperature = temperature
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.heads = HyperHeads(self.width, self.qnet_dims)
        self.skip = bool(skip)
        if self.skip:
            self.log_skip_scale = nn.Parameter(torch.tensor(math.log(20.0)))
            self.qnet_gain = nn.Parameter(torch.zeros(()))

    # ---------------------------------------------------------------- representations
    def query_repr(self, hidden: torch.Tensor, mask: torch.Tensor) -> QNetWeights:
        """The q-nets of a batch of queries from their token states ``hidden`` ``(B, T, d)`` and ``mask`` ``(B, T)``."""
        if not isinstance(hidden, torch.Tensor) or hidden.dim() != 3 or hidden.shape[-1] != self.width or not hidden.is_floating_point():
            raise ConfigError(f"expected hidden states (B, T, {self.width}), got {describe(hidden)}; pass the encoder's last_hidden_state")
        if not isinstance(mask, torch.Tensor) or mask.shape != hidden.shape[:2]:
            raise ConfigError(
                f"expected an attention mask of shape {tuple(hidden.shape[:2])}, got {describe(mask)}; pass the tokenizer's mask"
            )
        qnet = self.heads(hidden, mask)
        if not self.skip:
            return qnet
        skip = F.normalize(pool(hidden, mask, self.pooling), dim=-1) * self.log_skip_scale.exp()
        return QNetWeights([*qnet.weights[:-1], qnet.weights[-1] * self.qnet_gain], qnet.biases, skip)

    def doc_repr(self, features: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return F.normalize(features[0], dim=-1) if self.skip else features[0]

    def scores(self, queries: QNetWeights, docs: torch.Tensor) -> torch.Tensor:
        """Scores ``(B, N)`` of ``N`` document vectors (``(N, d)`` or per query ``(B, N, d)``) under each query's q-net."""
        if not isinstance(queries, QNetWeights):
            raise ConfigError(f"expected queries as QNetWeights, got {describe(queries)}; pass model.qnets(queries)")
        ok = isinstance(docs, torch.Tensor) and docs.is_floating_point() and docs.dim() in (2, 3) and docs.shape[-1] == self.width
        if not ok or (docs.dim() == 3 and docs.shape[0] != queries.num_queries):
            raise ConfigError(
                f"expected document vectors (N, {self.width}) or (B, N, {self.width}), got {describe(docs)}; pass index.vectors"
            )
        return qnet_scores(queries, docs)

    def qnets(self, queries: Sequence[str], *, batch_size: int = 64) -> QNetWeights:
        """The generated q-nets of ``queries`` (no gradient)."""
        queries = check_texts(queries, "query")
        check_int(batch_size, "batch_size", low=1, owner="Hypencoder.qnets")
        parts = []
        with torch.no_grad():
            for start in range(0, len(queries), batch_size):
                parts.append(self.encode_queries(queries[start : start + batch_size]))
        return QNetWeights(
            [torch.cat([p.weights[j] for p in parts]) for j in range(len(parts[0].weights))],
            [torch.cat([p.biases[j] for p in parts]) for j in range(len(parts[0].biases))],
            None if parts[0].skip is None else torch.cat([p.skip for p in parts if p.skip is not None]),
        )

    # ---------------------------------------------------------------- index
    def index(
        self,
        texts: Sequence[str] | None = None,
        *,
        vectors: torch.Tensor | None = None,
        graph_neighbors: int = 32,
        batch_size: int = 32,
        keep_texts: bool = True,
    ) -> DocumentIndex:
        """Encode documents once into a :class:`DocumentIndex` (with a k-NN graph for approximate search).

        Args:
            texts: the documents; or give ``vectors`` ``(N, width)`` already encoded.
            graph_neighbors: neighbours per document in the graph (0: no graph). Exact up to
                100,000 documents, k-means-cell approximate beyond.
            keep_texts: store the texts in the index (shown by ``hypernet search``).

        Raises:
            ConfigError: an empty corpus, both or neither of ``texts`` / ``vectors``, vectors of another width.
        """
        if (texts is None) == (vectors is None):
            got = "both" if texts is not None else "neither"
            raise ConfigError(f"expected either texts or vectors to index, got {got}; pass one of them")
        check_int(graph_neighbors, "graph_neighbors", low=0, owner="Hypencoder.index")
        check_int(batch_size, "batch_size", low=1, owner="Hypencoder.index")
        check_bool(keep_texts, "keep_texts", owner="Hypencoder.index")
        if vectors is not None and (not isinstance(vectors, torch.Tensor) or not vectors.is_floating_point()):
            raise ConfigError(
                f"expected vectors to be a float tensor (documents, {self.width}), got {describe(vectors)}; "
                "pass model.document_features(texts)[0]"
            )
        if texts is not None:
            texts = check_texts(texts, "document")
            vectors = self.document_features(texts, batch_size=batch_size)[0]
        assert vectors is not None
        if vectors.dim() != 2 or vectors.shape[0] == 0:
            raise ConfigError(
                f"expected document vectors of shape (documents >= 1, {self.width}), got {tuple(vectors.shape)} (an empty corpus?); "
                "pass at least one document"
            )
        _check_width(self.width, int(vectors.shape[1]), "document vectors")
        vectors = self.doc_repr((vectors.detach().float(),))  # as training saw them (normalised with skip=True)
        graph = None
        if graph_neighbors > 0 and vectors.shape[0] > 1:
            build = knn_graph if vectors.shape[0] <= EXACT_GRAPH_LIMIT else clustered_knn_graph
            graph = build(vectors, graph_neighbors)
        name = getattr(getattr(self.encoder, "config", None), "_name_or_path", "") or type(self.encoder).__name__
        return DocumentIndex(vectors, list(texts) if texts is not None and keep_texts else None, graph, str(name), self._index_pooling())

    def _index_pooling(self) -> str:
        """How this model's document vectors are made, as the index records it."""
        return f"{self.pooling}, normalised" if self.skip else self.pooling

    # ---------------------------------------------------------------- search
    def search(
        self,
        queries: Sequence[str] | QNetWeights,
        index: DocumentIndex,
        k: int = 10,
        *,
        approximate: bool = False,
        ef: int = 64,
        seeds: str = "quadratic",
        entry_points: int = 256,
        max_iter: int = 64,
        chunk: int = 65536,
        dtype: torch.dtype | None = None,
    ) -> SearchResult:
        """The top-``k`` documents of each query.

        Exhaustive (default): every query's q-net on every document vector, in chunks of ``chunk`` documents,
        all queries at once. ``approximate=True``: the graph search of the paper, per query, seeded with
        ``entry_points`` documents, the best of a cheap surrogate of the q-net (``seeds="quadratic"``: its mean
        gradient plus a quadratic form in the 16 directions where its gradient varies most, fitted to exact scores
        of 2,048 evenly spaced documents, 17 inner products per document; ``"linear"``: the mean gradient alone,
        one inner product; see :mod:`._proxy`) or random ones (``seeds="random"``, the paper's), then expanded
        over the index's k-NN graph keeping the best ``ef``.

        Args:
            queries: texts, or q-nets from :meth:`qnets`.
            dtype: score in this dtype (e.g. ``torch.bfloat16``: faster on CPUs with AMX / AVX-512 BF16).

        Raises:
            ConfigError: ``k`` outside ``[1, len(index)]``, an index of another encoder width, no graph for
                ``approximate``, an unknown ``seeds``.
        """
        if not isinstance(index, DocumentIndex):
            raise ConfigError(
                f"expected a DocumentIndex (from model.index(texts)), got {type(index).__name__}; "
                "pass a DocumentIndex (from model.index(texts))"
            )
        _check_width(self.width, index.width, "an index")
        check_int(k, "k", low=1, owner="Hypencoder.search")
        for name, value in (("ef", ef), ("entry_points", entry_points), ("max_iter", max_iter), ("chunk", chunk)):
            check_int(value, name, low=1, owner="Hypencoder.search")
        check_bool(approximate, "approximate", owner="Hypencoder.search")
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ConfigError(f"expected dtype to be None or a float torch.dtype, got {describe(dtype)}; pass e.g. torch.bfloat16")
        if index.pooling != self._index_pooling():
            raise ConfigError(
                f"expected an index of {self._index_pooling()!r} document vectors (this model's), got {index.pooling!r}; "
                "build the index with this model: model.index(texts)"
            )
        if not 1 <= k <= len(index):
            raise ConfigError(f"expected k in [1, {len(index)}] (the index holds {len(index)} documents), got {k}; lower k")
        if seeds not in SEEDS:
            raise ConfigError(f"expected seeds in {SEEDS}, got {seeds!r}; pass one of them")
        if approximate and index.graph is None:
            raise ConfigError(
                "expected an index with a k-NN graph for approximate search, got none; build it with index(..., graph_neighbors=32)"
            )
        qnets = queries if isinstance(queries, QNetWeights) else self.qnets(queries)
        qnets = qnets.detach()
        vectors = index.vectors
        if dtype is not None:
            qnets, vectors = qnets.to(dtype), vectors.to(dtype)
        with torch.no_grad():
            if not approximate:
                # queries in blocks so that one block's activations (queries x chunk x hidden) stay near 2^24 numbers
                chunk = max(1, min(chunk, len(index)))
                block = max(1, BLOCK_NUMBERS // (chunk * max(self.qnet_dims[1:-1], default=1)))
                parts = [
                    exhaustive_topk(_all_queries(qnets.select(slice(b, b + block))), vectors, k, chunk=chunk)
                    for b in range(0, qnets.num_queries, block)
                ]
                return SearchResult(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
            assert index.graph is not None
            starts = self._seeds(qnets, vectors, min(len(index), max(entry_points, k)), seeds)
            rows_s, rows_i = [], []
            for q in range(qnets.num_queries):
                s, i = graph_search(_one_query(qnets.select([q])), vectors, index.graph, starts[q], k=k, ef=ef, max_iter=max_iter)
                rows_s.append(s)
                rows_i.append(i)
            return SearchResult(torch.stack(rows_s), torch.stack(rows_i))

    @staticmethod
    def _seeds(qnets: QNetWeights, vectors: torch.Tensor, n: int, how: str) -> torch.Tensor:
        """``(Q, min(n, N))`` entry documents per query."""
        n = min(n, vectors.shape[0])
        if how == "random":
            gen = torch.Generator().manual_seed(0)
            return torch.randperm(vectors.shape[0], generator=gen)[:n].unsqueeze(0).expand(qnets.num_queries, -1)
        return quadratic_seeds(qnets, vectors, n) if how == "quadratic" else linear_seeds(qnets, vectors, n)


def _one_query(qnet: QNetWeights) -> Callable[[torch.Tensor], torch.Tensor]:
    """``vectors (n, d) -> scores (n,)`` of one q-net."""
    return lambda x: qnet_scores(qnet, x)[0]


def _all_queries(qnet: QNetWeights) -> Callable[[torch.Tensor], torch.Tensor]:
    """``vectors (n, d) -> scores (Q, n)`` of a block of q-nets."""
    return lambda x: qnet_scores(qnet, x)
