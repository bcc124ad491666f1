"""The held-out-category split: a pure function of the categories and the seed; test, validation and training disjoint."""

from __future__ import annotations

import pytest

import hypernet as hn
from hypernet.recipes.adapters import heldout_split

CATS = {
    "bbc": ["business", "entertainment", "politics", "sport", "tech"],
    "fortunes": ["computers", "education", "food", "law", "politics", "science", "work"],
}
TEST, VAL = {"bbc": 1, "fortunes": 2}, {"bbc": 1, "fortunes": 2}


def test_same_seed_same_split_and_parts_are_disjoint() -> None:
    splits = {seed: heldout_split(CATS, test=TEST, val=VAL, seed=seed) for seed in range(6)}
    for seed, split in splits.items():
        shuffled = {k: list(reversed(v)) for k, v in CATS.items()}
        assert heldout_split(shuffled, test=TEST, val=VAL, seed=seed) == split  # order of the input does not matter
        for corpus, names in CATS.items():
            parts = [split.test[corpus], split.val[corpus], split.train[corpus]]
            assert [len(p) for p in parts] == [TEST[corpus], VAL[corpus], len(names) - TEST[corpus] - VAL[corpus]]
            assert sorted(x for p in parts for x in p) == sorted(names)  # disjoint and complete
    assert len({tuple(s.test["fortunes"]) for s in splits.values()}) > 1  # the seed matters


def test_split_errors() -> None:
    with pytest.raises(hn.ConfigError, match=r"corpus 'bbc': expected at least 2 training categories.*hold out fewer"):
        heldout_split(CATS, test={"bbc": 2}, val={"bbc": 2}, seed=0)
    with pytest.raises(hn.ConfigError, match=r"seed.*got '0'"):
        heldout_split(CATS, test=TEST, val=VAL, seed="0")  # type: ignore[arg-type]
    with pytest.raises(hn.ConfigError, match=r"got \['news'\]"):
        heldout_split(CATS, test={"news": 1}, val={}, seed=0)
