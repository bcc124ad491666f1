"""Rank architectures with generated weights: :class:`ArchitectureSearch` (SMASH / GHN-lite).

Brock et al. ("SMASH: One-Shot Model Architecture Search through HyperNetworks", 2018) train
one hypernetwork to produce the weights of *any* architecture of a search space, given the
architecture's encoding: each training step samples a random architecture, generates its
weights and takes a gradient step on the training loss through them. Afterwards the
validation score of an architecture with generated weights (no training) ranks it, and the
best one is trained normally. Knyazev et al. (GHN-2, 2021) do the same with a graph network
over the computational graph; here an architecture is a vector (:class:`MLPSpace`), the
weights of the space's largest MLP are generated per layer (a gated generator conditioned on
the code and on the layer's position, MIP initialisation) and sliced to the sampled
architecture, as SMASH slices its generated kernels.

Training runs on :func:`hypernet.training.fit`, the loop every recipe shares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..._boundary import guarded
from ..._model import HyperModel
from ..._modes import eval_mode
from ..._validation import check_int
from ...conditions import Continuous
from ...errors import ConfigError, describe
from ...generators import Generator
from ...generators.gated import GatedGenerator
from ...training.loop import Callback, FitResult, fit
from .._common import DEFAULT_METRICS, MetricFn, adam, evaluate_module
from .space import Architecture, MLPSpace
from .supernet import MLPSupernet, plain_weights

__all__ = ["Architecture", "ArchitectureSearch", "MLPSpace", "Scored"]


class Scored(NamedTuple):
    """An architecture and its score with generated weights."""

    arch: Architecture
    score: float


@guarded(mutating=("fit",))
class ArchitectureSearch(nn.Module):
    """One hypernetwork that generates the weights of every architecture of a search space.

    Args:
        space: the :class:`MLPSpace` to search.
        loss: ``loss(output, y) -> scalar`` for training (default: cross-entropy).
        metrics: ``{name: fn(output, y) -> scalar}`` for :meth:`score` (default: ``loss`` and ``acc``).
        generator: a registered generator name, an unbound :class:`~hypernet.Generator`, or
            ``None`` for the gated per-layer generator (``hypernet.generators.gated.GatedGenerator``).
        init: :class:`~hypernet.HyperModel` initialisation (``"mip"``: residual weights and the
            ``[x, 1 - x]`` encoding of the architecture code).
        embedding_dim: size of the architecture embedding (a :class:`~hypernet.Continuous` condition).
        generator_kwargs: arguments for a named generator.
        depth_weights: how often training draws each depth, one weight per ``space.depths``.
            Default: in proportion to the depth. SMASH draws depths uniformly (pass ``[1] * n``),
            but a deep layer slot is then trained by few architectures and the search
            under-rates deep architectures (``benchmarks/results/architecture_search.md``).

    Attributes:
        model: the :class:`~hypernet.HyperModel` around the space's supernet (:attr:`model.target`).

    Example:
        >>> import torch, hypernet as hn
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(256, 10); y = (x[:, :2].sum(1) > 0).long()
        >>> data = DataLoader(TensorDataset(x, y), batch_size=64)
        >>> space = hn.MLPSpace(10, 2, depths=(1, 2), widths=(4, 16), activations=("relu", "tanh"))
        >>> search = hn.ArchitectureSearch(space)
        >>> _ = search.fit(data, epochs=5, lr=1e-2)
        >>> candidates = search.sample(4, seed=0)
        >>> ranking = search.rank(candidates, data)              # best first, by accuracy
        >>> [round(s.score, 2) >= 0 for s in ranking]
        [True, True, True, True]
        >>> net = search.materialize(ranking[0].arch)            # plain nn.Sequential, ready to fine-tune
        >>> torch.allclose(net(x), search(x, ranking[0].arch), atol=1e-5)
        True
    """

    def __init__(
        self,
        space: MLPSpace,
        *,
        loss: Callable[[Any, Any], torch.Tensor] | None = None,
        metrics: Mapping[str, MetricFn] | None = None,
        generator: str | Generator | None = None,
        init: str = "mip",
        embedding_dim: int = 32,
        generator_kwargs: dict[str, Any] | None = None,
        depth_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(space, MLPSpace):
            raise ConfigError(
                f"expected space to be an hn.MLPSpace, got {describe(space)}; pass e.g. hn.MLPSpace(in_features, num_classes)"
            )
        if depth_weights is None:
            depth_weights = [float(d) for d in space.depths]
        space.depth_distribution(depth_weights)  # validate
        self.depth_weights = tuple(float(w) for w in depth_weights)
        if loss is not None and not callable(loss):
            raise ConfigError(f"expected loss to be a callable loss(output, y) or None, got {describe(loss)}; pass e.g. F.cross_entropy")
        check_int(embedding_dim, "embedding_dim", low=1)
        if generator is None:
            if generator_kwargs:
                raise ConfigError(
                    "expected generator_kwargs only with a generator name, got them with generator=None; "
                    "pass generator='mlp' (or another name) with them"
                )
            generator = GatedGenerator()
        self.space = space
        self.loss_fn = loss if loss is not None else F.cross_entropy
        self.metrics: dict[str, MetricFn] = dict(metrics) if metrics is not None else dict(DEFAULT_METRICS)
        if not self.metrics or not all(callable(f) for f in self.metrics.values()):
            raise ConfigError(
                f"expected metrics as a non-empty dict of name -> fn(output, y), got {describe(metrics)}; pass e.g. {{'acc': accuracy}}"
            )
        condition = Continuous(space.code_dim, embedding_dim, encoding="mip" if init == "mip" else "identity")
        self.model = HyperModel(MLPSupernet(space), condition=condition, generator=generator, init=init, generator_kwargs=generator_kwargs)

    @property
    def device(self) -> torch.device:
        """Where the hypernetwork's parameters live (codes and materialized networks go there)."""
        return next(self.parameters()).device

    def _code(self, arch: Architecture) -> torch.Tensor:
        return self.space.encode(arch).to(self.device)

    def forward(self, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        """Output of ``arch`` on ``x`` (``(B, in_features)``) with its generated weights."""
        return self.model(x, self._code(arch), arch)

    # ------------------------------------------------------------------- training
    def training_step(self, net: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """The step :func:`hypernet.training.fit` runs: one random architecture for the batch (as in SMASH)."""
        x, y = batch
        arch = self.space.sample(1, depth_weights=self.depth_weights)[0]
        loss = self.loss_fn(net(x, arch), y)
        return loss, {"depth": float(arch.depth)}

    def fit(
        self,
        train_loader: Iterable[Any],
        *,
        epochs: int = 1,
        lr: float = 1e-3,
        optimizer: torch.optim.Optimizer | None = None,
        callbacks: Sequence[Callback] = (),
        progress: bool | None = False,
        device: torch.device | str | None = None,
        **fit_kwargs: Any,
    ) -> FitResult:
        """Train the hypernetwork on randomly sampled architectures with :func:`hypernet.training.fit`.

        Architectures are drawn from ``torch``'s global generator, so a seeded (and resumed) run repeats.
        ``fit_kwargs`` go to :func:`hypernet.training.fit` (``run_dir``, ``max_steps``, ``resume``, ...).
        """
        return fit(
            self,
            self.training_step,
            train_loader,
            optimizer if optimizer is not None else adam(self, lr),
            epochs=epochs,
            callbacks=callbacks,
            progress=progress,
            device=device,
            **fit_kwargs,
        )

    # ------------------------------------------------------------------ selection
    def sample(self, n: int, seed: int | None = None) -> list[Architecture]:
        """``n`` distinct random architectures of the space (reproducible with ``seed``)."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        return self.space.sample(n, generator=generator, distinct=True)

    def evaluate(self, arch: Architecture, val_loader: Iterable[Any]) -> dict[str, float]:
        """All :attr:`metrics` of ``arch`` on ``val_loader`` with generated weights only (no training)."""
        arch = self.space.validate(arch)
        with eval_mode(self):
            return evaluate_module(lambda x: self(x, arch), val_loader, self.metrics, self.device)

    def score(self, arch: Architecture, val_loader: Iterable[Any], metric: str = "acc") -> float:
        """One metric (default accuracy) of ``arch`` on ``val_loader`` with generated weights only."""
        if metric not in self.metrics:
            raise ConfigError(f"expected a metric in {sorted(self.metrics)}, got {metric!r}; pass one of them")
        return self.evaluate(arch, val_loader)[metric]

    def rank(self, candidates: Sequence[Architecture], val_loader: Iterable[Any], metric: str = "acc", mode: str = "max") -> list[Scored]:
        """Score every candidate with generated weights; best first (highest ``metric`` for ``mode="max"``)."""
        if mode not in ("min", "max"):
            raise ConfigError(f"expected mode 'min' or 'max', got {mode!r}; pass one of them")
        if not candidates:
            raise ConfigError("expected at least one candidate architecture, got none; use search.sample(n)")
        scored = [Scored(arch, self.score(arch, val_loader, metric)) for arch in candidates]
        return sorted(scored, key=lambda s: s.score, reverse=mode == "max")

    @torch.no_grad()
    def generate(self, arch: Architecture) -> dict[str, torch.Tensor]:
        """Generated weights of ``arch``, named and shaped like the state of ``space.build(arch)``."""
        arch = self.space.validate(arch)
        full = self.model.generate(self._code(arch))
        return {k: v.detach().clone() for k, v in plain_weights(full, self.space, arch).items()}

    def materialize(self, arch: Architecture) -> nn.Sequential:
        """A plain ``nn.Sequential`` of ``arch`` holding its generated weights, to fine-tune or train further."""
        net = self.space.build(arch).to(self.device)
        net.load_state_dict(self.generate(arch))
        return net
