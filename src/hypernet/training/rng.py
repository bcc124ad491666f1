"""Random number generator states as tensors (for safetensors) plus a little JSON.

Captures and restores Python's ``random``, NumPy's legacy global generator, torch's
CPU generator (and CUDA generators when present) and any extra ``torch.Generator``.

Example:
    >>> import random, torch
    >>> tensors, meta = capture_rng()
    >>> a = (random.random(), torch.rand(1).item())
    >>> restore_rng(tensors, meta)
    >>> a == (random.random(), torch.rand(1).item())
    True
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch


def capture_rng(generators: Sequence[torch.Generator] = ()) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Current RNG states: ``(tensors, json_meta)``; ``generators`` are extra torch generators (e.g. a sampler's)."""
    tensors: dict[str, torch.Tensor] = {"torch": torch.get_rng_state()}
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    tensors["numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, gauss_next = random.getstate()
    tensors["python"] = torch.tensor(internal, dtype=torch.int64)
    if torch.cuda.is_available():  # pragma: no cover - no GPU here
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = state
    for i, gen in enumerate(generators):
        tensors[f"generator.{i}"] = gen.get_state()
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(cached)], "python": [version, gauss_next], "generators": len(generators)}
    return tensors, meta


def restore_rng(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any], generators: Sequence[torch.Generator] = ()) -> None:
    """Restore states captured by :func:`capture_rng` (extra ``generators`` in the same order)."""
    torch.set_rng_state(tensors["torch"].clone())
    kind, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, tensors["numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, gauss_next = meta["python"]
    random.setstate((version, tuple(int(v) for v in tensors["python"].tolist()), gauss_next))
    cuda = sorted((k for k in tensors if k.startswith("cuda.")), key=lambda k: int(k.split(".")[1]))
    if cuda and torch.cuda.is_available():  # pragma: no cover - no GPU here
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda])
    for i, gen in enumerate(generators):
        key = f"generator.{i}"
        if key in tensors:
            gen.set_state(tensors[key].clone())


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices).

    Example:
        >>> seed_everything(3); a = torch.rand(1)
        >>> seed_everything(3); torch.equal(a, torch.rand(1))
        True
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
