"""Held-out categories: a split of each corpus's categories into training, validation and test, fixed by a seed.

Zero-shot generalisation to *unseen kinds* of task is measured on categories that no training
task contains (not even as the other class of a pair). Settings are chosen on the validation
categories and reported on the test categories, which are disjoint from them; the split is a
pure function of the categories and the seed, so it can be declared before any run.

Example:
    >>> split = heldout_split({"news": ["a", "b", "c", "d", "e"]}, test={"news": 1}, val={"news": 1}, seed=0)
    >>> split == heldout_split({"news": ["e", "d", "c", "b", "a"]}, test={"news": 1}, val={"news": 1}, seed=0)
    True
    >>> sorted(split.train["news"] + split.val["news"] + split.test["news"])
    ['a', 'b', 'c', 'd', 'e']
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..._boundary import guarded_function
from ..._validation import check_int
from ...errors import ConfigError


@dataclass(frozen=True)
class HeldoutSplit:
    """Categories per corpus: ``train`` (in training tasks), ``val`` (choose settings on these), ``test`` (report these)."""

    train: dict[str, list[str]]
    val: dict[str, list[str]]
    test: dict[str, list[str]]
    seed: int


@guarded_function
def heldout_split(
    categories: Mapping[str, Sequence[str]], *, test: Mapping[str, int], val: Mapping[str, int], seed: int, min_train: int = 2
) -> HeldoutSplit:
    """Hold out ``test[c]`` and ``val[c]`` whole categories of each corpus ``c`` (disjoint), the same for the same seed.

    The categories are sorted first, so the order they are given in does not matter. At least
    ``min_train`` categories per corpus stay for training (a pair task needs two).
    """
    seed = check_int(seed, "seed", owner="heldout_split", hint="pass e.g. seed=0")
    unknown = sorted((set(test) | set(val)) - set(categories))
    if unknown:
        raise ConfigError(f"expected test/val counts for corpora among {sorted(categories)}, got {unknown}; use those names")
    rng = random.Random(seed)
    out: tuple[dict[str, list[str]], dict[str, list[str]], dict[str, list[str]]] = ({}, {}, {})
    for corpus in sorted(categories):
        names = sorted(set(categories[corpus]))
        n_test = check_int(test.get(corpus, 0), f"test[{corpus!r}]", low=0, owner="heldout_split")
        n_val = check_int(val.get(corpus, 0), f"val[{corpus!r}]", low=0, owner="heldout_split")
        if len(names) - n_test - n_val < min_train:
            raise ConfigError(
                f"corpus {corpus!r}: expected at least {min_train} training categories after holding out {n_test} test and "
                f"{n_val} validation ones, got {len(names)} categories; hold out fewer"
            )
        rng.shuffle(names)
        out[2][corpus] = sorted(names[:n_test])
        out[1][corpus] = sorted(names[n_test : n_test + n_val])
        out[0][corpus] = sorted(names[n_test + n_val :])
    return HeldoutSplit(out[0], out[1], out[2], seed)
