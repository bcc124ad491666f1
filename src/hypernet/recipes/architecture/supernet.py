"""The largest MLP of a space, run as any of its architectures by slicing its weights (as in SMASH).

Hidden layer ``l`` of an architecture uses the first ``width_l`` units of the supernet's
layer ``l`` and the first ``width_{l-1}`` of its inputs; the output layer reads the first
``width_depth`` units. The sliced weights have exactly the shapes of the plain module
:meth:`MLPSpace.build` makes, and :func:`plain_weights` names them like it.

With ``fan_in_scaling=True`` a weight sliced to ``k`` of its ``K`` inputs is multiplied by
``sqrt(K / k)``, so a narrow architecture's pre-activations keep the scale of the widest one's
(without it, a 4-unit layer read with weights sized for 256 inputs passes on 1/8 of the signal).

Example:
    >>> import torch
    >>> from hypernet.recipes.architecture.space import Architecture, MLPSpace
    >>> space = MLPSpace(6, 3, depths=(1, 2), widths=(4, 8), activations=("relu",))
    >>> net = MLPSupernet(space)
    >>> arch = Architecture((8, 4), ("relu", "relu"))
    >>> plain = space.build(arch)
    >>> _ = plain.load_state_dict(plain_weights(dict(net.named_parameters()), space, arch))
    >>> x = torch.randn(5, 6)
    >>> torch.allclose(plain(x), net(x, arch))
    True
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..._boundary import guarded_function
from ..._validation import check_bool
from ...errors import ConfigError, describe
from .space import ACTIVATIONS, Architecture, MLPSpace

__all__ = ["MLPSupernet", "plain_weights"]


class MLPSupernet(nn.Module):
    """``max_depth`` hidden layers of ``max_width`` units and one output layer; ``forward(x, arch)`` runs ``arch``."""

    def __init__(self, space: MLPSpace, fan_in_scaling: bool = False) -> None:
        if not isinstance(space, MLPSpace):
            raise ConfigError(f"expected space to be an hn.MLPSpace, got {describe(space)}; pass hn.MLPSpace(in_features, num_classes)")
        check_bool(fan_in_scaling, "fan_in_scaling", owner="MLPSupernet")
        super().__init__()
        self.space, self.fan_in_scaling = space, fan_in_scaling
        wide = space.max_width
        self.layers = nn.ModuleList([nn.Linear(space.in_features, wide)] + [nn.Linear(wide, wide) for _ in range(space.max_depth - 1)])
        self.head = nn.Linear(wide, space.num_classes)

    def forward(self, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        arch = self.space.validate(arch)
        if not isinstance(x, torch.Tensor) or x.dtype != self.head.weight.dtype or x.dim() < 1 or x.shape[-1] != self.space.in_features:
            raise ConfigError(
                f"expected inputs (..., {self.space.in_features}) of {self.head.weight.dtype}, got {describe(x)}; "
                "pass a batch of the space's inputs"
            )
        params = {"head.weight": self.head.weight, "head.bias": self.head.bias}
        for index, layer in enumerate(self.layers):  # attribute reads: under functional_call they are the generated tensors
            assert isinstance(layer, nn.Linear)
            params[f"layers.{index}.weight"], params[f"layers.{index}.bias"] = layer.weight, layer.bias
        weights = _slice(params, self.space, arch, self.fan_in_scaling)
        h = x
        for index, a in enumerate(arch.activations):
            h = ACTIVATIONS[a][0](F.linear(h, weights[f"{2 * index}.weight"], weights[f"{2 * index}.bias"]))
        return F.linear(h, weights[f"{2 * arch.depth}.weight"], weights[f"{2 * arch.depth}.bias"])


@guarded_function
def plain_weights(
    params: dict[str, torch.Tensor], space: MLPSpace, arch: Architecture, *, fan_in_scaling: bool = False
) -> dict[str, torch.Tensor]:
    """Slice the supernet's parameters (``layers.l.*``, ``head.*``) into the state of ``space.build(arch)``.

    ``fan_in_scaling`` multiplies a weight sliced to ``k`` of its ``K`` inputs by ``sqrt(K / k)`` (see the module).
    """
    return _slice(params, space, arch, fan_in_scaling)


def _slice(params: dict[str, torch.Tensor], space: MLPSpace, arch: Architecture, fan_in_scaling: bool) -> dict[str, torch.Tensor]:
    def sliced(weight: torch.Tensor, rows: int | None, inputs: int) -> torch.Tensor:
        out = weight[:rows, :inputs]
        full = weight.shape[1]
        return out * math.sqrt(full / inputs) if fan_in_scaling and inputs != full else out

    out: dict[str, torch.Tensor] = {}
    previous = space.in_features
    for layer, w in enumerate(arch.widths):
        out[f"{2 * layer}.weight"] = sliced(params[f"layers.{layer}.weight"], w, previous)
        out[f"{2 * layer}.bias"] = params[f"layers.{layer}.bias"][:w]
        previous = w
    out[f"{2 * arch.depth}.weight"] = sliced(params["head.weight"], None, previous)
    out[f"{2 * arch.depth}.bias"] = params["head.bias"]
    return out
