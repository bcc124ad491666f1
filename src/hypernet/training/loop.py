"""The one training loop every recipe uses.

:func:`fit` runs epochs of ``step(model, batch) -> loss`` (or ``(loss, metrics)``) with an
optimizer, and takes care of everything around it: progress bar, ``metrics.csv`` /
TensorBoard / plots / ``summary.json`` in a run directory, atomic checkpoints every N
steps and at the end, bitwise-exact ``resume``, end-of-epoch evaluation, callbacks, and
DistributedDataParallel when launched with ``torchrun``.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from hypernet.training import fit, make_loader
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(64, 3); y = x @ torch.tensor([1.0, -2.0, 0.5])
    >>> data = torch.utils.data.TensorDataset(x, y)
    >>> net = nn.Linear(3, 1)
    >>> def step(model, batch):
    ...     xb, yb = batch
    ...     return nn.functional.mse_loss(model(xb).squeeze(1), yb)
    >>> result = fit(net, step, make_loader(data, 16), torch.optim.SGD(net.parameters(), lr=0.1), epochs=20, progress=False)
    >>> result.steps, result.losses[-1] < 0.01 * result.losses[0]
    (80, True)
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import torch
from torch import nn

from ..errors import CheckpointError, describe
from . import distributed
from .checkpoint import Checkpoint, latest_checkpoint, save_checkpoint
from .errors import TrainingError
from .logger import RunLogger
from .progress import Progress
from .rng import capture_rng, restore_rng
from .run_lock import run_lock

log = logging.getLogger("hypernet")

StepResult = torch.Tensor | tuple[torch.Tensor, Mapping[str, float | torch.Tensor]]
StepFn = Callable[[nn.Module, Any], StepResult]
EvalFn = Callable[[nn.Module], Mapping[str, float]]


@dataclass
class TrainState:
    """What callbacks see.

    Attributes:
        model: the model the step function gets (a ``DistributedDataParallel`` wrapper under ``torchrun``).
        optimizer: the optimizer.
        step: optimizer steps done; epoch: the current epoch (0-based); batch: batches done in it.
        loss, metrics: of the last step (this process's values); eval_metrics: of the last evaluation.
        stop: set it to ``True`` in a callback to end training after the current step.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    step: int = 0
    epoch: int = 0
    batch: int = 0
    loss: float = math.nan
    metrics: dict[str, float] = field(default_factory=dict)
    eval_metrics: dict[str, float] = field(default_factory=dict)
    stop: bool = False


class Callback:
    """Hooks into :func:`fit`; override the ones you need (all do nothing by default)."""

    def on_fit_start(self, state: TrainState) -> None:
        """Before the first step (after restoring a checkpoint when resuming)."""

    def on_after_backward(self, state: TrainState) -> None:
        """After ``loss.backward()`` (and gradient averaging under DDP), before ``optimizer.step()``."""

    def on_step_end(self, state: TrainState) -> None:
        """After each optimizer step."""

    def on_epoch_end(self, state: TrainState) -> None:
        """After each full epoch and its evaluation."""

    def on_fit_end(self, state: TrainState) -> None:
        """After the final checkpoint."""


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        steps: optimizer steps done in total (including those before a resume).
        epochs: completed epochs.
        losses: the loss of every step run by *this* call (averaged over processes under DDP).
        metrics: the last logged value of every metric (``train/...``, ``eval/...``).
        seconds: wall time of this call.
        run_dir: the run directory, if any; checkpoint: the last checkpoint written, if any.
        resumed_from: the step the run resumed from, if it did.
    """

    steps: int
    epochs: int
    losses: list[float]
    metrics: dict[str, float]
    seconds: float
    run_dir: Path | None = None
    checkpoint: Path | None = None
    resumed_from: int | None = None


def to_device(batch: Any, device: torch.device | str | None) -> Any:
    """Move the tensors of a (nested tuple / list / dict) batch to ``device``; ``None`` leaves it alone."""
    if device is None:
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def _loader_generators(loader: Iterable[Any]) -> list[torch.Generator]:
    """torch generators a loader draws from (its own and its sampler's), whose state a resume must rewind."""
    found: list[torch.Generator] = []
    for owner in (loader, getattr(loader, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        gen = getattr(owner, "generator", None)
        if isinstance(gen, torch.Generator) and all(gen is not g for g in found):
            found.append(gen)
    return found


def _samplers(loader: Iterable[Any]) -> list[Any]:
    batch_sampler = getattr(loader, "batch_sampler", None)
    return [getattr(loader, "sampler", None), batch_sampler, getattr(batch_sampler, "sampler", None)]


def _set_epoch(loader: Iterable[Any], epoch: int) -> None:
    for owner in _samplers(loader):
        set_epoch = getattr(owner, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)


def _loss_weight(loader: Iterable[Any], index: int) -> float:
    """The factor of this process's loss in batch ``index`` (a :class:`~.distributed.ShardedBatchSampler` weighs a short last batch)."""
    for owner in _samplers(loader):
        weight = getattr(owner, "loss_weight", None)
        if callable(weight):
            return float(weight(index))
    return 1.0


def _length(loader: Iterable[Any]) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def check_gradients_flow(parameters: Iterable[torch.Tensor], loss: float, what: str = "the first training step") -> None:
    """Raise :class:`TrainingError` if no trainable parameter got a non-zero gradient (training would do nothing).

    The shared training path calls it after the first step's backward pass (recipes with their own
    loop call it too): a loss that does not depend on any trainable parameter (a detached graph,
    classes represented identically) would otherwise train silently on nothing.

    Example:
        >>> w = torch.zeros(2, requires_grad=True)
        >>> (w * 0.0).sum().backward()
        >>> check_gradients_flow([w], 0.0)
        Traceback (most recent call last):
        ...
        hypernet.training.errors.TrainingError: expected a non-zero gradient ...
    """
    params = [p for p in parameters if p.requires_grad]
    if any(p.grad is not None and bool(p.grad.ne(0).any()) for p in params):
        return
    missing = sum(p.grad is None for p in params)
    raise TrainingError(
        f"expected a non-zero gradient for some trainable parameter after {what}, got exactly zero for all {len(params)} "
        f"({missing} without any gradient; loss {loss:.6g}): training would change nothing. Usual causes: the loss does not "
        "depend on the trainable parameters (a detached graph, torch.no_grad() or .detach() in the step function, parameters "
        "missing from the optimizer), or every class is represented identically (e.g. label names that embed to the same "
        "vector); fix the step function or the data and start again"
    )


def gradient_norm(parameters: Iterable[torch.Tensor], clip: float | None = None) -> float:
    """The total L2 norm of the parameters' gradients (``inf`` / ``nan`` if one is not finite), clipped to ``clip`` if given.

    Clipping leaves non-finite gradients as they are (the caller raises before the optimizer step).

    Example:
        >>> w = torch.ones(2, requires_grad=True)
        >>> (3 * w).sum().backward()
        >>> round(gradient_norm([w]), 4), round(gradient_norm([w], clip=1.0), 4), round(float(w.grad.norm()), 4)
        (4.2426, 4.2426, 1.0)
    """
    params = [p for p in parameters if p.grad is not None]
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    if not any(g.is_sparse for g in grads):
        if clip is not None:
            return float(nn.utils.clip_grad_norm_(params, clip))
        norms = torch._foreach_norm(grads)  # one fused pass, as clip_grad_norm_ does
        return float(torch.linalg.vector_norm(torch.stack([n.to(norms[0].device) for n in norms])))
    # sparse gradients (nn.Embedding(sparse=True)): the norm of their coalesced values; clipped by hand
    parts = [torch.linalg.vector_norm(g.coalesce().values() if g.is_sparse else g).to(grads[0].device) for g in grads]
    norm = float(torch.linalg.vector_norm(torch.stack(parts)))
    if clip is not None and math.isfinite(norm) and norm > clip:
        for g in grads:
            g.mul_(clip / (norm + 1e-6))
    return norm


def check_finite_gradients(
    parameters: Iterable[torch.Tensor], where: str | Callable[[], str], fix: str, *, clip: float | None = None
) -> float:
    """Raise :class:`TrainingError` if the gradient norm is NaN/inf; else return it (clipping to ``clip`` first if given).

    ``where`` names the step in the error; a function returning it is only called when raising (a hot loop
    need not format it every step).

    Call it after ``backward`` and before ``optimizer.step()``: a finite loss can still overflow in the
    backward pass, and the step would then write NaN into every weight. Raising here leaves the
    parameters (and the optimizer's state) those of the step before. Every training loop uses it.

    Example:
        >>> w = torch.ones(2, requires_grad=True)
        >>> torch.sqrt((w - w.detach()).abs()).sum().backward()  # the loss is 0, its gradient NaN
        >>> check_finite_gradients([w], "step 1", "lower lr")
        Traceback (most recent call last):
        ...
        hypernet.training.errors.TrainingError: expected finite gradients, got a gradient norm of nan at step 1; ...
    """
    norm = gradient_norm(parameters, clip)
    if not math.isfinite(norm):
        place = where() if callable(where) else where
        raise TrainingError(
            f"expected finite gradients, got a gradient norm of {norm} at {place}; the parameters are those of the step before; {fix}"
        )
    return norm


def checked_step(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    parameters: Sequence[torch.Tensor],
    *,
    where: str,
    fix: str,
    first: bool = False,
    clip: float | None = None,
) -> float:
    """One optimiser step on ``loss`` with every check of the shared training path; returns the loss as a float.

    For recipes with their own loop: a non-finite loss raises before ``backward``; on the ``first`` step an
    all-zero gradient raises (:func:`check_gradients_flow`); a NaN/inf gradient norm raises before the step
    (:func:`check_finite_gradients`, clipping to ``clip`` first if given). On any of these the parameters and
    the optimizer's state stay those of the step before. ``where`` names the step (e.g. ``"step 3 of X.fit"``),
    ``fix`` is the advice in the error.

    Example:
        >>> w = torch.ones(2, requires_grad=True)
        >>> opt = torch.optim.SGD([w], lr=0.5)
        >>> checked_step((w**2).sum(), opt, [w], where="step 1", fix="lower lr", first=True), w.tolist()
        (2.0, [0.0, 0.0])
        >>> checked_step((w * 0.0).sum(), opt, [w], where="step 1", fix="lower lr", first=True)
        Traceback (most recent call last):
        ...
        hypernet.training.errors.TrainingError: expected a non-zero gradient ...
    """
    value = float(loss.detach())
    if not math.isfinite(value):
        raise TrainingError(f"expected a finite loss, got {value} at {where}; the parameters are those of the step before; {fix}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if first:  # no silent training on nothing
        check_gradients_flow(parameters, value, where)
    check_finite_gradients(parameters, where, fix, clip=clip)
    optimizer.step()
    return value


def _split(result: StepResult) -> tuple[torch.Tensor, dict[str, float]]:
    loss, metrics = result if isinstance(result, tuple) else (result, {})
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TrainingError(
            f"expected the step function to return a scalar loss tensor (or (loss, metrics)), got {describe(loss)}; "
            "return loss.mean() (or (loss.mean(), metrics))"
        )
    return loss, {k: float(v.detach()) if isinstance(v, torch.Tensor) else float(v) for k, v in metrics.items()}


class _Checkpointer:
    """Saves the loop's position with every process's RNG states (rank 0 writes)."""

    def __init__(self, directory: Path | None, keep_last: int, config: Mapping[str, Any] | None, generators: Sequence[torch.Generator]):
        self.directory, self.keep_last, self.config, self.generators = directory, keep_last, config, generators
        self.epoch_rng: tuple[dict[str, torch.Tensor], dict[str, Any]] = ({}, {})
        self.last: Path | None = None
        self.last_step = -1

    def save(self, state: TrainState, model: nn.Module, scheduler: Any, epoch: int, batch: int) -> None:
        if self.directory is None:
            return
        mine = (capture_rng(self.generators), self.epoch_rng)
        everyone = distributed.gather(mine)
        if distributed.current().is_main:
            tensors: dict[str, torch.Tensor] = {}
            meta: dict[str, Any] = {"rng": [], "epoch_rng": []}
            for rank, ((rng_t, rng_m), (ep_t, ep_m)) in enumerate(everyone):
                tensors.update({f"rng/{rank}/{k}": v for k, v in rng_t.items()})
                tensors.update({f"epoch_rng/{rank}/{k}": v for k, v in ep_t.items()})
                meta["rng"].append(rng_m)
                meta["epoch_rng"].append(ep_m)
            self.last = save_checkpoint(
                self.directory,
                step=state.step,
                epoch=epoch,
                batch=batch,
                model=model,
                optimizer=state.optimizer,
                scheduler=scheduler,
                config=self.config,
                tensors=tensors,
                extra=meta,
                keep_last=self.keep_last,
            )
        self.last_step = state.step
        distributed.barrier()

    def rng_of(self, ckpt: Checkpoint, kind: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        rank = distributed.current().rank
        entries = ckpt.meta["extra"][kind]
        return ckpt.section(f"{kind}/{rank}"), entries[rank]

    def check_rng(self, ckpt: Checkpoint) -> None:
        """Raise :class:`~hypernet.CheckpointError` unless this process's RNG states in ``ckpt`` can be restored."""
        before = capture_rng(self.generators)
        try:
            for kind in ("rng", "epoch_rng"):
                if ckpt.meta["extra"][kind][distributed.current().rank]:
                    restore_rng(*self.rng_of(ckpt, kind), self.generators)
        except Exception as exc:  # any failure means unusable RNG bookkeeping
            raise CheckpointError(
                f"expected usable RNG states in checkpoint {ckpt.path}, got {type(exc).__name__}: {str(exc)[:120]}; "
                "use an earlier checkpoint"
            ) from None
        finally:
            restore_rng(*before, self.generators)


def checkpoint_world_size(ckpt: Checkpoint) -> int | None:
    """How many processes wrote ``ckpt`` (``None`` if it was not written by :func:`fit`)."""
    extra = ckpt.meta.get("extra", {})
    rng = extra.get("rng") if isinstance(extra, dict) else None
    return len(rng) if isinstance(rng, list) and isinstance(extra.get("epoch_rng"), list) and len(extra["epoch_rng"]) == len(rng) else None


def check_world_size(ckpt: Checkpoint, world_size: int) -> None:
    """Raise :class:`TrainingError` unless ``ckpt`` was written by ``world_size`` processes."""
    written = checkpoint_world_size(ckpt)
    if written is None:
        raise CheckpointError(
            f"expected checkpoint {ckpt.path} to hold RNG states per process, got none (it was not written by fit()); "
            "resume from a checkpoint written by fit()"
        )
    if written != world_size:
        how = f"torchrun --nproc_per_node={written} ..." if written > 1 else "one process, without torchrun"
        raise TrainingError(
            f"expected checkpoint {ckpt.path} to be resumed by the {written} process(es) that wrote it, got {world_size}; resume with {how}"
        )


P = ParamSpec("P")
T = TypeVar("T")


def _peer_failures_as_errors(func: Callable[P, T]) -> Callable[P, T]:
    """Turn a collective that failed because another process froze or died into one clear :class:`TrainingError`."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except RuntimeError as exc:
            if not (distributed.running() and distributed.is_peer_failure(exc)):
                raise
            raise TrainingError(
                f"expected every training process to answer within the process-group timeout of {distributed.timeout_used():g}s, "
                f"got no answer (rank {distributed.current().rank} of {distributed.current().world_size} waited): "
                f"{' '.join(str(exc).split())[:160]}; "
                "check the other processes' output; resume from the last checkpoint with --resume"
            ) from None

    return wrapper


@_peer_failures_as_errors
def fit(
    model: nn.Module,
    step: StepFn,
    train_loader: Iterable[Any],
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int = 1,
    max_steps: int | None = None,
    scheduler: Any = None,
    evaluate: EvalFn | None = None,
    eval_every: int = 1,
    run_dir: str | Path | None = None,
    config: Mapping[str, Any] | None = None,
    checkpoint_every: int | None = None,
    keep_last: int = 3,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
    progress: bool | None = None,
    log_every: int = 1,
    grad_clip: float | None = None,
    device: torch.device | str | None = None,
    tensorboard: bool = True,
    summary: Mapping[str, Any] | None = None,
) -> FitResult:
    """Train ``model`` with ``step`` over ``train_loader``; the loop shared by every recipe.

    ``fit(...)`` is ``Trainer(...).run()``: subclass :class:`Trainer` to change one step of the loop.

    Args:
        model: the plain model (it is wrapped in ``DistributedDataParallel`` under ``torchrun``).
        step: ``step(model, batch)`` returns the loss, or ``(loss, {"metric": value})``.
            The loop calls ``zero_grad``, ``backward`` and ``optimizer.step`` itself.
        train_loader: batches; a :func:`~hypernet.training.make_loader` loader shards and
            shuffles reproducibly (any ``DataLoader`` works in one process).
        optimizer: over ``model``'s parameters; scheduler: optional LR scheduler, stepped every step.
        epochs: passes over the data; max_steps: stop after this many optimizer steps in total.
        evaluate: ``evaluate(model) -> {"name": value}`` run (in eval mode, without gradients)
            every ``eval_every`` epochs and after the last; logged as ``eval/<name>``.
        run_dir: where ``metrics.csv``, TensorBoard events, plots, ``summary.json`` and
            ``checkpoints/`` go; ``None`` writes nothing.
        config: stored in every checkpoint.
        checkpoint_every: also checkpoint every N steps (one is always written at the end);
            keep_last: how many checkpoints to keep.
        resume: continue from the newest loadable checkpoint in ``run_dir``; the losses that
            follow are bitwise those of an uninterrupted run (CPU, same seed).
        callbacks: :class:`Callback` hooks. progress: draw a bar (``None``: when in a terminal;
            ``False`` also silences the per-epoch lines printed otherwise).
        log_every: log training metrics every N steps. grad_clip: clip the gradient norm.
        device: move each batch there (``None``: leave batches as they come).
        tensorboard: write TensorBoard events when the package is installed.
        summary: extra entries for ``summary.json``.

    Raises:
        TrainingError: the loss or the gradient norm became NaN/inf (checked before the optimizer step,
            so the parameters stay those of the last good step), the first step gave every trainable
            parameter exactly zero gradient or the loss has no gradient graph (before any update), ``resume`` found no usable checkpoint, or
            the checkpoint was written by another number of processes; another process stopped
            answering (see :func:`~hypernet.training.distributed.setup`'s timeout).
        CheckpointError: a checkpoint could not be written.
        RunLockedError: another process is writing ``run_dir`` (it holds the run's lock).
    """
    trainer = Trainer(
        model,
        step,
        train_loader,
        optimizer,
        epochs=epochs,
        max_steps=max_steps,
        scheduler=scheduler,
        evaluate=evaluate,
        eval_every=eval_every,
        run_dir=run_dir,
        config=config,
        checkpoint_every=checkpoint_every,
        keep_last=keep_last,
        resume=resume,
        callbacks=callbacks,
        progress=progress,
        log_every=log_every,
        grad_clip=grad_clip,
        device=device,
        tensorboard=tensorboard,
        summary=summary,
    )
    return trainer.run()


class Trainer:
    """The loop of :func:`fit`, one small overridable method per part of a step.

    A step is :meth:`compute_loss` -> :meth:`check_loss` -> :meth:`backward` -> :meth:`check_gradients` (first step) ->
    :meth:`optimizer_step` -> :meth:`after_step`; an epoch is :meth:`epoch_batches`, those
    steps, then :meth:`end_epoch`. The arguments are those of :func:`fit`.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> class NoSchedule(Trainer):
        ...     def optimizer_step(self) -> None:      # e.g. skip the scheduler
        ...         self.optimizer.step()
        >>> net = nn.Linear(2, 1)
        >>> data = [(torch.ones(4, 2), torch.zeros(4))] * 3
        >>> step = lambda m, b: nn.functional.mse_loss(m(b[0]).squeeze(1), b[1])
        >>> NoSchedule(net, step, data, torch.optim.SGD(net.parameters(), lr=0.1), progress=False).run().steps
        3
    """

    def __init__(
        self,
        model: nn.Module,
        step: StepFn,
        train_loader: Iterable[Any],
        optimizer: torch.optim.Optimizer,
        *,
        epochs: int = 1,
        max_steps: int | None = None,
        scheduler: Any = None,
        evaluate: EvalFn | None = None,
        eval_every: int = 1,
        run_dir: str | Path | None = None,
        config: Mapping[str, Any] | None = None,
        checkpoint_every: int | None = None,
        keep_last: int = 3,
        resume: bool = False,
        callbacks: Sequence[Callback] = (),
        progress: bool | None = None,
        log_every: int = 1,
        grad_clip: float | None = None,
        device: torch.device | str | None = None,
        tensorboard: bool = True,
        summary: Mapping[str, Any] | None = None,
    ) -> None:
        if epochs < 0 or (max_steps is not None and max_steps < 0) or eval_every < 1 or log_every < 1 or keep_last < 1:
            raise TrainingError(
                f"expected epochs >= 0, max_steps >= 0, eval_every, log_every, keep_last >= 1, got epochs={epochs}, "
                f"max_steps={max_steps}, eval_every={eval_every}, log_every={log_every}, keep_last={keep_last}; pass values in those ranges"
            )
        self.step_fn, self.train_loader, self.optimizer, self.scheduler = step, train_loader, optimizer, scheduler
        self.epochs, self.max_steps, self.evaluate, self.eval_every = epochs, max_steps, evaluate, eval_every
        self.checkpoint_every, self.resume, self.callbacks = checkpoint_every, resume, list(callbacks)
        self.progress, self.log_every, self.grad_clip, self.device = progress, log_every, grad_clip, device
        self.tensorboard, self.summary = tensorboard, summary
        self.info = distributed.current()
        self.plain = distributed.unwrap(model)
        self.net = distributed.wrap(self.plain)
        self.run_path = Path(run_dir) if run_dir is not None else None
        self.generators = _loader_generators(train_loader)
        self.ckpt_dir = self.run_path / "checkpoints" if self.run_path is not None else None
        self.saver = _Checkpointer(self.ckpt_dir, keep_last, config, self.generators)
        self.state = TrainState(self.net, optimizer)
        self.losses: list[float] = []
        self.last: dict[str, float] = {}
        self.logger: RunLogger | None = None
        self.per_epoch = _length(train_loader)
        self.weight = 1.0
        self.gradients_checked = False

    # ------------------------------------------------------------------ the parts of a step
    def compute_loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """Run the step function on a batch (moved to ``device``): the loss and the step's metrics.

        Also sets ``self.weight``, the factor of this process's loss in the batch (1 except in a short
        last batch under DDP, see :class:`~hypernet.training.distributed.ShardedBatchSampler`).
        """
        self.weight = _loss_weight(self.train_loader, self.state.batch)
        return _split(self.step_fn(self.net, to_device(batch, self.device)))

    def check_loss(self, loss: torch.Tensor, metrics: dict[str, float]) -> dict[str, float]:
        """The loss and metrics averaged over processes; a non-finite loss raises before anything is updated."""
        self.state.loss, self.state.metrics = float(loss.detach()), metrics
        mine = {"loss": self.state.loss, **metrics}
        shown = distributed.mean_over_ranks(mine if self.weight == 1.0 else {k: v * self.weight for k, v in mine.items()})
        if not math.isfinite(shown["loss"]):  # the mean over processes: every process stops together
            raise TrainingError(
                f"expected a finite loss, got: loss became {shown['loss']} at step {self.state.step + 1} (epoch {self.state.epoch}); "
                "the parameters are those of the step before; lower the learning rate, or set grad_clip, and start again"
            )
        return shown

    def backward(self, loss: torch.Tensor) -> None:
        """Gradients of ``loss``, then the callbacks' ``on_after_backward``, gradient clipping and the finite-gradient check."""
        self.optimizer.zero_grad(set_to_none=True)
        if not loss.requires_grad:
            raise TrainingError(
                f"expected a loss that depends on trainable parameters, got one without a gradient graph at step {self.state.step + 1} "
                "(computed under torch.no_grad(), detached, or from frozen parameters only); return the loss with its graph"
            )
        (loss if self.weight == 1.0 else loss * self.weight).backward()
        for cb in self.callbacks:
            cb.on_after_backward(self.state)
        check_finite_gradients(
            self.plain.parameters(),
            lambda: f"step {self.state.step + 1} (epoch {self.state.epoch}, loss {self.state.loss:.6g})",
            "lower the learning rate, or set grad_clip, and start again",
            clip=self.grad_clip,
        )

    def check_gradients(self) -> None:
        """After the first step's backward pass of a run: raise :class:`TrainingError` if every trainable gradient is exactly zero."""
        if self.gradients_checked:
            return
        self.gradients_checked = True
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        check_gradients_flow(params, self.state.loss, f"training step {self.state.step + 1}")

    def optimizer_step(self) -> None:
        """Update the parameters (and the learning-rate schedule)."""
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()

    def after_step(self, shown: Mapping[str, float]) -> None:
        """Count the step, log it, move the progress bar, run the callbacks' ``on_step_end``."""
        state = self.state
        state.step += 1
        state.batch += 1
        self.losses.append(shown["loss"])
        if state.step % self.log_every == 0:
            self.record({f"train/{k}": v for k, v in shown.items()} | {"lr": float(self.optimizer.param_groups[0]["lr"])})
        self.bar.update(shown)
        for cb in self.callbacks:
            cb.on_step_end(state)

    def end_epoch(self) -> None:
        """Evaluate (every ``eval_every`` epochs and after the last), run ``on_epoch_end``, advance the epoch."""
        _end_epoch(self.state, self.plain, self.evaluate, self.eval_every, self.epochs, self.record, self.callbacks)

    def record(self, values: Mapping[str, float]) -> None:
        """Keep ``values`` as the latest metrics and log them at the current step."""
        self.last.update(values)
        if self.logger is not None:
            self.logger.log(self.state.step, self.state.epoch, values)

    # ------------------------------------------------------------------ resume and epochs
    def restore(self) -> Checkpoint | None:
        """With ``resume``: load the newest checkpoint into model, optimizer and scheduler, and return it."""
        if not self.resume:
            return None
        if self.ckpt_dir is None:
            raise TrainingError("expected run_dir with resume=True, got run_dir=None; pass the run directory to resume from")

        def accept(candidate: Checkpoint) -> None:
            check_world_size(candidate, self.info.world_size)
            self.saver.check_rng(candidate)
            candidate.restore(self.plain, self.optimizer, self.scheduler)

        ckpt = latest_checkpoint(self.ckpt_dir, on_corrupt=lambda e: log.warning("skipping unusable checkpoint: %s", e), accept=accept)
        if ckpt is None:
            raise TrainingError(f"expected a usable checkpoint to resume from in {self.ckpt_dir}, got none; start the run without resume")
        if self.per_epoch is not None and ckpt.batch > self.per_epoch:
            raise TrainingError(
                f"expected an epoch of at least {ckpt.batch} batches (checkpoint {ckpt.path} is that far into one), "
                f"got {self.per_epoch}; resume with the same data"
            )
        self.state.step, self.state.epoch, self.state.batch = ckpt.step, ckpt.epoch, ckpt.batch
        self.saver.last, self.saver.last_step = ckpt.path, ckpt.step
        return ckpt

    def epoch_batches(self, ckpt: Checkpoint | None) -> Iterator[Any]:
        """The batches of the current epoch, from where a resumed checkpoint left it, with the loader's randomness rewound."""
        saver, generators = self.saver, self.generators
        if ckpt is not None and ckpt.batch == 0:  # saved between epochs: continue from the saved state
            restore_rng(*saver.rng_of(ckpt, "rng"), generators)
            ckpt = None
        if ckpt is not None:  # saved mid-epoch: rewind the loader's randomness to the start of that epoch
            saver.epoch_rng = saver.rng_of(ckpt, "epoch_rng")
            restore_rng(*saver.epoch_rng, generators)
        else:
            saver.epoch_rng = capture_rng(generators)
        _set_epoch(self.train_loader, self.state.epoch)
        batches = iter(self.train_loader)
        for _ in range(self.state.batch):
            next(batches, None)
        if ckpt is not None:
            restore_rng(*saver.rng_of(ckpt, "rng"), generators)
        return batches

    def _more(self) -> bool:
        state = self.state
        return state.epoch < self.epochs and not state.stop and (self.max_steps is None or state.step < self.max_steps)

    # ------------------------------------------------------------------ the loop
    @_peer_failures_as_errors
    def run(self) -> FitResult:
        """Train, holding the run directory's lock (rank 0) for the whole run; returns the :class:`FitResult`."""
        guard = run_lock(self.run_path) if self.run_path is not None and self.info.is_main else contextlib.nullcontext()
        with guard:
            return self._run()

    def _run(self) -> FitResult:
        started = time.perf_counter()
        state, saver, info = self.state, self.saver, self.info
        ckpt = self.restore()
        resumed_from = ckpt.step if ckpt is not None else None
        if self.run_path is not None and info.is_main:
            self.logger = RunLogger(self.run_path, resume_step=resumed_from, tensorboard=self.tensorboard)
        total = self.per_epoch * self.epochs if self.per_epoch is not None else None
        if self.max_steps is not None:
            total = self.max_steps if total is None else min(total, self.max_steps)
        self.bar = Progress(total, enabled=self.progress, initial=state.step) if info.is_main else Progress(None, enabled=False)
        echo = info.is_main and not self.bar.enabled and self.progress is not False
        for cb in self.callbacks:
            cb.on_fit_start(state)
        self.net.train()
        try:
            while self._more():
                batches = self.epoch_batches(ckpt)
                ckpt = None
                save_after_epoch = False
                finished = True
                for batch in batches:
                    loss, metrics = self.compute_loss(batch)
                    shown = self.check_loss(loss, metrics)
                    self.backward(loss)
                    self.check_gradients()
                    self.optimizer_step()
                    self.after_step(shown)
                    end_of_epoch = self.per_epoch is not None and state.batch >= self.per_epoch
                    if self.checkpoint_every is not None and state.step % self.checkpoint_every == 0:
                        if end_of_epoch:
                            save_after_epoch = True  # after the epoch's evaluation, so a resume starts a fresh epoch
                        else:
                            saver.save(state, self.plain, self.scheduler, state.epoch, state.batch)
                    if state.stop or (self.max_steps is not None and state.step >= self.max_steps):
                        finished = end_of_epoch
                        break
                if not finished:
                    break
                self.end_epoch()
                if echo:
                    print(f"epoch {state.epoch}/{self.epochs}  step {state.step}  {_brief(self.last)}", flush=True)
                if save_after_epoch:
                    saver.save(state, self.plain, self.scheduler, state.epoch, 0)
            if saver.last_step != state.step or saver.last is None:
                saver.save(state, self.plain, self.scheduler, state.epoch, state.batch)
        finally:
            self.bar.close()
            if self.logger is not None:
                self.logger.close()
        for cb in self.callbacks:
            cb.on_fit_end(state)
        result = FitResult(
            state.step, state.epoch, self.losses, dict(self.last), time.perf_counter() - started, self.run_path, saver.last, resumed_from
        )
        if self.logger is not None:
            self.logger.finish(_summary(result, info.world_size, self.logger.history, self.summary))
        return result


def _brief(values: Mapping[str, float], limit: int = 6) -> str:
    """The first few train and eval metrics, for one line of output."""
    keys = [k for k in sorted(values, key=lambda k: (not k.startswith("train/"), k)) if "/" in k][:limit]
    return "  ".join(f"{k} {values[k]:.4g}" for k in keys)


def _end_epoch(
    state: TrainState,
    model: nn.Module,
    evaluate: EvalFn | None,
    eval_every: int,
    epochs: int,
    record: Callable[[Mapping[str, float]], None],
    callbacks: Sequence[Callback],
) -> None:
    done = state.epoch + 1
    if evaluate is not None and (done % eval_every == 0 or done == epochs):
        model.eval()
        with torch.no_grad():
            values = {k: float(v) for k, v in evaluate(model).items()}
        model.train()
        state.eval_metrics = values
        record({k if "/" in k else f"eval/{k}": v for k, v in values.items()})
    for cb in callbacks:
        cb.on_epoch_end(state)
    state.epoch, state.batch = done, 0


def _summary(
    result: FitResult, world_size: int, history: Mapping[str, list[tuple[int, float]]], extra: Mapping[str, Any] | None
) -> dict[str, Any]:
    from .._version import __version__

    final = {k: v[-1][1] for k, v in history.items() if v}
    return {
        "status": "completed",
        "steps": result.steps,
        "epochs": result.epochs,
        "final": final,
        "seconds": round(result.seconds, 3),
        "resumed_from_step": result.resumed_from,
        "world_size": world_size,
        "checkpoint": str(result.checkpoint) if result.checkpoint is not None else None,
        "hypernet_version": __version__,
        "torch_version": torch.__version__,
        **dict(extra or {}),
    }
