"""Retrieval tasks of the recipe and its benchmark: BBC known-item, a small word corpus, a synthetic non-linear set.

* :func:`bbc_known_item`: BBC News (2,225 articles). Train on the (title, body) pairs of 60 % of the
  articles; the other 40 % give two query sets against the whole corpus of bodies: their titles, and one
  sentence from the middle of their body, which is removed from the indexed body.
* :func:`word_corpus`: random word documents and two-word queries (the tiny CLI example).
* :func:`synthetic_relevance`: document vectors in ``d`` dimensions whose relevant sets no inner product
  ranks first: "opposite clusters" (a query's relevant documents lie around ``+c`` and ``-c``) and "xor"
  (relevant when exactly one of two binary features is on).

Example:
    >>> task = word_corpus(n_docs=20, seed=0)
    >>> len(task.corpus), len(task.train) > 0, len(task.test["words"]) > 0
    (20, True, True)
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass, field

import torch


@dataclass
class RetrievalTask:
    """A corpus, training pairs ``(query, doc id)`` and named test query sets ``{name: [(query, {relevant ids})]}``."""

    corpus: list[str]
    train: list[tuple[str, int]]
    test: dict[str, list[tuple[str, set[int]]]]
    valid: dict[str, list[tuple[str, set[int]]]] = field(default_factory=dict)


def _middle_sentence(body: str) -> tuple[str, str] | None:
    """``(sentence, body without it)`` for the middle sentence of at least 6 words, or ``None``."""
    parts = [p for p in re.split(r"(?<=[.!?])\s+", body.strip()) if p]
    if len(parts) < 3:
        return None
    order = sorted(range(len(parts)), key=lambda i: abs(i - (len(parts) - 1) / 2))
    for i in order:
        if len(parts[i].split()) >= 6:
            return parts[i], " ".join(parts[:i] + parts[i + 1 :])
    return None


def bbc_known_item(
    path: str | None = None, *, split_seed: int = 0, train_fraction: float = 0.6, valid_fraction: float = 0.1
) -> RetrievalTask:
    """BBC known-item retrieval (see the module docstring); ``valid`` holds titles of ``valid_fraction`` of the training articles."""
    from ...data.text_corpora import load_bbc

    articles = [a for texts in load_bbc(path).values() for a in texts]
    titles, bodies = [], []
    for a in articles:
        title, _, body = a.partition("\n")
        titles.append(title.strip())
        bodies.append(body.strip())
    order = list(range(len(articles)))
    random.Random(split_seed).shuffle(order)
    n_train = round(train_fraction * len(order))
    train_ids, test_ids = order[:n_train], order[n_train:]
    n_valid = round(valid_fraction * n_train)
    valid_ids, fit_ids = train_ids[:n_valid], train_ids[n_valid:]
    corpus = list(bodies)
    sentences = []
    for i in test_ids:
        cut = _middle_sentence(bodies[i])
        if cut is not None:
            sentences.append((cut[0], {i}))
            corpus[i] = cut[1]
    return RetrievalTask(
        corpus,
        [(titles[i], i) for i in fit_ids],
        {"titles": [(titles[i], {i}) for i in test_ids], "sentences": sentences},
        {"titles": [(titles[i], {i}) for i in valid_ids]},
    )


WORDS = [f"w{i}" for i in range(40)]


def word_corpus(n_docs: int = 60, *, words: int = 6, seed: int = 0) -> RetrievalTask:
    """Random documents of ``words`` words; a query is two words of one document (3 training queries per document, 1 other test query)."""
    rng = random.Random(seed)
    corpus = [" ".join(rng.sample(WORDS, words)) for _ in range(n_docs)]
    pairs = [[" ".join(p) for p in itertools.combinations(corpus[i].split(), 2)] for i in range(n_docs)]
    for p in pairs:
        rng.shuffle(p)
    train = [(q, i) for i in range(n_docs) for q in pairs[i][:3]]
    test = [(pairs[i][3], {i}) for i in range(n_docs)]
    return RetrievalTask(corpus, train, {"words": test})


@dataclass
class SyntheticSet:
    """Document ``vectors`` ``(N, d)``; query names (texts of tokens) with relevant sets, for training and testing."""

    vectors: torch.Tensor
    train: list[tuple[str, int]]
    test: dict[str, list[tuple[str, set[int]]]]
    vocab: list[str]
    train_negatives: list[list[int]] = field(default_factory=list)
    val: dict[str, list[tuple[str, set[int]]]] = field(default_factory=dict)


def synthetic_relevance(
    d: int = 32,
    *,
    clusters: int = 8,
    features: int = 8,
    per_cluster: int = 5,
    noise: float = 0.1,
    seed: int = 0,
    validation: bool = False,
) -> SyntheticSet:
    """The synthetic non-linear relevance set; every query has ``2 * per_cluster`` relevant test documents in two clusters.

    With orthonormal directions ``u_0, u_1, ...`` in ``d`` dimensions (``noise`` per coordinate around each cluster):

    * ``opposite c<k>``: the clusters at ``+u_k`` and ``-u_k`` are relevant (an inner product ranks one first, the other last);
    * ``xor f<a> f<b>``: four clusters at ``(+-u_a +- u_b) / sqrt 2``; the two with opposite signs are relevant
      (exclusive or of the two signs: not linearly separable).

    Documents are drawn twice, alike: the first half gives the training pairs, the second half the test
    sets (search all of ``vectors``; relevant ids are second-half ids). ``validation=True`` draws a third
    part after those two (so the first two are unchanged) for the ``val`` sets, to choose settings on.

    Example:
        >>> data = synthetic_relevance(32, clusters=2, features=3, per_cluster=4, validation=True)
        >>> data.vectors.shape[0] == 3 * 4 * (2 * 2 + 4 * 3)
        True
        >>> sorted(data.val) == sorted(data.test)
        True
    """
    gen = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(d, d, generator=gen))[0].T  # rows: orthonormal directions
    if clusters + features > d:
        raise ValueError(
            f"expected clusters + features <= d, got {clusters} + {features} > {d}; reduce clusters or features, or increase d"
        )
    places: list[tuple[str, torch.Tensor, bool]] = []  # (query, centre, relevant)
    for k in range(clusters):
        places += [(f"opposite c{k}", sign * basis[k], True) for sign in (1.0, -1.0)]
    for a in range(features):
        for b in range(a + 1, features):
            ua, ub = basis[clusters + a], basis[clusters + b]
            for sa in (1.0, -1.0):
                for sb in (1.0, -1.0):
                    places.append((f"xor f{a} f{b}", (sa * ua + sb * ub) / 2**0.5, sa != sb))
    vectors, owners = [], []
    for half in range(3 if validation else 2):
        for name, centre, rel in places:
            vectors.append(centre + noise * torch.randn(per_cluster, d, generator=gen))
            owners += [(half, name, rel)] * per_cluster
    train: list[tuple[str, int]] = [(name, i) for i, (half, name, rel) in enumerate(owners) if half == 0 and rel]
    # hard negatives of a training pair: its query's own irrelevant clusters (xor), else documents of other queries
    own = {name: [i for i, (half, n, rel) in enumerate(owners) if half == 0 and n == name and not rel] for name, _, _ in places}
    first = [i for i, (half, _, _) in enumerate(owners) if half == 0]
    negatives = [own[name] or [i for i in first if owners[i][1] != name] for name, _ in train]
    test: dict[str, list[tuple[str, set[int]]]] = {"opposite": [], "xor": []}
    val: dict[str, list[tuple[str, set[int]]]] = {"opposite": [], "xor": []} if validation else {}
    for name in dict.fromkeys(n for n, _, _ in places):
        for part, sets in ((1, test), (2, val)):
            if sets:
                relevant = {i for i, (half, n, rel) in enumerate(owners) if half == part and rel and n == name}
                sets[name.split()[0]].append((name, relevant))
    vocab = ["opposite", "xor", *[f"c{k}" for k in range(clusters)], *[f"f{a}" for a in range(features)]]
    return SyntheticSet(torch.cat(vectors), train, test, vocab, negatives, val)


class WordTokenizer:
    """An exact whitespace tokenizer over a fixed vocabulary (unknown words -> 3), with the Hugging Face call signature.

    Ids: padding 0, ``[CLS]`` 1, ``[SEP]`` 2, unknown 3, then the vocabulary in order.
    """

    def __init__(self, vocab: list[str]):
        self.vocab = {w: i + 4 for i, w in enumerate(vocab)}
        self.vocab_size = len(vocab) + 4

    def __call__(
        self, texts: list[str], *, padding: object = True, truncation: bool = True, max_length: int = 64, return_tensors: str = "pt"
    ) -> dict[str, torch.Tensor]:
        rows = [[*[1, *[self.vocab.get(w, 3) for w in t.split()]][: max_length - 1], 2] for t in texts]
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        return {"input_ids": ids, "attention_mask": mask}


def tiny_bert(vocab_size: int, width: int = 32, *, layers: int = 2, seed: int = 0) -> torch.nn.Module:
    """A randomly initialised small ``BertModel`` (no download; transformers needed)."""
    from transformers import BertConfig, BertModel

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        cfg = BertConfig(
            vocab_size=vocab_size,
            hidden_size=width,
            num_hidden_layers=layers,
            num_attention_heads=4,
            intermediate_size=2 * width,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            max_position_embeddings=128,
        )
        return BertModel(cfg).eval()
