"""The benchmark's data: DomainBed-style rotated domains and the character corpus."""

from __future__ import annotations

import torch

from hypernet.data.char_text import char_corpus
from hypernet.data.rotated import rotate, rotated_domains


def test_rotate_by_90_is_an_exact_counter_clockwise_quarter_turn() -> None:
    torch.manual_seed(0)
    x = torch.rand(3, 784)
    got = rotate(x, 90.0).view(3, 28, 28)
    torch.testing.assert_close(got, torch.rot90(x.view(3, 28, 28), 1, dims=(1, 2)), atol=1e-5, rtol=0)
    torch.testing.assert_close(rotate(x, 0.0).view(3, 784), x, atol=1e-5, rtol=0)


def test_domains_deal_every_image_once_and_hold_out_a_fifth() -> None:
    x = torch.arange(100, dtype=torch.float32).repeat_interleave(784).view(100, 784) / 100  # image i is the constant i/100
    y = torch.arange(100)
    domains = rotated_domains(x, y, angles=(0.0, 30.0), seed=1)
    seen = torch.cat([torch.cat([d.y_in, d.y_out]) for d in domains])
    assert sorted(seen.tolist()) == list(range(100))
    for d in domains:
        assert len(d.y_out) == 10 and len(d.y_in) == 40
        # labels travel with their images (the centre pixel of a constant image keeps its value under rotation)
        torch.testing.assert_close(d.x_in[:, 0, 14, 14], d.y_in.float() / 100)
    assert domains[0].y_in.tolist() != rotated_domains(x, y, angles=(0.0, 30.0), seed=2)[0].y_in.tolist()


def test_char_corpus_splits_by_document() -> None:
    groups = {"a": [f"doc{i} " + "x" * i for i in range(20)]}
    c = char_corpus(groups, valid_fraction=0.25, seed=0)
    valid = c.decode(c.valid).split("\n\n")
    train = c.decode(c.train).split("\n\n")
    assert len(valid) == 5 and len(train) == 15 and not set(valid) & set(train)
    assert sorted(valid + train) == sorted(groups["a"])
