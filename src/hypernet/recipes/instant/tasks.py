"""Episodes for meta-training an instant classifier: few-shot image episodes and a synthetic tabular prior.

An :class:`Episode` is one classification task: a labelled support set and a query set
whose labels run over ``0 .. n_classes - 1`` in a random order (a fresh class-to-label
map per episode, so nothing can memorise which class is which). A *task sampler* is
any callable ``sampler(generator) -> Episode``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..._validation import check_bool, check_int, is_int
from ...errors import ConfigError, describe


@dataclass(frozen=True)
class Episode:
    """One task: support ``(x_support, y_support)`` and query ``(x_query, y_query)``, labels in ``[0, n_classes)``."""

    x_support: torch.Tensor
    y_support: torch.Tensor
    x_query: torch.Tensor
    y_query: torch.Tensor

    @property
    def n_classes(self) -> int:
        return int(self.y_support.max()) + 1


def _randint(low: int, high: int, g: torch.Generator) -> int:
    """An integer in ``[low, high]`` (both ends included)."""
    return int(torch.randint(low, high + 1, (), generator=g))


class ImageEpisodes:
    """N-way K-shot episodes from a labelled image set, restricted to ``classes``.

    Args:
        images: ``(N, H, W)`` or ``(N, C, H, W)`` images (uint8 in [0, 255] or float).
        labels: ``(N,)`` integer labels.
        classes: the labels episodes may use (e.g. the meta-train split of the classes).
        ways: classes per episode; shots: an int, or ``(low, high)`` drawn per episode; queries: per class.
        rotations: also use every class rotated by 90, 180 and 270 degrees as a class of its own
            (four times the classes; a standard way to widen a small meta-train split).

    Example:
        >>> import torch
        >>> images, labels = torch.rand(60, 8, 8), torch.arange(60) % 6
        >>> ep = ImageEpisodes(images, labels, classes=[0, 1, 2, 3], ways=3, shots=2, queries=4)(torch.Generator().manual_seed(0))
        >>> ep.x_support.shape, ep.x_query.shape, sorted(ep.y_support.tolist())
        (torch.Size([6, 1, 8, 8]), torch.Size([12, 1, 8, 8]), [0, 0, 1, 1, 2, 2])
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        classes: list[int],
        *,
        ways: int = 5,
        shots: int | tuple[int, int] = 1,
        queries: int = 15,
        rotations: bool = False,
    ) -> None:
        if not isinstance(images, torch.Tensor) or images.dim() not in (3, 4) or images.dtype == torch.bool or not len(images):
            raise ConfigError(f"expected images (N, H, W) or (N, C, H, W), got {describe(images)}; pass an image tensor")
        if (
            not isinstance(labels, torch.Tensor)
            or labels.shape != (len(images),)
            or labels.is_floating_point()
            or labels.dtype == torch.bool
        ):
            raise ConfigError(f"expected integer labels of shape ({len(images)},), got {describe(labels)}; pass one label per image")
        if not isinstance(classes, (list, tuple)) or not classes or not all(is_int(c) for c in classes):
            raise ConfigError(f"expected classes to be a non-empty list of int labels, got {describe(classes)}; pass e.g. [0, 1, 2]")
        check_int(ways, "ways", low=1, owner="ImageEpisodes")
        check_int(queries, "queries", low=1, owner="ImageEpisodes")
        check_bool(rotations, "rotations", owner="ImageEpisodes")
        if is_int(shots):
            check_int(shots, "shots", low=1, owner="ImageEpisodes")
        elif not (isinstance(shots, tuple) and len(shots) == 2 and all(is_int(s) and s >= 1 for s in shots) and shots[0] <= shots[1]):
            raise ConfigError(f"expected ImageEpisodes(shots=...) to be an int >= 1 or (low, high), got {shots!r}; pass e.g. 1 or (1, 5)")
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        self.images = x.unsqueeze(1) if x.dim() == 3 else x
        self.shots: tuple[int, int] = (shots, shots) if isinstance(shots, int) else (int(shots[0]), int(shots[1]))
        self.ways, self.queries, self.rotations = ways, queries, rotations
        self.pools = [torch.nonzero(labels == c).flatten() for c in classes]
        if ways > self.n_classes:
            raise ConfigError(f"expected ways <= {self.n_classes} (the classes available), got ways={ways}; use fewer ways or more classes")
        need = self.shots[1] + queries
        small = [c for c, pool in zip(classes, self.pools, strict=True) if len(pool) < need]
        if small:
            raise ConfigError(
                f"expected >= {need} images of every class (shots + queries), got fewer for classes {small}; use fewer shots / queries"
            )

    @property
    def n_classes(self) -> int:
        """Classes episodes draw from: the given classes, times 4 with ``rotations``."""
        return len(self.pools) * (4 if self.rotations else 1)

    def __call__(self, g: torch.Generator) -> Episode:
        chosen = torch.randperm(self.n_classes, generator=g)[: self.ways].tolist()  # position in this list = the episode's label
        shots = _randint(*self.shots, g)
        xs, ys, xq, yq = [], [], [], []
        for label, virtual in enumerate(chosen):
            pool = self.pools[virtual % len(self.pools)]
            pick = pool[torch.randperm(len(pool), generator=g)[: shots + self.queries]]
            imgs = self.images[pick]
            if self.rotations:
                imgs = torch.rot90(imgs, virtual // len(self.pools), dims=(-2, -1))
            xs.append(imgs[:shots])
            xq.append(imgs[shots:])
            ys.append(torch.full((shots,), label))
            yq.append(torch.full((self.queries,), label))
        return Episode(torch.cat(xs), torch.cat(ys), torch.cat(xq), torch.cat(yq))


class SyntheticTabularTasks:
    """A prior over small tabular classification tasks (in the spirit of the PFN / HyperFast / MotherNet priors).

    Each task draws a number of features and classes, correlated Gaussian features (some
    of them irrelevant, some rounded to a few levels like categorical codes) and a
    labeller: a random MLP (its outputs' argmax, or one output cut into quantiles) or a
    random axis-aligned tree. Labels are permuted at random.

    Args:
        features: ``(low, high)`` number of features; classes: ``(low, high)``;
        support: ``(low, high)`` support rows; queries: query rows.

    Example:
        >>> import torch
        >>> ep = SyntheticTabularTasks(features=(3, 3), classes=(2, 2))(torch.Generator().manual_seed(0))
        >>> ep.x_support.shape[1], ep.n_classes
        (3, 2)
    """

    def __init__(
        self,
        *,
        features: tuple[int, int] = (2, 64),
        classes: tuple[int, int] = (2, 12),
        support: tuple[int, int] = (30, 1000),
        queries: int = 128,
    ) -> None:
        for name, pair in (("features", features), ("classes", classes), ("support", support)):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(is_int(v) and 0 < v <= 1 << 20 for v in pair)):
                raise ConfigError(
                    f"expected SyntheticTabularTasks({name}=...) to be a (low, high) pair of ints, got {pair!r}; pass e.g. (2, 12)"
                )
            if pair[0] > pair[1]:
                raise ConfigError(f"expected SyntheticTabularTasks({name}=...) with low <= high, got {pair!r}; swap them")
        check_int(queries, "queries", low=1, high=1 << 20, owner="SyntheticTabularTasks")
        if classes[0] < 2 or features[0] < 1 or support[0] < 2 * classes[1]:
            raise ConfigError(
                f"expected classes >= 2, features >= 1 and support >= 2 x max classes, got classes={classes}, "
                f"features={features}, support={support}; raise support or lower classes"
            )
        self.features, self.classes, self.support, self.queries = features, classes, support, queries

    def _inputs(self, n: int, d: int, g: torch.Generator) -> torch.Tensor:
        mix = torch.randn(d, d, generator=g) * torch.rand(d, 1, generator=g)
        x = torch.randn(n, d, generator=g) @ (torch.eye(d) + mix)
        x = x * torch.exp(torch.randn(d, generator=g)) + torch.randn(d, generator=g) * 3
        rounded = torch.rand(d, generator=g) < 0.2
        return torch.where(rounded, x.round(), x)

    def _mlp_scores(self, x: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
        z = (x - x.mean(0)) / (x.std(0) + 1e-6)
        relevant = (torch.rand(z.shape[1], generator=g) < 0.7).float()
        relevant[torch.randint(0, z.shape[1], (1,), generator=g)] = 1.0
        h = z * relevant
        for _ in range(_randint(0, 2, g)):
            w = torch.randn(h.shape[1], 16, generator=g) / h.shape[1] ** 0.5
            h = torch.tanh(h @ w * 1.5)
        return h @ torch.randn(h.shape[1], k, generator=g) + 0.1 * torch.randn(len(h), k, generator=g)

    def _tree_labels(self, x: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
        leaf = torch.zeros(len(x), dtype=torch.long)
        for _ in range(_randint(2, 4, g)):
            j = _randint(0, x.shape[1] - 1, g)
            cut = x[torch.randint(0, len(x), (1,), generator=g), j]
            leaf = leaf * 2 + (x[:, j] > cut).long()
        codes = torch.randint(0, k, (int(leaf.max()) + 1,), generator=g)
        return codes[leaf]

    def _labels(self, x: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
        kind = _randint(0, 2, g)
        if kind == 2:
            return self._tree_labels(x, k, g)
        scores = self._mlp_scores(x, k, g)
        if kind == 0:
            return scores.argmax(1)
        s = scores[:, 0].contiguous()
        cuts = torch.quantile(s, torch.linspace(0, 1, k + 1)[1:-1])
        return torch.bucketize(s, cuts)

    def __call__(self, g: torch.Generator) -> Episode:
        d, k = _randint(*self.features, g), _randint(*self.classes, g)
        n = _randint(*self.support, g)
        for _ in range(20):
            x = self._inputs(n + self.queries, d, g)
            y = self._labels(x, k, g)
            ys, yq = y[:n], y[n:]
            present = torch.unique(ys)
            if len(present) >= 2 and bool((torch.bincount(ys)[present] >= 2).all()):
                break
        else:  # a degenerate labeller 20 times in a row: two classes split at a feature's median
            y = (x[:, 0] > x[:n, 0].median()).long()
            ys, yq = y[:n], y[n:]
            present = torch.unique(ys)
        relabel = torch.full((k,), -1, dtype=torch.long)
        relabel[present[torch.randperm(len(present), generator=g)]] = torch.arange(len(present))
        keep = relabel[yq] >= 0  # queries of a class the support lacks cannot be predicted: drop them
        return Episode(x[:n], relabel[ys], x[n:][keep], relabel[yq[keep]])
