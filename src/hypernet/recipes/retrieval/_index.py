"""A document index: one vector per document (plus, optionally, the texts and a k-NN graph), saved as safetensors + JSON.

``save(path)`` writes ``path/index.safetensors`` (``vectors`` and, when built, ``graph``) and
``path/index.json`` (a manifest: format, encoder, width, pooling, count, the texts, the tensor file's
sha256). ``load`` checks the manifest against the tensors and raises :class:`~hypernet.ConfigError`
on anything that does not fit.

Example:
    >>> import tempfile, torch
    >>> index = DocumentIndex(torch.randn(3, 4), texts=["a", "b", "c"], encoder="tiny")
    >>> path = index.save(tempfile.mkdtemp())
    >>> again = DocumentIndex.load(path)
    >>> torch.equal(again.vectors, index.vectors), again.texts, again.width
    (True, ['a', 'b', 'c'], 4)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..._io import atomic_write_bytes, atomic_write_text
from ..._validation import check_path
from ...errors import ConfigError, describe

FORMAT = "hypernet-retrieval-index/1"


@dataclass
class DocumentIndex:
    """Document vectors ``(N, d)`` of one encoder, optional texts, optional k-NN graph ``(N, M)`` (neighbour ids).

    Attributes:
        vectors: float tensor ``(N, d)``.
        texts: the documents' texts (shown by ``hypernet search``), or ``None``.
        graph: ``(N, M)`` long tensor of each document's nearest neighbours, for approximate search, or ``None``.
        encoder: a name of the encoder that made the vectors (informational).
        pooling: ``"mean"`` or ``"first"``.
    """

    vectors: torch.Tensor
    texts: list[str] | None = None
    graph: torch.Tensor | None = None
    encoder: str = ""
    pooling: str = "mean"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.vectors, torch.Tensor) or self.vectors.dim() != 2 or not self.vectors.is_floating_point():
            raise ConfigError(
                f"expected index vectors of shape (documents, width) and a float dtype, got {describe(self.vectors)}; "
                "pass the encoder's document vectors"
            )
        if self.vectors.shape[0] == 0:
            raise ConfigError("expected at least one document in the index, got an empty corpus; pass a non-empty list of texts")
        if self.texts is not None and (not isinstance(self.texts, (list, tuple)) or not all(isinstance(t, str) for t in self.texts)):
            raise ConfigError(f"expected texts to be None or a list of str, got {describe(self.texts)}; pass one string per document")
        if self.texts is not None and len(self.texts) != len(self):
            raise ConfigError(
                f"expected one text per index vector ({len(self)}), got {len(self.texts)}; pass texts=None or one text per vector"
            )
        graph = self.graph
        if graph is not None and (not isinstance(graph, torch.Tensor) or graph.dim() != 2 or graph.shape[0] != len(self)):
            raise ConfigError(
                f"expected a graph of shape ({len(self)}, neighbours), got {describe(graph)}; "
                f"pass a graph of shape ({len(self)}, neighbours)"
            )
        if graph is not None and (
            graph.is_floating_point()
            or graph.dtype == torch.bool
            or (graph.numel() and not 0 <= int(graph.min()) <= int(graph.max()) < len(self))
        ):
            raise ConfigError(
                f"expected graph to hold document ids in [0, {len(self)}), got {describe(graph)}; build it with Hypencoder.index"
            )
        for name in ("encoder", "pooling"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"expected {name} to be a str, got {describe(getattr(self, name))}; pass e.g. {name}=''")
        if not isinstance(self.extra, dict):
            raise ConfigError(f"expected extra to be a dict, got {describe(self.extra)}; pass a dict of JSON values")

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def width(self) -> int:
        """The vector width ``d`` (the encoder's hidden size)."""
        return int(self.vectors.shape[1])

    @property
    def bytes_per_document(self) -> float:
        """Bytes of vector storage per document (the graph not counted)."""
        return float(self.vectors.shape[1] * self.vectors.element_size())

    def save(self, path: str | Path) -> Path:
        """Write ``index.safetensors`` and ``index.json`` into directory ``path`` (created); returns the directory."""
        from safetensors.torch import save as st_save

        directory = check_path(path, owner="DocumentIndex.save")
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {"vectors": self.vectors.detach().cpu().contiguous()}
        if self.graph is not None:
            tensors["graph"] = self.graph.cpu().contiguous()
        blob = st_save(tensors)
        manifest = {
            "format": FORMAT,
            "encoder": self.encoder,
            "width": self.width,
            "count": len(self),
            "dtype": str(self.vectors.dtype).removeprefix("torch."),
            "pooling": self.pooling,
            "graph_neighbors": None if self.graph is None else int(self.graph.shape[1]),
            "tensors": {"file": "index.safetensors", "sha256": hashlib.sha256(blob).hexdigest()},
            "extra": self.extra,
            "texts": self.texts,
        }
        atomic_write_bytes(directory / "index.safetensors", blob)
        atomic_write_text(directory / "index.json", json.dumps(manifest))
        return directory

    @classmethod
    def load(cls, path: str | Path) -> DocumentIndex:
        """Read an index written by :meth:`save` (``path`` is its directory).

        Raises:
            ConfigError: a file is missing, the tensor file does not match the manifest's sha256, width or count.
        """
        from safetensors.torch import load as st_load

        directory = check_path(path, owner="DocumentIndex.load")
        man_file, ten_file = directory / "index.json", directory / "index.safetensors"
        if not man_file.is_file() or not ten_file.is_file():
            raise ConfigError(
                f"expected an index directory holding index.json and index.safetensors, got {str(directory)!r}; write one with index.save()"
            )
        manifest = json.loads(man_file.read_text())
        if manifest.get("format") != FORMAT:
            raise ConfigError(
                f"expected an index of format {FORMAT!r}, got {manifest.get('format')!r} in {man_file}; pass an index of format {FORMAT!r}"
            )
        blob = ten_file.read_bytes()
        if hashlib.sha256(blob).hexdigest() != manifest["tensors"]["sha256"]:
            raise ConfigError(
                f"expected {ten_file} to match the sha256 in {man_file}, got another (the index is corrupted); build it again"
            )
        tensors = st_load(blob)
        vectors = tensors["vectors"]
        if tuple(vectors.shape) != (manifest["count"], manifest["width"]):
            raise ConfigError(
                f"expected {manifest['count']} vectors of width {manifest['width']} (manifest), got {tuple(vectors.shape)}; "
                "write the index again with .save()"
            )
        return cls(
            vectors,
            manifest.get("texts"),
            tensors.get("graph"),
            manifest.get("encoder", ""),
            manifest.get("pooling", "mean"),
            manifest.get("extra") or {},
        )
