"""Uncertainty metrics on predicted probabilities: entropy, mutual information, NLL, ECE, reliability bins, AUROC.

All work on torch tensors of probabilities (rows sum to 1), natural logarithms.

Example:
    >>> import torch
    >>> p = torch.tensor([[[0.9, 0.1], [0.5, 0.5]], [[0.1, 0.9], [0.5, 0.5]]])  # 2 draws, 2 inputs
    >>> [round(v, 3) for v in entropy(p.mean(0)).tolist()], [round(v, 3) for v in mutual_information(p).tolist()]
    ([0.693, 0.693], [0.368, 0.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..._boundary import guarded_function
from ..._validation import check_int
from ...errors import ConfigError, describe


def _check_probs(probs: torch.Tensor, min_dim: int, what: str) -> None:
    if not isinstance(probs, torch.Tensor) or not probs.dtype.is_floating_point or probs.dim() < min_dim:
        raise ConfigError(
            f"expected {what} as a float tensor with at least {min_dim} dims (classes last), got {describe(probs)}; "
            f"pass a float tensor with at least {min_dim} dims (classes last)"
        )


@guarded_function
def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy ``-sum_c p_c log p_c`` over the last dimension (``0 log 0 = 0``)."""
    _check_probs(probs, 1, "probabilities")
    return -torch.special.xlogy(probs, probs).sum(-1)


@guarded_function
def mutual_information(sample_probs: torch.Tensor) -> torch.Tensor:
    """Epistemic uncertainty ``H[E_k p_k] - E_k H[p_k]`` of ``(K, ..., C)`` per-draw probabilities.

    The mutual information between the prediction and the weights (BALD); zero
    when all draws agree. Clamped at 0 against rounding.
    """
    _check_probs(sample_probs, 2, "per-draw probabilities (K, ..., C)")
    return (entropy(sample_probs.mean(0)) - entropy(sample_probs).mean(0)).clamp_min(0.0)


def _check_labels(probs: torch.Tensor, labels: torch.Tensor) -> None:
    _check_probs(probs, 2, "probabilities (N, C)")
    if not isinstance(labels, torch.Tensor) or labels.dtype.is_floating_point or labels.shape != probs.shape[:1]:
        raise ConfigError(
            f"expected integer labels of shape ({probs.shape[0]},), got {describe(labels)}; "
            f"pass integer labels of shape ({probs.shape[0]},)"
        )


@guarded_function
def negative_log_likelihood(probs: torch.Tensor, labels: torch.Tensor, eps: float = 1e-12) -> float:
    """Mean ``-log p_y`` of ``(N, C)`` probabilities (clamped at ``eps``)."""
    _check_labels(probs, labels)
    return float(-probs.gather(1, labels[:, None]).clamp_min(eps).log().mean())


@dataclass
class Reliability:
    """A reliability diagram: per confidence bin, the mean confidence, the accuracy and the number of samples."""

    edges: torch.Tensor
    confidence: torch.Tensor
    accuracy: torch.Tensor
    count: torch.Tensor

    @property
    def ece(self) -> float:
        """Expected calibration error: ``sum_b n_b / N * |acc_b - conf_b|``."""
        weight = self.count / self.count.sum().clamp_min(1)
        return float((weight * (self.accuracy - self.confidence).abs()).sum())


@guarded_function
def reliability(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> Reliability:
    """Bin predictions by confidence (max probability) into ``bins`` equal-width bins of ``(0, 1]``.

    Example:
        >>> import torch
        >>> r = reliability(torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 0]), bins=10)
        >>> round(r.ece, 3)
        0.45
    """
    _check_labels(probs, labels)
    check_int(bins, "bins", low=1)
    conf, pred = probs.max(1)
    correct = (pred == labels).to(probs.dtype)
    edges = torch.linspace(0, 1, bins + 1, dtype=probs.dtype)
    index = (torch.bucketize(conf, edges[1:-1], right=False)).clamp(0, bins - 1)  # bin b holds (edges[b], edges[b+1]]
    count = torch.zeros(bins, dtype=probs.dtype).index_add_(0, index, torch.ones_like(conf))
    conf_sum = torch.zeros(bins, dtype=probs.dtype).index_add_(0, index, conf)
    acc_sum = torch.zeros(bins, dtype=probs.dtype).index_add_(0, index, correct)
    safe = count.clamp_min(1)
    return Reliability(edges, conf_sum / safe, acc_sum / safe, count)


@guarded_function
def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """ECE with ``bins`` equal-width confidence bins (15 as in Guo et al., 2017)."""
    return reliability(probs, labels, bins).ece


@guarded_function
def auroc(negatives: torch.Tensor, positives: torch.Tensor) -> float:
    """Area under the ROC curve for telling ``positives`` (e.g. out-of-distribution scores) from ``negatives``.

    The Mann-Whitney statistic: the probability that a random positive scores higher
    than a random negative, ties counting one half.

    Example:
        >>> import torch
        >>> auroc(torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0.25, 0.4]))
        0.8333333333333334
    """
    for name, t in (("negatives", negatives), ("positives", positives)):
        if not isinstance(t, torch.Tensor) or t.dim() != 1 or t.numel() == 0:
            raise ConfigError(
                f"expected {name} as a non-empty 1-d tensor of scores, got {describe(t)}; pass a non-empty 1-d tensor of scores"
            )
    scores = torch.cat([negatives, positives]).double()
    order = scores.argsort()
    ranks = torch.empty_like(scores)
    ranks[order] = torch.arange(1, len(scores) + 1, dtype=torch.float64)
    unique, inverse, counts = torch.unique(scores, return_inverse=True, return_counts=True)
    mean_rank = torch.zeros(len(unique), dtype=torch.float64).index_add_(0, inverse, ranks) / counts  # ties share their mean rank
    ranks = mean_rank[inverse]
    n_neg, n_pos = len(negatives), len(positives)
    u = float(ranks[n_neg:].sum()) - n_pos * (n_pos + 1) / 2
    return u / (n_neg * n_pos)
