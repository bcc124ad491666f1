"""Function-space diversity: the draws of a noise hypernetwork should disagree *away from the data*.

A weight-space diversity term (:func:`~hypernet.recipes.uncertainty.weight_diversity`)
spreads the draws apart, but says nothing about where their predictions should differ.
Noise-contrastive priors (Hafner et al., "Noise Contrastive Priors for Functional
Uncertainty", 2019) make inputs from the training batch that lie off the data and ask
for high uncertainty there. Here the ask is for *epistemic* uncertainty: the mutual
information between prediction and weights (the draws disagree) on those inputs, so the
predictions on real data stay sharp and calibrated. No out-of-distribution data is used.

Contrast inputs:

* ``"shuffle"``: each sample's features (pixels) in their own random order: the same
  values, none of the structure;
* ``"gaussian"``: ``x + scale * std(x) * N(0, 1)``, with ``std(x)`` over the whole batch;
* any callable ``fn(x) -> x_tilde`` returning a tensor of the same shape.

Example:
    >>> import torch
    >>> x = torch.arange(6.0).view(2, 3)
    >>> contrast_inputs(x, "shuffle").sort(1).values.equal(x)   # same values per row, new order
    True
    >>> agree = torch.zeros(4, 2, 3)                             # 4 draws that agree: no disagreement
    >>> float(draw_disagreement(agree).abs().max()) < 1e-6
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..._boundary import guarded_function
from ..._validation import is_number
from ...errors import ConfigError, describe

CONTRASTS = ("shuffle", "gaussian")
Contrast = str | Callable[[torch.Tensor], torch.Tensor]


def check_contrast(contrast: Contrast | None) -> None:
    """Raise a clear error unless ``contrast`` is ``None``, a name in :data:`CONTRASTS` or a callable."""
    if contrast is None or callable(contrast) or contrast in CONTRASTS:
        return
    raise ConfigError(f"expected contrast in {CONTRASTS}, a callable fn(x) -> x_tilde, or None, got {contrast!r}; pass one of them")


@guarded_function
def contrast_inputs(x: torch.Tensor, contrast: Contrast, scale: float = 1.0) -> torch.Tensor:
    """Off-data inputs made from the batch ``x`` (see the module docstring); same shape as ``x``."""
    check_contrast(contrast)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 1 or x.numel() < 2:
        raise ConfigError(f"expected x to be a float batch of at least 2 values, got {describe(x)}; pass a training batch")
    if not is_number(scale) or scale < 0:
        raise ConfigError(f"expected scale to be a finite number >= 0, got {scale!r}; pass e.g. scale=1.0")
    if callable(contrast):
        out = contrast(x)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            raise ConfigError(
                f"expected the contrast function to return a tensor of shape {tuple(x.shape)}, got {describe(out)}; "
                "return a tensor like x from the function"
            )
        return out
    if contrast == "gaussian":
        return x + scale * x.detach().std() * torch.randn_like(x)
    flat = x.reshape(len(x), -1)
    order = torch.rand(flat.shape, device=x.device).argsort(1)
    return flat.gather(1, order).view_as(x)


def entropy_of_log_probs(log_p: torch.Tensor) -> torch.Tensor:
    """Entropy over the last dimension from log-probabilities: a finite gradient where a probability underflows."""
    return -(log_p.exp() * log_p).sum(-1)


@guarded_function
def draw_disagreement(logits: torch.Tensor) -> torch.Tensor:
    """``(B,)`` mutual information ``H[mean_k p_k] - mean_k H[p_k]`` of ``(K, B, C)`` logits, differentiable.

    Computed from log-probabilities, so its gradient stays finite when a probability underflows.
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3 or logits.shape[0] < 2:
        raise ConfigError(
            f"expected logits (K, B, C) from K >= 2 draws, got {describe(logits)}; pass stacked logits of several weight draws"
        )
    log_p = logits.log_softmax(-1)
    log_mean = torch.logsumexp(log_p, 0) - math.log(logits.shape[0])
    return entropy_of_log_probs(log_mean) - entropy_of_log_probs(log_p).mean(0)
