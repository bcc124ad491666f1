"""The surrogates that seed the graph search: the quadratic fit is exact on a quadratic score, and beats the linear one on a q-net."""

from __future__ import annotations

import torch

from hypernet.recipes.retrieval._proxy import _quadratic_fit, linear_seeds, quadratic_seeds
from hypernet.recipes.retrieval._qnet import QNetWeights, qnet_scores


def test_quadratic_fit_recovers_a_quadratic_score_exactly() -> None:
    torch.manual_seed(0)
    d, r = 12, 3
    w0, u0 = torch.randn(d), torch.linalg.qr(torch.randn(d, r))[0]
    c0 = torch.randn(r, r)
    c0 = c0 + c0.T

    def score(x: torch.Tensor) -> torch.Tensor:
        z = x @ u0
        return x @ w0 + ((z @ c0) * z).sum(-1)

    sample = torch.randn(400, d)
    grads = w0 + 2 * (sample @ u0) @ c0 @ u0.T  # the exact gradient of score
    w, u, c = _quadratic_fit(score(sample), grads, sample, r)
    fresh = torch.randn(50, d)
    z = fresh @ u
    fitted = fresh @ w + ((z @ c) * z).sum(-1)
    offset = (score(sample) - (sample @ w + (((sample @ u) @ c) * (sample @ u)).sum(-1))).mean()
    torch.testing.assert_close(fitted + offset, score(fresh), atol=1e-3, rtol=1e-3)


def test_quadratic_seeds_find_more_of_a_qnets_top_documents_than_linear_seeds() -> None:
    torch.manual_seed(1)
    docs = torch.randn(4000, 24)
    hits = {"linear": 0, "quadratic": 0}
    for _ in range(4):
        qnet = QNetWeights([torch.randn(1, 24, 32) / 24**0.5, torch.randn(1, 32, 1)], [torch.randn(1, 32)])
        best = qnet_scores(qnet, docs)[0].topk(10).indices
        hits["linear"] += int(torch.isin(best, linear_seeds(qnet, docs, 80)[0]).sum())
        seeds = quadratic_seeds(qnet, docs, 80)
        assert seeds.shape == (1, 80) and seeds.unique().numel() == 80
        hits["quadratic"] += int(torch.isin(best, seeds[0]).sum())
    assert hits["quadratic"] > hits["linear"], hits


def test_quadratic_seeds_fall_back_to_linear_on_a_tiny_index() -> None:
    torch.manual_seed(2)
    docs = torch.randn(50, 24)
    qnet = QNetWeights([torch.randn(2, 24, 8), torch.randn(2, 8, 1)], [torch.randn(2, 8)])
    assert torch.equal(quadratic_seeds(qnet, docs, 5), linear_seeds(qnet, docs, 5))
