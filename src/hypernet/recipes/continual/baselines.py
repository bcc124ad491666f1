"""Continual-learning baselines on a plain multi-head target: fine-tuning, online EWC and joint multi-task training.

The target outputs ``num_tasks * classes_per_task`` logits; task ``t`` reads its own slice
(a multi-head network, the usual task-incremental setup). Without a task id (CL3) the
prediction is the argmax over the heads of every trained task (class-incremental).

* ``"finetune"``: train each task in turn, nothing protects earlier ones (the lower bound).
* ``"ewc"``: online EWC (Schwarz et al., 2018): after each task the diagonal empirical Fisher
  ``F`` is accumulated as ``F ← gamma F + F_task`` and the loss gets
  ``ewc_lambda / 2 * Σ F (θ - θ*)²`` with ``θ*`` the weights after the last task.
* ``"joint"``: :meth:`SequentialBaseline.fit_joint` trains on all tasks at once (the upper bound).

All of them train with :func:`hypernet.training.fit`.

Example:
    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(64, 5); data = [[(x, (x[:, 0] > 0).long())], [(x, (x[:, 1] > 0).long())]]
    >>> base = SequentialBaseline(nn.Linear(5, 4), classes_per_task=2, num_tasks=2, method="ewc", ewc_lambda=10.0, lr=0.05)
    >>> for t in range(2):
    ...     _ = base.fit_task(t, data[t], epochs=20, eval_loaders=data)
    >>> base.accuracy_matrix.shape, base.predict(x).task.shape
    (torch.Size([2, 2]), torch.Size([64]))
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from ...errors import ConfigError, HypernetError, describe
from ...training.loop import FitResult, fit
from .learner import TaskPrediction
from .metrics import Loaders, accuracy_matrix, as_mapping, backward_transfer, batch_xy, evaluate_loader, predictive_entropy

METHODS = ("finetune", "ewc", "joint")


class SequentialBaseline:
    """A plain multi-head target trained task after task (``"finetune"``, ``"ewc"``) or on all tasks at once (``"joint"``).

    Args:
        target: a module whose output has ``num_tasks * classes_per_task`` logits.
        classes_per_task: width of each task's head.
        num_tasks: number of heads.
        method: ``"finetune"``, ``"ewc"`` or ``"joint"``.
        ewc_lambda, ewc_gamma: online EWC strength and decay of the accumulated Fisher.
        fisher_samples: training samples used to estimate each task's Fisher.
        lr: Adam learning rate (a new optimizer per task).
    """

    def __init__(
        self,
        target: nn.Module,
        classes_per_task: int,
        num_tasks: int,
        method: str = "finetune",
        *,
        ewc_lambda: float = 100.0,
        ewc_gamma: float = 1.0,
        fisher_samples: int = 500,
        lr: float = 1e-3,
    ) -> None:
        if method not in METHODS:
            raise ConfigError(f"expected method in {METHODS}, got {method!r}; pass one of them")
        self.target, self.c, self.num_tasks, self.method = target, classes_per_task, num_tasks, method
        self.ewc_lambda, self.ewc_gamma, self.fisher_samples, self.lr = ewc_lambda, ewc_gamma, fisher_samples, lr
        self.fisher: dict[str, torch.Tensor] = {}
        self.anchor: dict[str, torch.Tensor] = {}
        self.tasks_: list[int] = []
        self.history_: list[dict[int, float]] = []

    @property
    def accuracy_matrix(self) -> torch.Tensor:
        """Rows: after each trained task (or the joint run); columns: tasks."""
        return accuracy_matrix(self.history_, self.num_tasks)

    def backward_transfer(self) -> float:
        """Backward transfer of :attr:`accuracy_matrix`."""
        return backward_transfer(self.accuracy_matrix)

    def logits(self, x: torch.Tensor, task_id: int) -> torch.Tensor:
        """The head of ``task_id``."""
        return self.target(x)[:, task_id * self.c : (task_id + 1) * self.c]

    def evaluate(self, task_id: int, loader: Iterable[Any]) -> dict[str, float]:
        """``{"accuracy", "loss"}`` on ``task_id`` with its head (CL1)."""
        return evaluate_loader(self.target, lambda x: self.logits(x, task_id), loader)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> TaskPrediction:
        """CL3: argmax over the heads of all trained tasks; ``task`` is the head of the winning unit."""
        was = self.target.training
        self.target.eval()
        out = self.target(x).reshape(x.shape[0], self.num_tasks, self.c)
        self.target.train(was)
        seen = torch.tensor(self.tasks_ or list(range(self.num_tasks)))
        flat = out[:, seen].reshape(x.shape[0], -1)
        best = flat.argmax(-1)
        return TaskPrediction(seen[best // self.c], best % self.c, predictive_entropy(out.transpose(0, 1)))

    def _penalty(self) -> torch.Tensor | None:
        if self.method != "ewc" or not self.fisher:
            return None
        total = torch.zeros(())
        for name, p in self.target.named_parameters():
            total = total + (self.fisher[name] * (p - self.anchor[name]).pow(2)).sum()
        return 0.5 * self.ewc_lambda * total

    def _fit(self, step: Any, loader: Iterable[Any], epochs: int, max_steps: int | None, progress: bool | None) -> FitResult:
        optimizer = torch.optim.Adam([p for p in self.target.parameters() if p.requires_grad], lr=self.lr)
        self.target.train()
        return fit(self.target, step, loader, optimizer, epochs=epochs, max_steps=max_steps, progress=progress, tensorboard=False)

    def fit_task(
        self,
        task_id: int,
        train_loader: Iterable[Any],
        epochs: int = 1,
        *,
        max_steps: int | None = None,
        eval_loaders: Loaders | None = None,
        progress: bool | None = False,
    ) -> FitResult:
        """Train task ``task_id`` (fine-tuning or online EWC), then evaluate ``eval_loaders`` into :attr:`accuracy_matrix`."""
        if self.method == "joint":
            raise ConfigError("expected fit_joint(...) for method='joint', got fit_task(...); joint training sees all tasks at once")

        def step(model: nn.Module, batch: Any) -> torch.Tensor:
            x, y = batch_xy(batch)
            loss = nn.functional.cross_entropy(self.logits(x, task_id), y)
            penalty = self._penalty()
            return loss if penalty is None else loss + penalty

        result = self._fit(step, train_loader, epochs, max_steps, progress)
        if self.method == "ewc":
            self._consolidate(task_id, train_loader)
        if task_id not in self.tasks_:
            self.tasks_.append(task_id)
        self._record(eval_loaders)
        return result

    def fit_joint(
        self,
        train_loader: Iterable[Any],
        epochs: int = 1,
        *,
        max_steps: int | None = None,
        eval_loaders: Loaders | None = None,
        progress: bool | None = False,
    ) -> FitResult:
        """Train on batches ``(x, y, task)`` mixing all tasks (each sample through its own head)."""
        if self.method != "joint":
            raise ConfigError(f"expected method='joint' for fit_joint, got method={self.method!r}; build the learner with method='joint'")

        def step(model: nn.Module, batch: Any) -> torch.Tensor:
            if not isinstance(batch, (tuple, list)) or len(batch) != 3:
                raise HypernetError(
                    f"expected joint batches of (x, y, task), got {describe(batch)}; pass e.g. a DataLoader over TensorDataset(x, y, task)"
                )
            x, y, task = batch
            out = model(x).reshape(x.shape[0], self.num_tasks, self.c)
            heads = out.gather(1, task.view(-1, 1, 1).expand(-1, 1, self.c)).squeeze(1)
            return nn.functional.cross_entropy(heads, y)

        result = self._fit(step, train_loader, epochs, max_steps, progress)
        self.tasks_ = list(range(self.num_tasks))
        self._record(eval_loaders)
        return result

    def _record(self, eval_loaders: Loaders | None) -> None:
        loaders = as_mapping(eval_loaders)
        if loaders:
            self.history_.append({t: self.evaluate(t, loader)["accuracy"] for t, loader in loaders.items()})

    def _consolidate(self, task_id: int, loader: Iterable[Any]) -> None:
        """Accumulate the diagonal empirical Fisher of this task (per-sample gradients via ``torch.func``) and move the anchor."""
        xs, ys, n = [], [], 0
        for batch in loader:
            x, y = batch_xy(batch)
            xs.append(x)
            ys.append(y)
            n += x.shape[0]
            if n >= self.fisher_samples:
                break
        x, y = torch.cat(xs)[: self.fisher_samples], torch.cat(ys)[: self.fisher_samples]
        params = {k: v.detach() for k, v in self.target.named_parameters()}
        buffers = {k: v.detach() for k, v in self.target.named_buffers()}
        was = self.target.training
        self.target.eval()

        def nll(p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
            out = torch.func.functional_call(self.target, (p, buffers), (xi.unsqueeze(0),))[:, task_id * self.c : (task_id + 1) * self.c]
            return nn.functional.cross_entropy(out, yi.unsqueeze(0))

        grads = torch.func.vmap(torch.func.grad(nll), in_dims=(None, 0, 0))(params, x, y)
        self.target.train(was)
        for name, g in grads.items():
            f = g.pow(2).mean(0)
            self.fisher[name] = self.ewc_gamma * self.fisher[name] + f if name in self.fisher else f
            self.anchor[name] = params[name].clone()
