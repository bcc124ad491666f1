"""Predictive uncertainty from K weight draws: noise hypernetworks, MC dropout and deep ensembles.

A :class:`~hypernet.HyperModel` with a :class:`~hypernet.Noise` condition is an
implicit distribution over the target's weights (Krueger et al., "Bayesian
Hypernetworks", 2017; Ratzlaff & Fuxin, "HyperGAN", 2019). ``model(x, None,
samples=K)`` runs K draws in one batched call; :func:`predictive` turns the K
predictions into the mean probabilities, the predictive entropy (total uncertainty)
and the mutual information between prediction and weights (the epistemic part).
The same function handles a deep ensemble (a sequence of modules) and MC dropout
(a module with dropout layers and ``samples=K``).

Train a noise hypernetwork with :class:`NoiseStep` on :func:`hypernet.training.fit`:
the cross-entropy averaged over K draws, plus ``diversity_weight`` times a
:func:`weight_diversity` term that keeps the draws apart (without it they collapse
to one network and the mutual information goes to zero), and optionally a
function-space term (``contrast="shuffle"``) that makes the draws disagree on
off-data inputs built from the batch.

Example:
    >>> import torch, hypernet as hn
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> model = hn.HyperModel(nn.Linear(4, 3), condition=hn.Noise(dim=8), generator="mlp")
    >>> pred = hn.predictive(model, torch.randn(10, 4), samples=20)
    >>> pred.sample_probs.shape, pred.probs.shape, pred.entropy.shape
    (torch.Size([20, 10, 3]), torch.Size([10, 3]), torch.Size([10]))
    >>> bool((pred.mutual_information >= 0).all() and (pred.mutual_information <= pred.entropy + 1e-6).all())
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..._boundary import guarded, guarded_function
from ..._model import HyperModel
from ..._validation import check_choice, check_float, check_int
from ...conditions import Noise
from ...errors import ConfigError, describe
from .contrast import Contrast, check_contrast, contrast_inputs, draw_disagreement
from .diversity import KINDS, weight_diversity
from .metrics import (
    Reliability,
    auroc,
    entropy,
    expected_calibration_error,
    mutual_information,
    negative_log_likelihood,
    reliability,
)

__all__ = [
    "NoiseStep",
    "Predictive",
    "Reliability",
    "auroc",
    "entropy",
    "expected_calibration_error",
    "mutual_information",
    "negative_log_likelihood",
    "predictive",
    "reliability",
    "weight_diversity",
]


@guarded()
@dataclass
class Predictive:
    """K per-draw predictions and the uncertainty they imply.

    Attributes:
        sample_probs: ``(K, B, C)`` class probabilities of each draw.
    """

    sample_probs: torch.Tensor

    @classmethod
    def from_logits(cls, logits: torch.Tensor) -> Predictive:
        """From ``(K, B, C)`` logits (softmax over the last dimension)."""
        if not isinstance(logits, torch.Tensor) or logits.dim() != 3:
            raise ConfigError(f"expected logits of shape (K, B, C), got {describe(logits)}; stack the K draws' (B, C) logits first")
        return cls(logits.float().softmax(-1))

    @property
    def probs(self) -> torch.Tensor:
        """``(B, C)`` mean probabilities over the draws (the Bayesian model average)."""
        return self.sample_probs.mean(0)

    @property
    def entropy(self) -> torch.Tensor:
        """``(B,)`` predictive entropy ``H[mean_k p_k]``: total uncertainty."""
        return entropy(self.probs)

    @property
    def expected_entropy(self) -> torch.Tensor:
        """``(B,)`` mean entropy of the draws ``mean_k H[p_k]``: the aleatoric part."""
        return entropy(self.sample_probs).mean(0)

    @property
    def mutual_information(self) -> torch.Tensor:
        """``(B,)`` entropy minus expected entropy: the epistemic part (zero when all draws agree)."""
        return mutual_information(self.sample_probs)


def _dropouts(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


def _chunks(x: torch.Tensor, batch_size: int | None) -> list[torch.Tensor]:
    return [x] if batch_size is None else list(x.split(batch_size))


@torch.no_grad()
@guarded_function
def predictive(
    model: nn.Module | Sequence[nn.Module],
    x: torch.Tensor,
    samples: int | None = None,
    *,
    draws: torch.Tensor | None = None,
    batch_size: int | None = None,
) -> Predictive:
    """K predictions for ``x`` and their mean probabilities, entropy and mutual information.

    Args:
        model: a :class:`~hypernet.HyperModel` with a :class:`~hypernet.Noise`
            condition (K weight draws in one batched call per chunk); a sequence of
            modules (a deep ensemble, one draw each); or a module, run once, or
            ``samples`` times with its dropout layers active (MC dropout).
            Modules should return logits; they run in their current mode (call
            ``.eval()`` first), without gradients.
        x: a batch of inputs.
        samples: K, the number of draws (noise / MC dropout).
        draws: explicit ``(K, noise_dim)`` noise draws for a noise hypernetwork
            (reproducible predictions); by default K fresh draws are taken once and
            shared by all chunks.
        batch_size: evaluate ``x`` in chunks of this size (same draws for every chunk).

    Raises:
        ConfigError: ``samples`` does not fit the kind of model (e.g. MC dropout on a
            module without dropout).
    """
    check_int(samples, "samples", low=1, optional=True)
    if isinstance(model, HyperModel) and isinstance(model.condition, Noise):
        if draws is None:
            if samples is None:
                raise ConfigError("expected samples=K for a noise hypernetwork, got samples=None; pass e.g. samples=20")
            draws = model.condition.split(None, samples).values
        logits = torch.cat([model(part, draws) for part in _chunks(x, batch_size)], dim=1)
    elif draws is not None:
        raise ConfigError(f"expected draws only for a HyperModel with a Noise condition, got a {type(model).__name__}; leave draws=None")
    elif isinstance(model, (list, tuple, nn.ModuleList)):
        if not model or not all(isinstance(m, nn.Module) for m in model):
            raise ConfigError(
                f"expected a non-empty sequence of nn.Modules (an ensemble), got {describe(model)}; "
                "pass a non-empty sequence of nn.Modules (an ensemble)"
            )
        if samples is not None and samples != len(model):
            raise ConfigError(
                f"expected samples=None or {len(model)} for an ensemble of {len(model)}, got samples={samples}; pass samples=None"
            )
        logits = torch.cat([torch.stack([m(part) for m in model]) for part in _chunks(x, batch_size)], dim=1)
    elif isinstance(model, nn.Module):
        logits = torch.cat([_mc_dropout(model, part, samples) for part in _chunks(x, batch_size)], dim=1)
    else:
        raise ConfigError(f"expected a HyperModel, an nn.Module or a sequence of them, got {describe(model)}; pass the trained model")
    return Predictive.from_logits(logits)


def _mc_dropout(model: nn.Module, x: torch.Tensor, samples: int | None) -> torch.Tensor:
    if samples is None:
        return model(x).unsqueeze(0)
    layers = _dropouts(model)
    if not layers:
        raise ConfigError(
            f"expected a module with dropout layers for samples={samples} (MC dropout), got {type(model).__name__} without any; "
            "pass samples=None for one deterministic prediction"
        )
    modes = [m.training for m in layers]
    try:
        for m in layers:
            m.train()
        return torch.stack([model(x) for _ in range(samples)])
    finally:
        for m, mode in zip(layers, modes, strict=True):
            m.train(mode)


@guarded()
class NoiseStep:
    """Step function for :func:`hypernet.training.fit` that trains a noise hypernetwork on classification.

    Each step draws K noise vectors, runs the K weight sets on the batch in one call,
    and returns ``nll + diversity_weight * weight_diversity(w_1..w_K)`` with metrics
    ``acc`` (of the mean prediction), ``nll`` and ``diversity``; with a ``contrast``, minus
    ``contrast_weight`` times the draws' mean disagreement on off-data inputs (metric
    ``contrast_mi``), computed in the same batched call.

    Args:
        samples: K draws per step (>= 2 when ``diversity_weight > 0``).
        likelihood: ``"mean"``: ``nll = mean_k CE(logits_k, y)``, the expected
            log-likelihood of the variational objective (every draw is trained to
            fit the data on its own); ``"mixture"``: ``nll = -log mean_k p_k(y)``, the
            log-likelihood of the averaged prediction that is evaluated at test time
            (draws may share the work, and the average is what gets calibrated).
        diversity: ``"entropy"`` or ``"pairwise"``, see :func:`weight_diversity`.
        diversity_weight: its weight; ``D / N`` (generated weights / training samples)
            is the variational objective's entropy weight; 0 turns it off.
        contrast: function-space diversity (see ``hypernet.recipes.uncertainty.contrast``): ``"shuffle"``
            (each sample's features in a random order), ``"gaussian"`` (``x`` plus noise of
            ``contrast_scale`` times the batch's std) or a callable ``fn(x) -> x_tilde``;
            the loss then also *rewards* the draws' disagreement (mutual information) on
            these off-data inputs, so their predictions differ away from the data (as in
            noise-contrastive priors, Hafner et al., 2019). ``None`` (default): off.
        contrast_weight: weight of that reward (used only with a ``contrast``). The off-data
            inputs share the batch, so a target with BatchNorm counts them in its batch statistics.
        contrast_scale: noise scale of ``"gaussian"``, relative to the batch's std.

    Example:
        >>> import torch, hypernet as hn
        >>> from torch import nn
        >>> from hypernet.training import fit, make_loader
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(128, 4); y = (x[:, 0] > 0).long()
        >>> model = hn.HyperModel(nn.Linear(4, 2), condition=hn.Noise(4), generator="mlp")
        >>> data = torch.utils.data.TensorDataset(x, y)
        >>> opt = torch.optim.Adam(model.parameters(), lr=0.01)
        >>> result = fit(model, hn.NoiseStep(samples=4, diversity_weight=0.01), make_loader(data, 32), opt, epochs=10, progress=False)
        >>> result.metrics["train/acc"] > 0.8, sorted(result.metrics)[:3]
        (True, ['lr', 'train/acc', 'train/diversity'])
    """

    def __init__(
        self,
        samples: int = 5,
        diversity: str = "entropy",
        diversity_weight: float = 0.0,
        likelihood: str = "mean",
        *,
        contrast: Contrast | None = None,
        contrast_weight: float = 0.1,
        contrast_scale: float = 1.0,
    ) -> None:
        check_int(samples, "samples", low=1)
        check_choice(likelihood, "likelihood", ("mean", "mixture"))
        check_choice(diversity, "diversity", KINDS)
        for name, value in (
            ("diversity_weight", diversity_weight),
            ("contrast_weight", contrast_weight),
            ("contrast_scale", contrast_scale),
        ):
            check_float(value, name, low=0, kind="a number >= 0")
        if diversity_weight > 0 and samples < 2:
            raise ConfigError(
                f"expected samples >= 2 with a diversity term (it compares draws), got samples={samples}; "
                "pass samples >= 2 or diversity_weight=0"
            )
        check_contrast(contrast)
        if contrast is not None and samples < 2:
            raise ConfigError(
                f"expected samples >= 2 with a contrast (it measures how draws disagree), got samples={samples}; "
                "pass samples >= 2 or contrast=None"
            )
        self.samples, self.diversity, self.diversity_weight = samples, diversity, float(diversity_weight)
        self.likelihood = likelihood
        self.contrast, self.contrast_weight, self.contrast_scale = contrast, float(contrast_weight), float(contrast_scale)

    def __call__(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
        hyper = getattr(model, "module", model)  # inside DistributedDataParallel under torchrun
        if not isinstance(hyper, HyperModel) or not isinstance(hyper.condition, Noise):
            raise ConfigError(f"expected a HyperModel with a Noise condition, got {describe(hyper)}; build it with condition=hn.Noise(dim)")
        x, y = batch
        draws = hyper.condition.split(None, self.samples).values
        off_data: torch.Tensor | None = None
        if self.contrast is not None:  # off-data inputs ride along in the same batched call
            logits = model(torch.cat([x, contrast_inputs(x, self.contrast, self.contrast_scale)]), draws)
            logits, off_data = logits[:, : len(x)], logits[:, len(x) :]
        else:
            logits = model(x, draws)  # (K, B, C)
        if self.likelihood == "mean":
            nll = nn.functional.cross_entropy(logits.flatten(0, 1), y.repeat(self.samples))
        else:
            log_p = logits.log_softmax(-1).gather(-1, y.expand(self.samples, -1).unsqueeze(-1)).squeeze(-1)  # (K, B)
            nll = math.log(self.samples) - torch.logsumexp(log_p, dim=0).mean()
        acc = (logits.softmax(-1).mean(0).argmax(-1) == y).float().mean()
        metrics: dict[str, torch.Tensor] = {"acc": acc, "nll": nll.detach()}
        loss = nll
        if self.diversity_weight > 0:
            div = weight_diversity(hyper.flat_weights(draws), self.diversity)
            loss = nll + self.diversity_weight * div
            metrics["diversity"] = div.detach()
        if off_data is not None:
            disagreement = draw_disagreement(off_data).mean()
            loss = loss - self.contrast_weight * disagreement
            metrics["contrast_mi"] = disagreement.detach()
        return loss, metrics
