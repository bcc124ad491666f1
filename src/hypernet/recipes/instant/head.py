"""The instant classifier's hypernetwork: support-set statistics in, the weights of a linear classifier out.

Every weight is generated from *per-(class, feature) descriptors* of the support set by one
small MLP shared over classes and features, so the generator is

* invariant to the order of the support rows (it only sees means and spreads),
* equivariant to the class labels (relabelling the support relabels the weight rows), and
* defined for any number of features and classes (nothing is sized by them).

For class ``c`` and feature ``j`` the generated weight is

    W[c, j] = tau * (2 * a[j] * mu[c, j] + delta[c, j] / t[j]),   b[c] = -tau * sum_j a[j] * mu[c, j]**2

with ``mu`` the class means, ``t`` a feature's total spread, ``a`` a per-feature metric
and ``delta`` a per-weight correction, both read off the descriptors. With ``a = 1`` and
``delta = 0`` this is exactly the nearest-prototype classifier (squared Euclidean
distance), which is where the generator starts; meta-training moves it from there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..._validation import check_choice, check_int

EPS = 1e-6
N_DESCRIPTORS = 7


@dataclass(frozen=True)
class SupportStats:
    """Class-balanced statistics of one support set: ``mu (C, D)``, ``spread (C, D)``, ``counts (C,)``."""

    mu: torch.Tensor
    spread: torch.Tensor
    counts: torch.Tensor

    @staticmethod
    def of(z: torch.Tensor, y: torch.Tensor, n_classes: int) -> SupportStats:
        """Statistics of features ``z (N, D)`` with labels ``y (N,)`` in ``[0, n_classes)`` (every class present)."""
        onehot = nn.functional.one_hot(y, n_classes).to(z.dtype)  # (N, C)
        counts = onehot.sum(0)
        mu = (onehot.T @ z) / counts[:, None]
        var = (onehot.T @ z.square()) / counts[:, None] - mu.square()
        return SupportStats(mu, var.clamp_min(0.0).add(EPS).sqrt(), counts)

    def descriptors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Scale-free descriptors ``(C, D, 7)`` and each feature's total spread ``t (D,)``."""
        n_classes = self.mu.shape[0]
        centre = self.mu.mean(0)
        between = (self.mu - centre).square().mean(0)
        within = self.spread.square().mean(0)
        t = (between + within + EPS).sqrt()
        shape = self.mu.shape
        parts = [
            (self.mu - centre) / t,
            ((between + EPS).sqrt() / t).expand(shape),  # + EPS: a feature constant over the support has 0 here
            (within.sqrt() / t).expand(shape),
            self.spread / t,
            t.log().expand(shape),
            self.counts.log()[:, None].expand(shape),
            torch.full(shape, float(n_classes), dtype=self.mu.dtype, device=self.mu.device).log(),
        ]
        return torch.stack(parts, -1), t


Layers = list[tuple[torch.Tensor, torch.Tensor]]


def run_layers(z: torch.Tensor, layers: Layers) -> torch.Tensor:
    """Apply generated ``[(W, b), ...]`` as ``Linear, ReLU, Linear, ...`` to ``z (N, D)``."""
    for i, (weight, bias) in enumerate(layers):
        z = torch.addmm(bias, z, weight.T)
        if i < len(layers) - 1:
            z = torch.relu(z)
    return z


