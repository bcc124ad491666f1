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

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import distributed
from .checkpoint import Checkpoint, latest_checkpoint, save_checkpoint
from .errors import TrainingError
from .logger import RunLogger
from .progress import Progress
from .rng import capture_rng, restore_rng

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


def _set_epoch(loader: Iterable[Any], epoch: int) -> None:
    for owner in (getattr(loader, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        set_epoch = getattr(owner, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)


def _length(loader: Iterable[Any]) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def _split(result: StepResult) -> tuple[torch.Tensor, dict[str, float]]:
    loss, metrics = result if isinstance(result, tuple) else (result, {})
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TrainingError(f"expected the step function to return a scalar loss tensor (or (loss, metrics)), got {type(loss).__name__}")
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
        if rank >= len(entries):
            raise TrainingError(f"checkpoint {ckpt.path} was written by {len(entries)} processes, this run has more; resume with as many")
        return ckpt.section(f"{kind}/{rank}"), entries[rank]


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
        TrainingError: the loss became NaN/inf, or ``resume`` found no checkpoint.
        CheckpointError: a checkpoint could not be written or read.
    """
    if epochs < 0 or (max_steps is not None and max_steps < 0) or eval_every < 1 or log_every < 1 or keep_last < 1:
        raise TrainingError(
            f"expected epochs >= 0, max_steps >= 0, eval_every, log_every, keep_last >= 1, got epochs={epochs}, "
            f"max_steps={max_steps}, eval_every={eval_every}, log_every={log_every}, keep_last={keep_last}"
        )
    started = time.perf_counter()
    info = distributed.current()
    plain = distributed.unwrap(model)
    net = distributed.wrap(plain)
    run_path = Path(run_dir) if run_dir is not None else None
    generators = _loader_generators(train_loader)
    ckpt_dir = run_path / "checkpoints" if run_path is not None else None
    saver = _Checkpointer(ckpt_dir, keep_last, config, generators)
    state = TrainState(net, optimizer)

    ckpt: Checkpoint | None = None
    if resume:
        if ckpt_dir is None:
            raise TrainingError("expected run_dir with resume=True, got run_dir=None; pass the run directory to resume from")
        ckpt = latest_checkpoint(ckpt_dir, on_corrupt=lambda e: log.warning("skipping unusable checkpoint: %s", e))
        if ckpt is None:
            raise TrainingError(f"expected a checkpoint to resume from in {ckpt_dir}, got none; start the run without resume")
        ckpt.restore(plain, optimizer, scheduler)
        state.step, state.epoch, state.batch = ckpt.step, ckpt.epoch, ckpt.batch
        saver.last, saver.last_step = ckpt.path, ckpt.step
    resumed_from = ckpt.step if ckpt is not None else None

    logger = RunLogger(run_path, resume_step=resumed_from, tensorboard=tensorboard) if run_path is not None and info.is_main else None
    per_epoch = _length(train_loader)
    total = per_epoch * epochs if per_epoch is not None else None
    if max_steps is not None:
        total = max_steps if total is None else min(total, max_steps)
    bar = Progress(total, enabled=progress, initial=state.step) if info.is_main else Progress(None, enabled=False)
    echo = info.is_main and not bar.enabled and progress is not False
    losses: list[float] = []
    last: dict[str, float] = {}
    for cb in callbacks:
        cb.on_fit_start(state)

    def record(values: Mapping[str, float]) -> None:
        last.update(values)
        if logger is not None:
            logger.log(state.step, state.epoch, values)

    net.train()
    try:
        while state.epoch < epochs and not state.stop and (max_steps is None or state.step < max_steps):
            if ckpt is not None and ckpt.batch == 0:  # saved between epochs: continue from the saved state
                restore_rng(*saver.rng_of(ckpt, "rng"), generators)
                ckpt = None
            if ckpt is not None:  # saved mid-epoch: rewind the loader's randomness to the start of that epoch
                saver.epoch_rng = saver.rng_of(ckpt, "epoch_rng")
                restore_rng(*saver.epoch_rng, generators)
            else:
                saver.epoch_rng = capture_rng(generators)
            _set_epoch(train_loader, state.epoch)
            batches = iter(train_loader)
            for _ in range(state.batch):
                next(batches, None)
            if ckpt is not None:
                restore_rng(*saver.rng_of(ckpt, "rng"), generators)
                ckpt = None
            save_after_epoch = False
            finished = True
            for batch in batches:
                loss, metrics = _split(step(net, to_device(batch, device)))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                for cb in callbacks:
                    cb.on_after_backward(state)
                if grad_clip is not None:
                    nn.utils.clip_grad_norm_(plain.parameters(), grad_clip)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                state.step += 1
                state.batch += 1
                state.loss, state.metrics = float(loss.detach()), metrics
                shown = distributed.mean_over_ranks({"loss": state.loss, **metrics})
                if not math.isfinite(shown["loss"]):  # the mean over processes: every process stops together
                    raise TrainingError(
                        f"loss became {shown['loss']} at step {state.step} (epoch {state.epoch}); "
                        "lower the learning rate, or set grad_clip, and start again"
                    )
                losses.append(shown["loss"])
                if state.step % log_every == 0:
                    record({f"train/{k}": v for k, v in shown.items()} | {"lr": float(optimizer.param_groups[0]["lr"])})
                bar.update(shown)
                for cb in callbacks:
                    cb.on_step_end(state)
                end_of_epoch = per_epoch is not None and state.batch >= per_epoch
                if checkpoint_every is not None and state.step % checkpoint_every == 0:
                    if end_of_epoch:
                        save_after_epoch = True  # after the epoch's evaluation, so a resume starts a fresh epoch
                    else:
                        saver.save(state, plain, scheduler, state.epoch, state.batch)
                if state.stop or (max_steps is not None and state.step >= max_steps):
                    finished = end_of_epoch
                    break
            if not finished:
                break
            _end_epoch(state, plain, evaluate, eval_every, epochs, record, callbacks)
            if echo:
                print(f"epoch {state.epoch}/{epochs}  step {state.step}  {_brief(last)}", flush=True)
            if save_after_epoch:
                saver.save(state, plain, scheduler, state.epoch, 0)
        if saver.last_step != state.step or saver.last is None:
            saver.save(state, plain, scheduler, state.epoch, state.batch)
    finally:
        bar.close()
        if logger is not None:
            logger.close()
    for cb in callbacks:
        cb.on_fit_end(state)
    result = FitResult(state.step, state.epoch, losses, dict(last), time.perf_counter() - started, run_path, saver.last, resumed_from)
    if logger is not None:
        logger.finish(_summary(result, info.world_size, logger.history, summary))
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
    import hypernet

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
        "hypernet_version": hypernet.__version__,
        "torch_version": torch.__version__,
        **dict(extra or {}),
    }
