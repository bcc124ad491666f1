"""The largest MLP of a space, run as any of its architectures by slicing its weights (as in SMASH).

Hidden layer ``l`` of an architecture uses the first ``width_l`` units of the supernet's
layer ``l`` and the first ``width_{l-1}`` of its inputs; the output layer reads the first
``width_depth`` units. The sliced weights have exactly the shapes of the plain module
:meth:`MLPSpace.build` makes, and :func:`plain_weights` names them like it.

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

import torch
import torch.nn.functional as F
from torch import nn

from ..._boundary import guarded_function
from ...errors import ConfigError, describe
from .space import ACTIVATIONS, Architecture, MLPSpace

__all__ = ["MLPSupernet", "plain_weights"]


class MLPSupernet(nn.Module):
    """``max_depth`` hidden layers of ``max_width`` units and one output layer; ``forward(x, arch)`` runs ``arch``."""

    def __init__(self, space: MLPSpace) -> None:
        if not isinstance(space, MLPSpace):
            raise ConfigError(f"expected space to be an hn.MLPSpace, got {describe(space)}; pass hn.MLPSpace(in_features, num_classes)")
        super().__init__()
        self.space = space
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
        h = x
        previous = self.space.in_features
        for index, (w, a) in enumerate(zip(arch.widths, arch.activations, strict=True)):
            layer = self.layers[index]
            assert isinstance(layer, nn.Linear)
            h = ACTIVATIONS[a][0](F.linear(h, layer.weight[:w, :previous], layer.bias[:w]))
            previous = w
        return F.linear(h, self.head.weight[:, :previous], self.head.bias)


@guarded_function
def plain_weights(params: dict[str, torch.Tensor], space: MLPSpace, arch: Architecture) -> dict[str, torch.Tensor]:
    """Slice the supernet's parameters (``layers.l.*``, ``head.*``) into the state of ``space.build(arch)``."""
    out: dict[str, torch.Tensor] = {}
    previous = space.in_features
    for layer, w in enumerate(arch.widths):
        out[f"{2 * layer}.weight"] = params[f"layers.{layer}.weight"][:w, :previous]
        out[f"{2 * layer}.bias"] = params[f"layers.{layer}.bias"][:w]
        previous = w
    out[f"{2 * arch.depth}.weight"] = params["head.weight"][:, :previous]
    out[f"{2 * arch.depth}.bias"] = params["head.bias"]
    return out
