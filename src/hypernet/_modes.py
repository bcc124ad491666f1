"""Run a block with a module in eval mode, restoring its previous mode afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Put ``module`` in eval mode for the block; its previous mode comes back afterwards, also after an error.

    Example:
        >>> from torch import nn
        >>> net = nn.Dropout()
        >>> with eval_mode(net):
        ...     net.training
        False
        >>> net.training
        True
    """
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)
