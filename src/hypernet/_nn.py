"""The one small-MLP builder used by conditions, generators, recipes and the CLI.

Example:
    >>> net = mlp([4, 8, 2])
    >>> [type(m).__name__ for m in net]
    ['Linear', 'ReLU', 'Linear']
    >>> len(mlp([4, 8, 2], final_activation=True))
    4
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from torch import nn

from ._limits import check_allocation


def mlp(sizes: Sequence[int], final_activation: bool = False, kaiming: bool = True) -> nn.Sequential:
    """A ReLU MLP with the given layer sizes.

    Args:
        sizes: ``[in, hidden..., out]``.
        final_activation: end with a ReLU too (a trunk whose output feeds more layers).
        kaiming: Kaiming-normal weights and zero biases for every layer followed by a ReLU
            (keeps the second moment about constant through the stack); ``False`` keeps
            PyTorch's default initialisation everywhere (a plain target network).
    """
    numel = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
    check_allocation(numel, f"an MLP of sizes {list(sizes)}", f"its layers need {numel:,} parameters; use smaller sizes")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        lin = nn.Linear(a, b)
        layers.append(lin)
        if i < len(sizes) - 2 or final_activation:
            if kaiming:
                nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
                nn.init.zeros_(lin.bias)
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
