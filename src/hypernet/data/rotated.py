"""Rotated MNIST / Rotated Fashion-MNIST domains, built as DomainBed builds ``RotatedMNIST``.

DomainBed (Gulrajani & Lopez-Paz, 2021, ``domainbed/datasets.py``): all images of the data set
(train and test splits together, 70,000) are shuffled, dealt round-robin into one domain per
angle (0, 15, 30, 45, 60, 75 degrees), and each domain's images are rotated counter-clockwise by
its angle (bilinear, zero fill). Here the rotation is ``torch.nn.functional.grid_sample`` instead
of PIL's, and the shuffle is seeded (DomainBed draws it from torch's global RNG).

Each domain is then split into ``in`` (80 %) and ``out`` (20 %, DomainBed's ``holdout_fraction``);
training-domain validation selects models by the mean accuracy on the ``out`` splits of the
training domains.

Example:
    >>> import torch
    >>> x = torch.zeros(1, 784); x[0, 14 * 28 + 20] = 1.0     # a dot right of the centre
    >>> r = rotate(x, 90.0).view(28, 28)
    >>> divmod(int(r.argmax()), 28)                          # now above the centre
    (7, 14)
    >>> d = rotated_domains(torch.rand(60, 784), torch.arange(60) % 10, seed=0)
    >>> [len(dom.y_in) for dom in d], d[1].angle
    ([8, 8, 8, 8, 8, 8], 15.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

ANGLES = (0.0, 15.0, 30.0, 45.0, 60.0, 75.0)
HOLDOUT = 0.2


@dataclass
class Domain:
    """One rotation domain: ``x_*`` float32 ``(n, 1, 28, 28)``, ``y_*`` int64; ``in`` for training, ``out`` held out."""

    angle: float
    x_in: torch.Tensor
    y_in: torch.Tensor
    x_out: torch.Tensor
    y_out: torch.Tensor


def rotate(x: torch.Tensor, angle: float) -> torch.Tensor:
    """Rotate ``(N, 784)`` or ``(N, 1, 28, 28)`` images counter-clockwise by ``angle`` degrees (bilinear, zero fill)."""
    img = x.reshape(-1, 1, 28, 28).float()
    a = math.radians(angle)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]], dtype=img.dtype)
    grid = F.affine_grid(theta.expand(img.shape[0], 2, 3), list(img.shape), align_corners=False)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def rotated_domains(
    x: torch.Tensor, y: torch.Tensor, angles: Sequence[float] = ANGLES, seed: int = 0, holdout: float = HOLDOUT
) -> list[Domain]:
    """Deal ``(x, y)`` (all images, ``(N, 784)`` in ``[0, 1]``) into rotated domains, each split ``in`` / ``out``.

    Args:
        x, y: images and labels (train and test splits concatenated, as DomainBed does).
        angles: one domain per angle, in degrees.
        seed: the shuffle before dealing and the in/out split of each domain.
        holdout: the fraction of each domain held out (``out``).
    """
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=gen)
    x, y = x[order], y[order]
    domains = []
    for i, angle in enumerate(angles):
        xi, yi = rotate(x[i :: len(angles)], angle), y[i :: len(angles)]
        perm = torch.randperm(len(yi), generator=gen)
        n_out = int(len(yi) * holdout)
        out, inn = perm[:n_out], perm[n_out:]
        domains.append(Domain(float(angle), xi[inn], yi[inn], xi[out], yi[out]))
    return domains


def rotated_mnist(seed: int = 0, path: str | None = None) -> list[Domain]:
    """DomainBed's Rotated MNIST from the fetched MNIST (all 70,000 images; ``hypernet data fetch mnist``)."""
    from .mnist import load_mnist

    m = load_mnist(path)
    x = torch.cat([m.x_train, m.x_valid, m.x_test])
    y = torch.cat([m.y_train, m.y_valid, m.y_test])
    return rotated_domains(x, y, seed=seed)


def rotated_fashion_mnist(seed: int = 0, path: str | None = None) -> list[Domain]:
    """The same construction on Fashion-MNIST (all 70,000 images; ``hypernet data fetch fashion-mnist``)."""
    from .fashion_mnist import load_fashion_mnist

    f = load_fashion_mnist(path)
    return rotated_domains(torch.cat([f.x_train, f.x_test]), torch.cat([f.y_train, f.y_test]), seed=seed)
