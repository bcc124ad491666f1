"""Character-level text for language modelling: BBC News articles and Debian fortunes, split by document.

Every document (an article with its title, or one fortune) goes whole to the training or the
validation split (``valid_fraction`` of the documents, seeded), so no text is shared between them.
Documents are joined with a blank line. The vocabulary is the characters of the training split
that occur at least ``min_count`` times, plus id 0 for every other character (``unk``).

Example:
    >>> c = char_corpus({"a": ["hello world", "help"], "b": ["yellow", "hollow"]}, valid_fraction=0.25, seed=0)
    >>> c.vocab[0], len(c.train) + len(c.valid)    # 27 characters and 2 separators in the 3 training documents
    ('\\x00', 31)
    >>> c.decode(c.encode("hello")) == "hello"
    True
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

SEPARATOR = "\n\n"


@dataclass
class CharCorpus:
    """``train`` and ``valid`` as int64 character ids; ``vocab[i]`` is the character of id i (0: unknown)."""

    train: torch.Tensor
    valid: torch.Tensor
    vocab: str

    def encode(self, text: str) -> torch.Tensor:
        index = {ch: i for i, ch in enumerate(self.vocab)}
        return torch.tensor([index.get(ch, 0) for ch in text], dtype=torch.long)

    def decode(self, ids: torch.Tensor) -> str:
        return "".join(self.vocab[i] for i in ids.tolist())


def char_corpus(groups: Mapping[str, Sequence[str]], valid_fraction: float = 0.1, seed: int = 0, min_count: int = 1) -> CharCorpus:
    """Split the documents of ``groups`` (``{label: [text, ...]}``) by document and encode them as characters."""
    docs = [d for label in sorted(groups) for d in groups[label]]
    order = torch.randperm(len(docs), generator=torch.Generator().manual_seed(seed)).tolist()
    n_valid = max(1, int(len(docs) * valid_fraction))
    valid_text = SEPARATOR.join(docs[i] for i in sorted(order[:n_valid]))
    train_text = SEPARATOR.join(docs[i] for i in sorted(order[n_valid:]))
    counts = Counter(train_text)
    vocab = "\x00" + "".join(sorted(ch for ch, n in counts.items() if n >= min_count and ch != "\x00"))
    out = CharCorpus(torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long), vocab)
    out.train, out.valid = out.encode(train_text), out.encode(valid_text)
    return out


def bbc_fortunes_chars(valid_fraction: float = 0.1, seed: int = 0, min_count: int = 20) -> CharCorpus:
    """BBC News (2,225 articles) and the pinned fortune categories, as one character corpus (fetched data)."""
    from .text_corpora import load_bbc, load_fortunes

    groups = {f"bbc/{k}": v for k, v in load_bbc().items()}
    groups.update({f"fortunes/{k}": v for k, v in load_fortunes().items()})
    return char_corpus(groups, valid_fraction, seed, min_count)