def random_directions(n_features: int, width: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed random ``(width, n_features)`` directions and offsets of the ridge head's hidden layer (seeded by the shape)."""
    g = torch.Generator().manual_seed(1_000_003 * n_features + width)
    directions = torch.randn(width, n_features, generator=g) / n_features**0.5
    offsets = torch.randn(width, generator=g) * 0.5
    return directions.to(device, dtype), offsets.to(device, dtype)


class PrototypeAttention(nn.Module):
    """Set-to-set adaptation of a support set's embeddings (FEAT, Ye et al., 2020), before weights are generated.

    The class prototypes attend to each other (one attention head, no positional code), and
    every support row moves by its class's shift: ``z_i + out(attention(P))[y_i]``. The output
    projection starts at zero, so the module starts as the identity. Equivariant to the class
    labels and invariant to the order of the rows, like the generator; sized by the embedding
    width ``dim``, so it needs a backbone (a fixed feature width).

    Example:
        >>> adapt = PrototypeAttention(4)
        >>> z, y = torch.randn(6, 4), torch.tensor([0, 1, 2] * 2)
        >>> torch.equal(adapt(z, y, 3), z)          # the identity at the start
        True
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.query, self.key, self.value = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        self.out = nn.Linear(dim, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, z: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
        protos = SupportStats.of(z, y, n_classes).mu  # (C, D)
        scores = self.query(protos) @ self.key(protos).T / protos.shape[1] ** 0.5
        shift = self.out(scores.softmax(-1) @ self.value(protos))  # (C, D)
        return z + shift[y]


class ClassWeightGenerator(nn.Module):
    """Generates a classifier (a list of ``(W, b)`` layers) from a support set's features.

    Two heads:

    * ``"prototype"``: one ``Linear(D, C)`` layer (see the module docstring);
    * ``"ridge"``: ``Linear(D, 2D + width)``, ReLU, ``Linear(2D + width, C)``. The hidden
      layer holds ``+x`` and ``-x`` (so the linear part passes through) and ``width``
      fixed random directions, all scaled by the generated feature metric ``a``; the
      output layer is the class-balanced ridge regression of the one-hot labels on the
      support set's hidden activations, solved in closed form (as in R2-D2, Bertinetto
      et al., 2019) with a generated ridge strength. Differentiable end to end.
    * ``"ridge_prototype"``: the ridge head plus a nearest-prototype rule in the same
      layers: ``-gamma / D * ||u - u_c||^2`` on the scaled, centred features ``u`` (which the
      ``+x`` / ``-x`` units carry linearly), with a generated ``gamma``. Ridge regression
      alone lacks the prototypes' ``-||u_c||^2 / 2`` offsets, which matter with one shot.

    Args:
        hidden: width of the MLP shared over (class, feature) descriptors.
        head: ``"prototype"``, ``"ridge"`` or ``"ridge_prototype"``; width: random directions of the ridge heads.
            The ridge head solves a ``(2D + width)``-square system, so its cost grows with the
            cube of the number of features D: fine for tables up to a few hundred columns.
        adapt: embedding width for a :class:`PrototypeAttention` step in front (``None``: none).

    Example:
        >>> import torch
        >>> gen = ClassWeightGenerator(head="ridge", width=16)
        >>> z, y = torch.randn(10, 6), torch.tensor([0, 1] * 5)
        >>> [tuple(w.shape) for w, b in gen(z, y, 2)]
        [(28, 6), (2, 28)]
    """

    HEADS = ("prototype", "ridge", "ridge_prototype")

    def __init__(self, hidden: int = 32, head: str = "prototype", width: int = 256, adapt: int | None = None) -> None:
        check_choice(head, "head", self.HEADS, owner="ClassWeightGenerator")
        check_int(hidden, "hidden", low=1, high=1 << 16, owner="ClassWeightGenerator")
        check_int(width, "width", low=1, owner="ClassWeightGenerator")
        check_int(adapt, "adapt", low=1, high=1 << 16, optional=True, owner="ClassWeightGenerator")
        super().__init__()
        self.head, self.width = head, width
        self.adapt = PrototypeAttention(adapt) if adapt is not None else None
        self.encode = nn.Sequential(nn.Linear(N_DESCRIPTORS, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.metric = nn.Linear(hidden, 1)  # log a[j] from the features' descriptors pooled over classes
        self.correction = nn.Linear(2 * hidden, 1)  # delta[c, j] (prototype head)
        # log ridge strength, log temperature (, log gamma): from everything pooled (ridge heads)
        self.task = nn.Linear(hidden, 3 if head == "ridge_prototype" else 2)
        self.log_tau = nn.Parameter(torch.zeros(()) if head == "prototype" else torch.tensor(2.0))
        if head == "ridge_prototype":
            self.log_gamma = nn.Parameter(torch.zeros(()))
        self.log_ridge = nn.Parameter(torch.tensor(-2.0))
        for layer in (self.metric, self.correction, self.task):  # start at the plain prototype / ridge classifier
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, z: torch.Tensor, y: torch.Tensor, n_classes: int) -> Layers:
        if self.adapt is not None:
            z = self.adapt(z, y, n_classes)
        stats = SupportStats.of(z, y, n_classes)
        desc, t = stats.descriptors()
        h = self.encode(desc)  # (C, D, H)
        pooled = h.mean(0)  # (D, H): invariant to the class labels
        a = self.metric(pooled).squeeze(-1).exp()  # (D,)
        if self.head == "prototype":
            delta = self.correction(torch.cat([h, pooled.expand_as(h)], -1)).squeeze(-1)  # (C, D)
            tau = self.log_tau.exp()
            weight = tau * (2 * a * stats.mu + delta / t)
            bias = -tau * (a * stats.mu.square()).sum(-1)
            return [(weight, bias)]
        return self._ridge(z, y, n_classes, stats, a / t, self.task(pooled.mean(0)))

    def _ridge(
        self, z: torch.Tensor, y: torch.Tensor, n_classes: int, stats: SupportStats, scale: torch.Tensor, task: torch.Tensor
    ) -> Layers:
        d = z.shape[1]
        centre = stats.mu.mean(0)
        directions, offsets = random_directions(d, self.width, z.dtype, z.device)
        eye = torch.eye(d, dtype=z.dtype, device=z.device)
        w1 = torch.cat([eye, -eye, directions]) * scale  # (P, D), on centred inputs
        b1 = torch.cat([torch.zeros(2 * d, dtype=z.dtype, device=z.device), offsets]) - w1 @ centre
        hid = torch.relu(torch.addmm(b1, z, w1.T))  # (N, P)
        weights = (1.0 / stats.counts)[y]
        weights = weights / weights.sum()  # class-balanced sample weights, summing to 1
        target = nn.functional.one_hot(y, n_classes).to(z.dtype)
        h_mean, t_mean = weights @ hid, weights @ target
        hc, tc = hid - h_mean, target - t_mean
        gram = (hc * weights[:, None]).T @ hc  # (P, P)
        strength = (self.log_ridge + task[0]).exp() * gram.diagonal().mean().clamp_min(EPS)
        w2 = torch.linalg.solve(gram + strength * torch.eye(len(gram), dtype=z.dtype, device=z.device), (hc * weights[:, None]).T @ tc)
        tau = (self.log_tau + task[1]).exp()
        weight, bias = tau * w2.T, tau * (t_mean - h_mean @ w2)
        if self.head == "ridge_prototype":  # + nearest prototype on u = scale * (x - centre) = h[:d] - h[d:2d]
            gamma = (self.log_gamma + task[2]).exp() / d
            protos = scale * (stats.mu - centre)  # (C, D)
            linear = 2 * gamma * protos
            weight = weight + torch.cat([linear, -linear, torch.zeros(n_classes, self.width, dtype=z.dtype, device=z.device)], 1)
            bias = bias - gamma * protos.square().sum(1)
        return [(w1, b1), (weight, bias)]
