"""Continual learning with a task-conditioned hypernetwork (von Oswald et al., "Continual learning with hypernetworks", ICLR 2020).

One learned embedding per task; a hypernetwork (chunked by default) generates *all* the
target's weights from it. Before task ``T`` trains, the weights generated for every earlier
task are stored, and the loss gets the output regulariser
``beta * mean_i ||h(e_i) - h*(e_i)||²``: the hypernetwork, not the target, remembers, and a
whole task costs one embedding vector of memory. Without a task id (CL3), :meth:`predict`
picks for every sample the task whose weights give the lowest predictive entropy (HNET+ENT),
evaluating all task embeddings on the batch in one batched call of the
:class:`~hypernet.HyperModel` (the batch repeated once per task, one task id per copy).

Training runs on :func:`hypernet.training.fit`, the loop every recipe shares; checkpoints use
the library's safetensors + JSON format (:func:`hypernet.training.save_checkpoint`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from ..._boundary import guarded
from ..._model import HyperModel
from ..._modes import eval_mode
from ..._validation import check_float, check_int
from ...conditions import Embedding
from ...errors import CheckpointError, ConditionError, ConfigError, describe
from ...generators import Generator
from ...training.checkpoint import load_checkpoint, save_checkpoint
from ...training.loop import FitResult, fit
from .metrics import Loaders, accuracy_matrix, as_mapping, backward_transfer, batch_xy, evaluate_loader, predictive_entropy
from .regularizer import KeepRows, OutputRegularizer

__all__ = ["ContinualLearner", "TaskPrediction"]

RECIPE = "continual"
ROWS_PER_CALL = 1 << 14  # rows (samples x tasks) per batched call in task inference


class TaskPrediction(NamedTuple):
    """CL3 prediction: the inferred task of each sample, the label inside that task, and the per-task entropies ``(T, B)``."""

    task: torch.Tensor
    label: torch.Tensor
    entropy: torch.Tensor


@guarded(mutating=("fit_task", "load"))
class ContinualLearner:
    """A task-conditioned hypernetwork that learns tasks one after another without forgetting them.

    Args:
        target: any ``nn.Module`` (all of its weights are generated; it is never rewritten).
        embedding_dim: size of each task embedding.
        generator: a registered generator name (default ``"chunked"``, as in the paper) or an unbound :class:`~hypernet.Generator`.
        beta: strength of the output regulariser; ``0`` turns it off (plain sequential training of the hypernetwork).
        num_tasks: how many task ids (``0 .. num_tasks-1``) the learner can hold.
        generator_kwargs: arguments for the named generator (e.g. ``{"chunk_size": 8000, "hidden": (10, 10)}``).
        init: the :class:`~hypernet.HyperModel` initialisation (``"hyperfan"``).
        lr: Adam learning rate (a new optimizer per task).
        lookahead: evaluate the regulariser at ``Θ - lr ∇L_task`` (the paper's look-ahead; one extra gradient per step).
        freeze_embeddings: keep the embeddings of finished tasks fixed (default). If ``False`` they
            move with the regulariser's gradient.
        reg_tasks: regularise a random subset of this many earlier tasks per step (``None``: all).
        grad_clip: clip the gradient norm (``None``: no clipping).
        device: where the model lives; batches are moved there.

    Attributes:
        model: the :class:`~hypernet.HyperModel`; embedding: its condition, an ``hn.Embedding`` (``embedding.table``: one row per task).
        tasks_: task ids trained so far, in order; history_: per trained task, ``{task: accuracy}``
            measured right after it on the ``eval_loaders`` given to :meth:`fit_task`.

    Example:
        >>> import torch, hypernet as hn
        >>> from torch import nn
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(64, 5); tasks = [(x, (x[:, 0] > 0).long()), (x, (x[:, 1] > 0).long())]
        >>> learner = hn.ContinualLearner(nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2)),
        ...                               embedding_dim=8, num_tasks=2, generator_kwargs={"hidden": (16,)}, lr=1e-2)
        >>> for t, (xt, yt) in enumerate(tasks):
        ...     _ = learner.fit_task(t, DataLoader(TensorDataset(xt, yt), batch_size=16), epochs=30,
        ...                          eval_loaders=[DataLoader(TensorDataset(*d), batch_size=64) for d in tasks])
        >>> learner.accuracy_matrix.shape, learner.evaluate(0, [tasks[0]])["accuracy"] > 0.8
        (torch.Size([2, 2]), True)
        >>> learner.predict(x).task.shape
        torch.Size([64])
    """

    def __init__(
        self,
        target: nn.Module,
        embedding_dim: int = 32,
        generator: str | Generator = "chunked",
        beta: float = 0.01,
        *,
        num_tasks: int = 10,
        generator_kwargs: dict[str, Any] | None = None,
        init: str = "hyperfan",
        lr: float = 1e-3,
        lookahead: bool = False,
        freeze_embeddings: bool = True,
        reg_tasks: int | None = None,
        grad_clip: float | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        owner = "ContinualLearner"
        check_float(beta, "beta", low=0, owner=owner, kind="a float >= 0")
        check_float(lr, "lr", low=0, low_open=True, owner=owner, kind="a float > 0")
        check_int(reg_tasks, "reg_tasks", low=1, optional=True, owner=owner)
        check_float(grad_clip, "grad_clip", low=0, low_open=True, optional=True, owner=owner, kind="a float > 0")
        self.beta = float(beta)
        self.lr = float(lr)
        self.lookahead = bool(lookahead)
        self.freeze_embeddings = bool(freeze_embeddings)
        self.reg_tasks = reg_tasks
        self.grad_clip = grad_clip
        self.device = torch.device(device)
        self.config = {
            "recipe": RECIPE,
            "embedding_dim": embedding_dim,
            "num_tasks": num_tasks,
            "generator": generator if isinstance(generator, str) else type(generator).__name__,
            "generator_kwargs": json.loads(json.dumps(generator_kwargs or {})),
            "init": init,
        }
        condition = Embedding(num=num_tasks, dim=embedding_dim)
        self.embedding = condition
        self.model = HyperModel(target, condition=condition, generator=generator, init=init, generator_kwargs=generator_kwargs).to(
            self.device
        )
        self.tasks_: list[int] = []
        self.history_: list[dict[int, float]] = []

    # ------------------------------------------------------------------ properties
    @property
    def num_tasks(self) -> int:
        """How many task ids the learner can hold."""
        return self.embedding.num

    @property
    def compression(self) -> float:
        """Hypernetwork trainable parameters (embeddings + generator) per target weight (``HyperModel.compression``)."""
        return self.model.compression

    @property
    def accuracy_matrix(self) -> torch.Tensor:
        """``(trained tasks, num_tasks)`` accuracies: row r = after the r-th trained task, column i = task i (NaN: not measured)."""
        return accuracy_matrix(self.history_, self.num_tasks)

    def backward_transfer(self) -> float:
        """Backward transfer of :attr:`accuracy_matrix` (tasks trained in order 0, 1, ...); negative = forgetting."""
        return backward_transfer(self.accuracy_matrix)

    # ------------------------------------------------------------------ training
    def _task_id(self, task_id: Any) -> int:
        if isinstance(task_id, bool) or not isinstance(task_id, int) or not 0 <= task_id < self.num_tasks:
            raise ConditionError(
                f"expected a task id in [0, {self.num_tasks}), got {describe(task_id)}; "
                "use ids below num_tasks, or build the ContinualLearner with a larger num_tasks"
            )
        return task_id

    def fit_task(
        self,
        task_id: int,
        train_loader: Iterable[Any],
        epochs: int = 1,
        *,
        max_steps: int | None = None,
        eval_loaders: Loaders | None = None,
        run_dir: str | Path | None = None,
        progress: bool | None = False,
    ) -> FitResult:
        """Train task ``task_id`` on ``train_loader`` (batches of ``(x, y)``), protecting every earlier task.

        Before training, the weights generated for the earlier tasks are snapshotted; the loss is
        ``cross_entropy + beta * mean_i ||h(e_i) - h*(e_i)||²``. Afterwards, each of
        ``eval_loaders`` (by task id) is evaluated and stored as a row of :attr:`accuracy_matrix`.

        Returns:
            the :class:`~hypernet.training.FitResult` of the shared loop (losses, metrics, time).
        """
        task = self._task_id(task_id)
        earlier = [t for t in self.tasks_ if t != task]
        reg = None
        if earlier and self.beta > 0:
            reg = OutputRegularizer(self.model, torch.tensor(earlier, device=self.device), self.reg_tasks)
        table = self.embedding.table
        keep = [task] if self.freeze_embeddings else [task, *earlier]
        callbacks = [KeepRows(table, keep)]
        lookahead_lr = self.lr if self.lookahead else None
        beta = self.beta

        def step(model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor | float]]:
            x, y = batch_xy(batch)
            out = model(x, task)
            loss = nn.functional.cross_entropy(out, y)
            metrics: dict[str, torch.Tensor | float] = {"acc": (out.argmax(-1) == y).float().mean()}
            if reg is not None:
                penalty = reg(loss, lookahead_lr)
                metrics["reg"] = penalty.detach()
                loss = loss + beta * penalty
            return loss, metrics

        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=self.lr)
        self.model.train()
        result = fit(
            self.model,
            step,
            train_loader,
            optimizer,
            epochs=epochs,
            max_steps=max_steps,
            callbacks=callbacks,
            progress=progress,
            run_dir=run_dir,
            grad_clip=self.grad_clip,
            device=self.device,
            tensorboard=False,
            config={"recipe": RECIPE, "task": task},
        )
        if task not in self.tasks_:
            self.tasks_.append(task)
        loaders = as_mapping(eval_loaders)
        if loaders:
            self.history_.append({t: self.evaluate(t, loader)["accuracy"] for t, loader in loaders.items()})
        return result

    # ------------------------------------------------------------------ inference
    def logits(self, x: torch.Tensor, task_id: int | torch.Tensor) -> torch.Tensor:
        """The target's output on ``x`` with the weights of ``task_id`` (an int, or one id per sample)."""
        if not isinstance(task_id, torch.Tensor):
            task_id = self._task_id(task_id)
        return self.model(x.to(self.device), task_id)

    def evaluate(self, task_id: int, loader: Iterable[Any]) -> dict[str, float]:
        """``{"accuracy", "loss"}`` of task ``task_id`` (task id given: CL1) over ``loader``'s ``(x, y)`` batches."""
        task = self._task_id(task_id)
        return evaluate_loader(self.model, lambda x: self.logits(x, task), loader)

    @torch.no_grad()
    def task_logits(self, x: torch.Tensor, tasks: Sequence[int] | None = None) -> torch.Tensor:
        """``(T, B, C)`` outputs of every task's weights on every sample (default tasks: :attr:`tasks_`).

        The batch is repeated once per task with one task id per copy, so one call of the model
        evaluates all T weight sets on it (the core's per-sample path generates T sets, not T·B).
        """
        ids = self._tasks(tasks)
        with eval_mode(self.model):
            x = x.to(self.device)
            n, count = x.shape[0], ids.numel()
            per_call = max(1, ROWS_PER_CALL // count)
            parts = []
            for start in range(0, n, per_call):  # blocks of samples bound the memory, not a loop over samples
                xb = x[start : start + per_call]
                b = xb.shape[0]
                out = self.model(xb.repeat(count, *([1] * (xb.dim() - 1))), ids.repeat_interleave(b))
                parts.append(out.reshape(count, b, *out.shape[1:]))
            return torch.cat(parts, dim=1)

    def task_entropies(self, x: torch.Tensor, tasks: Sequence[int] | None = None) -> torch.Tensor:
        """``(T, B)`` predictive entropies of every task's weights on every sample (see :meth:`task_logits`)."""
        return predictive_entropy(self.task_logits(x, tasks))

    def _tasks(self, tasks: Sequence[int] | None) -> torch.Tensor:
        chosen = list(self.tasks_ if tasks is None else tasks)
        if not chosen:
            raise ConfigError("expected at least one trained task for task inference, got none; call fit_task first (or pass tasks=[...])")
        for t in chosen:
            self._task_id(t)
        return torch.tensor(chosen, dtype=torch.long, device=self.device)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, tasks: Sequence[int] | None = None) -> TaskPrediction:
        """CL3 prediction without a task id: the task with the lowest predictive entropy, then its label (HNET+ENT).

        Args:
            x: a batch of inputs.
            tasks: candidate task ids (default: all trained tasks, :attr:`tasks_`).
        """
        ids = self._tasks(tasks)
        logits = self.task_logits(x, ids.tolist())
        entropy = predictive_entropy(logits)
        best = entropy.argmin(0)
        label = logits.argmax(-1).gather(0, best.unsqueeze(0)).squeeze(0)
        return TaskPrediction(ids[best], label, entropy)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the learner to the directory ``path`` (safetensors + JSON, no pickle); returns the checkpoint's JSON file."""
        extra = {"tasks": self.tasks_, "history": [{str(k): v for k, v in row.items()} for row in self.history_]}
        return save_checkpoint(path, step=len(self.tasks_), model=self.model, config=self.config, extra=extra, keep_last=1)

    def load(self, path: str | Path) -> ContinualLearner:
        """Restore a learner written by :meth:`save` into this one (built with the same target architecture and arguments).

        Raises:
            CheckpointError: the files are missing or corrupted, or were written by a differently configured learner.
        """
        ckpt = load_checkpoint(path)
        saved = ckpt.meta.get("config", {})
        if saved.get("recipe") != RECIPE:
            raise CheckpointError(
                f"expected a ContinualLearner checkpoint at {ckpt.path}, got recipe {saved.get('recipe')!r}; "
                "load it with that recipe's class"
            )
        diff = {k: (saved.get(k), v) for k, v in self.config.items() if saved.get(k) != v}
        if diff:
            detail = ", ".join(f"{k}: saved {a!r} vs this {b!r}" for k, (a, b) in diff.items())
            raise CheckpointError(
                f"expected checkpoint {ckpt.path} of a ContinualLearner configured as this one, got a different one ({detail}); "
                "build it with the saved arguments"
            )
        ckpt.restore(self.model)
        extra = ckpt.meta["extra"]
        self.tasks_ = [int(t) for t in extra["tasks"]]
        self.history_ = [{int(k): float(v) for k, v in row.items()} for row in extra["history"]]
        return self
