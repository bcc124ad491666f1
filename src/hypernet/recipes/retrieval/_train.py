"""Contrastive training of a dual encoder: in-batch negatives plus hard (BM25) negatives, cross-entropy, checkpoints.

Each step draws ``batch_size`` pairs with distinct positives. The documents of the step are the
positives and one hard negative per query; every query is scored against all of them, and the loss is
the cross-entropy of its positive among them (scores divided by the model's ``temperature``). Documents
relevant to a query other than its positive are masked out of its row (no false negatives).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ...errors import ConfigError
from ...training.loop import checked_step

# the DualEncoder that calls fit_dual (typed loosely: _dual imports this module, so this one may not import _dual)
DualEncoder = Any
Features = tuple[torch.Tensor, ...]


def _check_pairs(pairs: Sequence[tuple[str, int]], n_docs: int) -> tuple[list[str], list[int]]:
    if not pairs:
        raise ConfigError("expected at least one (query, document id) pair to fit, got none; pass training pairs")
    queries, docs = [], []
    for i, pair in enumerate(pairs):
        if len(pair) != 2 or not isinstance(pair[0], str) or not isinstance(pair[1], int) or not 0 <= pair[1] < n_docs:
            raise ConfigError(
                f"expected pairs of (query text, document id in [0, {n_docs})), got {pair!r} at position {i}; pass (str, int) pairs"
            )
        queries.append(pair[0])
        docs.append(pair[1])
    return queries, docs


def fit_dual(
    model: DualEncoder,
    pairs: Sequence[tuple[str, int]],
    corpus: Sequence[str] | None,
    *,
    features: Features | None,
    negatives: str | Sequence[Sequence[int]] | None,
    steps: int,
    batch_size: int,
    lr: float,
    head_lr: float,
    weight_decay: float,
    seed: int,
    checkpoint_dir: str | Path | None,
    checkpoint_every: int,
    resume: bool,
    callback: Callable[[int, float], None] | None,
) -> DualEncoder:
    """See :meth:`DualEncoder.fit`."""
    from ...training.checkpoint import latest_checkpoint, save_checkpoint

    if corpus is None and features is None:
        raise ConfigError("expected the corpus texts or precomputed document features to fit on, got neither; pass corpus= or features=")
    if features is not None and not model.freeze_documents:
        raise ConfigError(
            "expected freeze_documents=True with precomputed document features (else the document side trains), "
            "got freeze_documents=False; pass the corpus instead"
        )
    n_docs = len(corpus) if corpus is not None else int(features[0].shape[0])  # type: ignore[index]
    if n_docs == 0:
        raise ConfigError("expected a non-empty corpus to fit on, got an empty one; pass at least one document")
    if steps < 1 or batch_size < 2:
        raise ConfigError(f"expected steps >= 1 and batch_size >= 2, got {steps} and {batch_size}; pass larger values")
    queries, positives = _check_pairs(pairs, n_docs)
    relevant: dict[str, set[int]] = {}
    for q, d in zip(queries, positives, strict=True):
        relevant.setdefault(q, set()).add(d)
    if negatives == "bm25":
        if corpus is None:
            raise ConfigError("expected the corpus texts for BM25 negatives, got corpus=None; pass corpus= or negatives=None")
        from ._bm25 import hard_negatives

        uniq = sorted(relevant)
        per_query = dict(zip(uniq, hard_negatives(corpus, uniq, [relevant[q] for q in uniq]), strict=True))
        negs: list[list[int]] | None = [per_query[q] for q in queries]
    elif negatives is None:
        negs = None
    elif isinstance(negatives, str):
        raise ConfigError(f"expected negatives='bm25', None or per-pair lists of ids, got {negatives!r}; pass one of them")
    else:
        negs = [list(n) for n in negatives]
        if len(negs) != len(queries):
            raise ConfigError(f"expected one list of negative ids per pair ({len(queries)}), got {len(negs)}; pass one list per pair")
    if model.freeze_documents and features is None:
        assert corpus is not None
        features = model.document_features(corpus)

    sampler = torch.Generator().manual_seed(seed)
    enc_ids = {id(p) for p in model.encoder.parameters()}
    groups = [
        {"params": [p for p in model.encoder.parameters() if p.requires_grad], "lr": lr},
        {"params": [p for p in model.head_parameters() if id(p) not in enc_ids], "lr": head_lr},
    ]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=weight_decay)
    params = [p for g in optimizer.param_groups for p in g["params"]]  # what the gradient checks look at
    start = 0
    if resume and checkpoint_dir is not None:
        ckpt = latest_checkpoint(checkpoint_dir)
        if ckpt is not None:
            ckpt.restore(model, optimizer)
            sampler.set_state(ckpt.tensors["rng/sampler"])
            start = ckpt.step
    model.train()
    if model.doc_encoder is not None:
        model.doc_encoder.eval()
    for step in range(start, steps):
        order = torch.randperm(len(queries), generator=sampler).tolist()
        batch: list[int] = []
        used: set[int] = set()
        for i in order:
            if positives[i] not in used and queries[i] not in {queries[j] for j in batch}:
                batch.append(i)
                used.add(positives[i])
            if len(batch) == batch_size:
                break
        doc_ids = [positives[i] for i in batch]
        if negs is not None:
            for i in batch:
                options = [d for d in negs[i] if d not in used]
                if options:
                    pick = options[int(torch.randint(len(options), (1,), generator=sampler))]
                    doc_ids.append(pick)
                    used.add(pick)
        ids = torch.tensor(doc_ids)
        if features is not None:
            docs = model.doc_repr(tuple(f[ids] for f in features))  # the features of documents ids
        else:
            assert corpus is not None
            docs = model.doc_repr(model.document_features([corpus[d] for d in doc_ids], batch_size=len(doc_ids), grad=True))
        reps = model.encode_queries([queries[i] for i in batch])
        s = model.scores(reps, docs) / model.temperature
        mask = torch.zeros_like(s, dtype=torch.bool)
        for r, i in enumerate(batch):
            for c, d in enumerate(doc_ids):
                mask[r, c] = c != r and d in relevant[queries[i]]
        loss = F.cross_entropy(s.masked_fill(mask, float("-inf")), torch.arange(len(batch)))
        where = f"step {step + 1} of {type(model).__name__}.fit"
        step_loss = checked_step(loss, optimizer, params, where=where, fix="lower lr or head_lr", first=step == start)
        if callback is not None:
            callback(step + 1, step_loss)
        done = step + 1
        if checkpoint_dir is not None and (done % checkpoint_every == 0 or done == steps):
            save_checkpoint(
                checkpoint_dir, step=done, model=model, optimizer=optimizer, tensors={"rng/sampler": sampler.get_state()}, keep_last=2
            )
    model.eval()
    return model
