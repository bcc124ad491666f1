"""Diversity terms on K generated weight sets, so the draws of a noise hypernetwork do not collapse to one.

Trained on the likelihood alone, a noise-conditioned hypernetwork learns to ignore its
noise: every draw becomes the same network and the "ensemble" carries no epistemic
uncertainty. Bayesian hypernetworks (Krueger et al., 2017) keep the draws apart with
the entropy of the weight distribution in the variational objective
``E[NLL] - H[q(w)] / N + KL-style prior terms``; HyperGAN (Ratzlaff & Fuxin, 2019)
with an entropy-like regulariser on the generated codes. With only K draws per step
the entropy has to be estimated; both terms here are differentiable estimates that
*decrease* as the draws spread out, so they are added to the loss with a weight.

* ``"entropy"``: the Kozachenko-Leonenko nearest-neighbour estimate. Up to constants,
  ``H[q] ~ (D / K) sum_i log rho_i`` with ``rho_i`` the distance from draw i to its
  nearest other draw and D the number of weights. Returned per dimension and
  negated: ``-(1/K) sum_i log(rho_i / sqrt(D))``, so ``weight * D / N`` gives the
  entropy term of the per-sample variational objective.
* ``"pairwise"``: ``-mean_{i<j} log(d_ij / sqrt(D))`` over all pairs: a smoother
  repulsion that every pair feels, not only nearest neighbours.

Example:
    >>> import torch
    >>> w = torch.randn(5, 1000)
    >>> bool(weight_diversity(0.1 * w) > weight_diversity(w))    # closer draws -> larger penalty
    True
    >>> round(float(weight_diversity(w) - weight_diversity(2 * w)), 4)  # log 2 per doubling of the spread
    0.6931
"""

from __future__ import annotations

import math

import torch

from ..._boundary import guarded_function
from ..._validation import check_float
from ...errors import ConfigError, describe

KINDS = ("entropy", "pairwise")


@guarded_function
def weight_diversity(weights: torch.Tensor, kind: str = "entropy", eps: float = 1e-8) -> torch.Tensor:
    """A loss term that falls as the ``(K, D)`` weight draws spread apart (see the module docstring).

    Args:
        weights: K >= 2 flat weight sets, e.g. ``model.flat_weights(z)`` for K noise draws ``z``.
        kind: ``"entropy"`` (nearest-neighbour entropy estimate) or ``"pairwise"`` (all pairs).
        eps: added to squared distances, so identical draws give a large but finite value.

    Returns:
        A scalar tensor (in the autograd graph).
    """
    if kind not in KINDS:
        raise ConfigError(f"expected kind in {KINDS}, got {kind!r}; pass one of them")
    if not isinstance(weights, torch.Tensor) or weights.dim() != 2 or weights.shape[0] < 2 or not weights.dtype.is_floating_point:
        raise ConfigError(f"expected weights as a float tensor (K, D) with K >= 2 draws, got {describe(weights)}; draw samples >= 2")
    k, d = weights.shape
    # per-dimension squared distances, from explicit differences (exact, and a finite gradient for identical draws)
    sq = torch.stack([(weights - weights[i]).pow(2).sum(1) for i in range(k)]) / d
    check_float(eps, "eps", low=0, low_open=True, owner="weight_diversity")
    log_dist = 0.5 * (sq + eps).log()
    if kind == "entropy":
        mask = torch.eye(k, dtype=torch.bool, device=weights.device)
        nearest = log_dist.masked_fill(mask, math.inf).min(dim=1).values
        return -nearest.mean()
    upper = torch.triu_indices(k, k, offset=1, device=weights.device)
    return -log_dist[upper[0], upper[1]].mean()
