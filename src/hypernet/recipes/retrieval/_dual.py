"""What every dual encoder of this recipe shares: a query side and a document side over one encoder, and training.

Subclasses say how a query's token embeddings become its representation (a q-net, a vector, token
vectors), how stored document *features* (computed by the document encoder) become document
representations, and how representations score against each other. :class:`~.hypencoder.Hypencoder`
is one; the benchmark's baselines (a bi-encoder, a late-interaction model) are others.

With ``freeze_documents=True`` the document side is a frozen copy of the encoder at construction: document
features are computed once (and can be cached), only the query side trains.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...errors import ConfigError
from ._encode import POOLINGS, check_texts, encoder_width, pool, tokens

Features = tuple[torch.Tensor, ...]


class DualEncoder(nn.Module):
    """Base class: ``encoder`` + ``tokenizer``; subclasses implement the four ``*_repr`` / ``scores`` methods."""

    temperature: float = 1.0

    def __init__(
        self,
        encoder: nn.Module,
        tokenizer: Any,
        *,
        pooling: str = "mean",
        freeze_documents: bool = False,
        query_max_length: int = 32,
        doc_max_length: int = 256,
    ):
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"expected pooling in {POOLINGS}, got {pooling!r}; pass one of them")
        if query_max_length < 2 or doc_max_length < 2:
            raise ConfigError(
                f"expected query_max_length and doc_max_length >= 2, got {query_max_length} and {doc_max_length}; pass larger lengths"
            )
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.width = encoder_width(encoder)
        self.pooling = pooling
        self.freeze_documents = freeze_documents
        self.query_max_length = query_max_length
        self.doc_max_length = doc_max_length
        self.doc_encoder: nn.Module | None = None
        if freeze_documents:
            self.doc_encoder = copy.deepcopy(encoder).eval()
            for p in self.doc_encoder.parameters():
                p.requires_grad_(False)

    # ------------------------------------------------------------------ for subclasses
    def query_repr(self, hidden: torch.Tensor, mask: torch.Tensor) -> Any:
        """A batch of queries' representation from their token embeddings."""
        raise NotImplementedError

    def doc_features(self, hidden: torch.Tensor, mask: torch.Tensor) -> Features:
        """What is stored per document (default: the pooled vector)."""
        return (pool(hidden, mask, self.pooling),)

    def doc_repr(self, features: Features) -> Any:
        """Document representations from stored features (default: the vectors as they are)."""
        return features[0]

    def scores(self, queries: Any, docs: Any) -> torch.Tensor:
        """``(Q, N)`` scores of every query against every document."""
        raise NotImplementedError

    def head_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters outside the encoders (trained with ``head_lr``)."""
        encoder_ids = {id(p) for p in self.encoder.parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in encoder_ids]

    # ------------------------------------------------------------------ encoding
    def encode_queries(self, texts: Sequence[str]) -> Any:
        """Representations of ``texts`` (with gradient in training mode)."""
        hidden, mask = tokens(self.encoder, self.tokenizer, texts, self.query_max_length)
        return self.query_repr(hidden, mask)

    def _doc_side(self) -> nn.Module:
        return self.doc_encoder if self.doc_encoder is not None else self.encoder

    def document_features(self, texts: Sequence[str], *, batch_size: int = 32, grad: bool = False) -> Features:
        """Stored features of documents, computed by the document encoder in batches (no gradient unless ``grad``)."""
        texts = check_texts(texts, "document")
        parts: list[Features] = []
        with torch.set_grad_enabled(grad):
            for start in range(0, len(texts), batch_size):
                hidden, mask = tokens(self._doc_side(), self.tokenizer, texts[start : start + batch_size], self.doc_max_length)
                parts.append(self.doc_features(hidden, mask))
        return _cat_features(parts)

    # ------------------------------------------------------------------ training
    def fit(
        self,
        pairs: Sequence[tuple[str, int]],
        corpus: Sequence[str] | None = None,
        *,
        features: Features | None = None,
        negatives: str | Sequence[Sequence[int]] | None = "bm25",
        steps: int = 200,
        batch_size: int = 32,
        lr: float = 5e-5,
        head_lr: float = 1e-3,
        weight_decay: float = 0.0,
        seed: int = 0,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 100,
        resume: bool = False,
        callback: Callable[[int, float], None] | None = None,
    ) -> DualEncoder:
        """Contrastive training: each query against its positive, the batch's other documents and hard negatives.

        Args:
            pairs: ``(query text, id of a relevant document)``; a query may appear in several pairs.
            corpus: the documents' texts (ids index it); needed unless ``features`` are given with frozen documents.
            features: precomputed document features (``document_features(corpus)``), for frozen documents.
            negatives: ``"bm25"`` (one BM25 hard negative per query, from PyPI ``bm25s`` over ``corpus``), per-pair
                lists of negative ids, or ``None`` (in-batch negatives only).
            steps, batch_size, lr, head_lr, weight_decay: AdamW; ``lr`` for the encoder, ``head_lr`` for the rest.
            checkpoint_dir: checkpoints every ``checkpoint_every`` steps and at the end (``hypernet.training.checkpoint``);
                ``resume=True`` continues from the newest one there.
            callback: ``callback(step, loss)`` after each step.

        Returns:
            ``self``, in eval mode.
        """
        from ._train import fit_dual

        return fit_dual(
            self,
            pairs,
            corpus,
            features=features,
            negatives=negatives,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            head_lr=head_lr,
            weight_decay=weight_decay,
            seed=seed,
            checkpoint_dir=checkpoint_dir,
            checkpoint_every=checkpoint_every,
            resume=resume,
            callback=callback,
        )


def _cat_features(parts: list[Features]) -> Features:
    """Concatenate feature batches along documents, padding token dimensions (dim 1 of 3-d / 2-d masks) to the longest."""
    out = []
    for column in zip(*parts, strict=True):
        if column[0].dim() >= 2 and len({c.shape[1] for c in column}) > 1 and (column[0].dim() == 3 or not column[0].is_floating_point()):
            width = max(c.shape[1] for c in column)
            column = tuple(
                torch.nn.functional.pad(c, (0, 0, 0, width - c.shape[1]) if c.dim() == 3 else (0, width - c.shape[1])) for c in column
            )
        out.append(torch.cat(column))
    return tuple(out)


def _check_width(width: int, got: int, what: str) -> None:
    if width != got:
        raise ConfigError(
            f"expected {what} of width {width} (this model's encoder), got width {got}; build the index with this model's encoder"
        )
