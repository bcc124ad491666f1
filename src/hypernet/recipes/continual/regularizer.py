"""The output regulariser of von Oswald et al. (2020) and the callback that keeps finished task embeddings fixed.

When task ``T`` starts, the weights the hypernetwork generates for every earlier task embedding
are stored (``h*(e_i)``). While task ``T`` trains, the loss gets
``beta * mean_i ||h(e_i) - h*(e_i)||²`` (squared L2 norm over all generated weights, mean over
the earlier tasks). With look-ahead, ``h`` is evaluated at ``Θ + ΔΘ`` where ``ΔΘ = -lr ∇L_task``
(detached), the candidate change the task loss alone would make; the paper's variant.
"""

from __future__ import annotations

import torch
from torch import nn

from ..._model import HyperModel
from ...training.loop import Callback, TrainState


class FlatWeights(nn.Module):
    """``forward(ids) = model.flat_weights(ids)``, so :func:`torch.func.functional_call` can swap the model's parameters."""

    def __init__(self, model: HyperModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.flat_weights(ids)


class OutputRegularizer:
    """``mean_i ||h(e_i) - h*(e_i)||²`` over earlier tasks ``ids``, with targets ``h*`` taken at construction.

    Args:
        model: the hypernetwork model.
        ids: the earlier task ids (1-d LongTensor, at least one).
        sample: regularise a random subset of this many earlier tasks per step (``None``: all of them).
    """

    def __init__(self, model: HyperModel, ids: torch.Tensor, sample: int | None = None) -> None:
        self.ids = ids
        self.sample = sample
        with torch.no_grad():
            self.targets = model.flat_weights(ids).detach().clone()
        self.view = FlatWeights(model)

    def _pick(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.sample is None or self.sample >= self.ids.numel():
            return self.ids, self.targets
        rows = torch.randperm(self.ids.numel())[: self.sample].sort().values
        return self.ids[rows], self.targets[rows]

    def __call__(self, task_loss: torch.Tensor | None = None, lookahead_lr: float | None = None) -> torch.Tensor:
        """The regulariser; with ``lookahead_lr`` and ``task_loss``, evaluated at the look-ahead parameters."""
        ids, targets = self._pick()
        if lookahead_lr is None or task_loss is None:
            current = self.view(ids)
        else:
            named = [(n, p) for n, p in self.view.named_parameters() if p.requires_grad]
            grads = torch.autograd.grad(task_loss, [p for _, p in named], retain_graph=True, allow_unused=True)
            moved = {n: p if g is None else p - lookahead_lr * g.detach() for (n, p), g in zip(named, grads, strict=True)}
            current = torch.func.functional_call(self.view, moved, (ids,))
        return (current - targets).pow(2).sum(1).mean()


class KeepRows(Callback):
    """Keeps the rows of an embedding table other than ``trainable`` exactly as they were (zero gradient, restored after each step)."""

    def __init__(self, table: nn.Parameter, trainable: list[int]) -> None:
        self.table = table
        self.mask = torch.ones(table.shape[0], 1, dtype=torch.bool, device=table.device)
        self.mask[trainable] = False
        self.saved = table.detach().clone()

    def on_after_backward(self, state: TrainState) -> None:
        if self.table.grad is not None:
            self.table.grad.masked_fill_(self.mask, 0.0)

    def on_step_end(self, state: TrainState) -> None:
        with torch.no_grad():
            self.table.copy_(torch.where(self.mask, self.saved, self.table))
