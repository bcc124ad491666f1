"""Initialisation schemes: the per-element scale and base applied to a generator's output.

The model computes ``w = base + scale * g(c)``. Generators are calibrated to emit
unit-variance outputs for unit-variance embeddings, so ``scale`` sets the std of
each generated tensor at step 0:

* ``"hyperfan"`` (hyperfan-in, Chang et al. 2020): weight matrices get
  ``Var = 1 / fan_in``, or ``1 / (2 fan_in)`` when the layer's bias is generated
  too (the paper's split of the variance between weight and bias); that is 1.7x
  or 1.2x the std of PyTorch's default uniform init. Recurrent weights use
  PyTorch's own fan, the hidden size. The bias of a Linear / ConvNd keeps
  PyTorch's bias distribution (mean 0, std ``1/sqrt(3 fan_in)``, also for a
  one-unit output); other 1-d tensors keep the mean and std of the target's own
  values (``1/sqrt(n)`` where that std is 0, e.g. norm gains, so they can still
  vary with the condition).
* ``"hyperfan_out"``: the same with ``Var = 1 / fan_out``.
* ``"mip"``: magnitude-invariant parametrization (Ortiz et al. 2023, HyperLight):
  implies ``parametrization="residual"`` and the ``[x, 1-x]`` input encoding of a
  :class:`~hypernet.Continuous` condition; the generated delta starts at half the
  hyperfan std.
* ``"default"``: the generator keeps PyTorch's default init; ``scale = 1``.

For ``parametrization="residual"`` the base is a trainable copy of the target's
weights and the generated delta starts at half the hyperfan std, so ``w0 + delta``
stays close to the std of the target's init.

Example:
    >>> from torch import nn
    >>> from hypernet._spec import ParamSpec
    >>> spec = ParamSpec.from_module(nn.Linear(100, 10), "all")
    >>> scale, base = output_affine(spec, "hyperfan", "direct")
    >>> round(float(scale[0]), 3), float(base[0])
    (0.071, 0.0)
"""

from __future__ import annotations

import math

import torch

from ._spec import ParamSpec, TensorSpec
from .errors import ConfigError

INITS = ("hyperfan", "hyperfan_out", "mip", "default")
RESIDUAL_DELTA = 0.5


def _target_std(t: TensorSpec, fan_mode: str, names: set[str]) -> float:
    if t.is_matrix:
        owner, _, leaf = t.name.rpartition(".")
        bias = (f"{owner}." if owner else "") + leaf.replace("weight", "bias")
        split = 2.0 if leaf != bias.rpartition(".")[2] and bias in names else 1.0
        return 1.0 / math.sqrt(split * (t.fan_in if fan_mode == "in" else t.fan_out))
    return t.init_std if t.init_std > 0 else 1.0 / math.sqrt(t.numel)


def output_affine(spec: ParamSpec, init: str, parametrization: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-element ``(scale, base)`` vectors of length ``spec.numel``.

    For ``parametrization="residual"`` the returned base is all zeros; the model
    fills it from the target's weights.
    """
    if init not in INITS:
        raise ConfigError(f"expected init in {INITS}, got {init!r}; pass one of them")
    if init == "default":
        return torch.ones(spec.numel), torch.zeros(spec.numel)
    fan_mode = "out" if init == "hyperfan_out" else "in"
    factor = RESIDUAL_DELTA if parametrization == "residual" else 1.0
    names = set(spec.names)
    scale = spec.per_element([factor * _target_std(t, fan_mode, names) for t in spec.tensors])
    base = spec.per_element([0.0 if t.is_matrix else t.init_mean for t in spec.tensors])
    return scale, base
