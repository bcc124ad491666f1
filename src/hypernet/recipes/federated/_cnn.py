"""The clients' small CNN: pFedHN's LeNet-style target, sized for 28x28 grey images.

Example:
    >>> import torch
    >>> SmallCNN(n_kernels=4)(torch.zeros(2, 784)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import torch
from torch import nn

from ..._boundary import guarded
from ..._validation import check_int
from ...errors import ConfigError, describe


@guarded()
class SmallCNN(nn.Module):
    """conv5-pool-conv5-pool-fc-fc-fc (pFedHN's ``CNNTarget`` layout); takes ``(N, 784)`` or ``(N, 1, 28, 28)``."""

    def __init__(self, n_kernels: int = 16, n_classes: int = 10, hidden: tuple[int, int] = (120, 84), side: int = 28) -> None:
        for name, value, low in (("n_kernels", n_kernels, 1), ("n_classes", n_classes, 1), ("side", side, 16)):
            check_int(value, name, low=low, high=4096, owner="SmallCNN")
        if not isinstance(hidden, (tuple, list)) or len(hidden) != 2:
            raise ConfigError(f"expected SmallCNN(hidden=...) to be two widths, got {describe(hidden)}; pass e.g. (120, 84)")
        for h in hidden:
            check_int(h, "hidden", low=1, high=65536, owner="SmallCNN")
        super().__init__()
        self.side = side
        self.conv1 = nn.Conv2d(1, n_kernels, 5)
        self.conv2 = nn.Conv2d(n_kernels, 2 * n_kernels, 5)
        flat = 2 * n_kernels * (((side - 4) // 2 - 4) // 2) ** 2
        self.fc1 = nn.Linear(flat, hidden[0])
        self.fc2 = nn.Linear(hidden[0], hidden[1])
        self.fc3 = nn.Linear(hidden[1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, 1, self.side, self.side)
        x = nn.functional.max_pool2d(nn.functional.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(nn.functional.relu(self.conv2(x)), 2)
        x = nn.functional.relu(self.fc1(x.flatten(1)))
        return self.fc3(nn.functional.relu(self.fc2(x)))
