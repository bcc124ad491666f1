"""Multi-process training with ``torchrun``: process group, DDP wrapping, sharded loaders, rank-0 helpers.

``torchrun --nproc_per_node=2 -m hypernet train CONFIG`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`setup` reads them and starts
a process group (``gloo`` on CPU, ``nccl`` with GPUs). Without them everything runs in
one process and every helper here is a cheap no-op.

Example:
    >>> import torch
    >>> info = setup()                     # no torchrun variables: one process
    >>> info.world_size, info.is_main
    (1, True)
    >>> data = torch.utils.data.TensorDataset(torch.arange(10.0))
    >>> [b[0].tolist() for b in make_loader(data, batch_size=4, shuffle=False)]
    [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0], [8.0, 9.0]]
"""

from __future__ import annotations

import datetime
import gc
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from ..errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size`` processes, ``local_rank`` on its node, its ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, draws progress bars and writes checkpoints."""
        return self.rank == 0


def running() -> bool:
    """True when a process group is running."""
    return dist.is_available() and dist.is_initialized()


def current() -> DistInfo:
    """The :class:`DistInfo` of this process (rank 0 of 1 when no process group is running)."""
    if not running():
        return DistInfo()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local) if dist.get_backend() == "nccl" else torch.device("cpu")
    return DistInfo(dist.get_rank(), dist.get_world_size(), local, device)


def launch_rank() -> int:
    """This process's rank as ``torchrun`` set it (``RANK``), also after the process group is gone; 0 without torchrun."""
    return current().rank if running() else int(os.environ.get("RANK", "0"))


DEFAULT_TIMEOUT = 300.0
"""Seconds a collective waits for the other processes before the run fails (``$HYPERNET_DIST_TIMEOUT`` overrides it)."""


_timeout_used: float | None = None


def timeout_used() -> float:
    """The timeout :func:`setup` gave the running process group (:func:`timeout_seconds` if it did not start it)."""
    return _timeout_used if _timeout_used is not None else timeout_seconds()


def timeout_seconds(timeout: float | None = None) -> float:
    """``timeout`` if given, else ``$HYPERNET_DIST_TIMEOUT``, else :data:`DEFAULT_TIMEOUT`."""
    if timeout is None:
        text = os.environ.get("HYPERNET_DIST_TIMEOUT", "")
        try:
            timeout = float(text) if text else DEFAULT_TIMEOUT
        except ValueError:
            raise ConfigError(f"expected $HYPERNET_DIST_TIMEOUT to be a number of seconds, got {text!r}; set it to e.g. 600") from None
    if not (math.isfinite(timeout) and timeout > 0):
        raise ConfigError(
            f"expected a positive, finite process-group timeout in seconds, got {timeout!r}; set $HYPERNET_DIST_TIMEOUT to e.g. 600"
        )
    return float(timeout)


def setup(backend: str | None = None, timeout: float | None = None) -> DistInfo:
    """Start the process group if ``torchrun`` launched us (``WORLD_SIZE`` > 1) and it is not running yet.

    ``timeout`` (seconds, default :func:`timeout_seconds`) bounds every collective: a frozen or
    dead peer ends the run with an error after that long instead of gloo's default of 30 minutes.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and dist.is_available() and not running():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        if backend == "nccl":  # pragma: no cover - no GPU here
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        global _timeout_used
        _timeout_used = timeout_seconds(timeout)
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=_timeout_used))
    return current()


def is_peer_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective that failed because another process froze, died or timed out."""
    text = str(exc)
    return isinstance(exc, dist.DistError) or any(s in text for s in ("Timed out", "timed out", "Connection closed", "Connection reset"))


def teardown(*, wait: bool = True) -> None:
    """Destroy the process group if one is running, after every process got here (``wait``).

    Pass ``wait=False`` on an error path, where the other processes may never arrive.

    DDP wrappers sit in reference cycles that hold the process group; collecting them
    first lets ``destroy_process_group`` free gloo's threads now, not during interpreter
    shutdown (where they abort the process with "terminate called without an active exception").
    """
    if running():
        gc.collect()
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every process (no-op in one process)."""
    if current().world_size > 1:
        dist.barrier()


def wrap(model: nn.Module) -> nn.Module:
    """``DistributedDataParallel(model)`` when several processes run, else ``model`` itself."""
    info = current()
    if info.world_size == 1 or isinstance(model, nn.parallel.DistributedDataParallel):
        return model
    ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a ``DistributedDataParallel`` wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def mean_over_ranks(values: Mapping[str, float]) -> dict[str, float]:
    """Average scalar metrics over all processes (for logging); identity in one process."""
    if current().world_size == 1 or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=current().device)
    dist.all_reduce(t)
    t /= current().world_size
    return dict(zip(keys, t.tolist(), strict=True))


def gather(obj: Any) -> list[Any]:
    """Every process's ``obj``, in rank order (a one-element list in one process)."""
    info = current()
    if info.world_size == 1:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


class GlobalBatchSampler(DistributedSampler[int]):
    """A :class:`~torch.utils.data.DistributedSampler` that cuts every *global* batch into one contiguous slice per rank.

    Epoch ``e`` shuffles with ``seed + e`` (call :meth:`set_epoch`), exactly as
    ``DistributedSampler`` does, so a run on W processes sees, batch for batch, the same
    global batches as a run on one process: gradients averaged by DDP equal the
    one-process gradients, except in a short last batch: like ``DistributedSampler``, it pads
    the data (repeating the first samples) to a multiple of the number of processes.
    :func:`make_loader` uses :class:`ShardedBatchSampler`, which is exact there too.
    """

    def __init__(
        self, dataset: Dataset[Any], batch_size: int, *, num_replicas: int, rank: int, shuffle: bool = True, seed: int = 0
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=False)
        if batch_size % num_replicas:
            raise ConfigError(
                f"expected batch_size divisible by the number of processes ({num_replicas}), got {batch_size}; "
                f"use a multiple of {num_replicas}"
            )
        self.global_batch = batch_size
        self.local_batch = batch_size // num_replicas

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)  # type: ignore[arg-type]
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=g).tolist()
        else:
            order = list(range(n))
        pad = self.total_size - n
        if pad > 0:
            order += (order * math.ceil(pad / n))[:pad]
        mine: list[int] = []
        for start in range(0, self.total_size, self.global_batch):
            chunk = order[start : start + self.global_batch]
            share = len(chunk) // self.num_replicas
            mine += chunk[self.rank * share : (self.rank + 1) * share]
        return iter(mine)


class ShardedBatchSampler(Sampler[list[int]]):
    """Yields this process's part of every *global* batch of ``batch_size`` samples, and says how much its loss weighs.

    Epoch ``e`` shuffles with ``seed + e`` (call :meth:`set_epoch`). Each global batch is cut
    into ``num_replicas`` contiguous parts, as equal as possible; nothing is padded or dropped.
    A short last batch of ``r`` samples gives rank ``k`` ``n_k`` of them, and
    :meth:`loss_weight` is ``num_replicas * n_k / r``: the training loop multiplies the loss
    (a mean over the process's samples) by it, so the gradients DDP averages equal the
    one-process gradient of the whole batch. A rank left without a sample (``r`` smaller than
    the number of processes) gets the batch's first sample with weight 0, to take part in the
    gradient exchange. Full batches have weight 1 and one process always has weight 1.

    Example:
        >>> halves = [ShardedBatchSampler(7, 4, num_replicas=2, rank=r, shuffle=False) for r in range(2)]
        >>> [list(h) for h in halves]
        [[[0, 1], [4, 5]], [[2, 3], [6]]]
        >>> [h.loss_weight(1) for h in halves]
        [1.3333333333333333, 0.6666666666666666]
    """

    def __init__(self, size: int, batch_size: int, *, num_replicas: int = 1, rank: int = 0, shuffle: bool = True, seed: int = 0) -> None:
        if batch_size < 1 or batch_size % num_replicas:
            raise ConfigError(
                f"expected batch_size divisible by the number of processes ({num_replicas}), got {batch_size}; "
                f"use a multiple of {num_replicas}"
            )
        self.size, self.global_batch, self.num_replicas, self.rank = size, batch_size, num_replicas, rank
        self.local_batch = batch_size // num_replicas
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Use the shuffle of ``epoch`` (``seed + epoch``) from the next iteration on."""
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(self.size / self.global_batch)

    def _bounds(self, count: int) -> tuple[int, int]:
        base, extra = divmod(count, self.num_replicas)
        low = self.rank * base + min(self.rank, extra)
        return low, low + base + (1 if self.rank < extra else 0)

    def loss_weight(self, index: int) -> float:
        """The factor of this process's loss in batch ``index`` of an epoch (1 except in a short last batch)."""
        count = min(self.global_batch, self.size - index * self.global_batch)
        low, high = self._bounds(count)
        return self.num_replicas * (high - low) / count

    def __iter__(self) -> Iterator[list[int]]:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        for start in range(0, self.size, self.global_batch):
            chunk = order[start : start + self.global_batch]
            low, high = self._bounds(len(chunk))
            yield chunk[low:high] or chunk[:1]


def make_loader(dataset: Dataset[Any], batch_size: int, *, shuffle: bool = True, seed: int = 0, **kwargs: Any) -> DataLoader[Any]:
    """A loader over this process's share of ``dataset``; ``batch_size`` is the *global* batch size.

    One process gets the whole data in batches of ``batch_size`` (the last one may be
    shorter); with W processes each gets its part of every global batch (a
    :class:`ShardedBatchSampler`), and :func:`~hypernet.training.fit` weighs the losses of a
    short last batch so that the update equals the one-process update. The shuffling depends
    only on ``seed`` and the epoch (the loop calls ``set_epoch``), so resuming and
    multi-process runs see the same batches.
    """
    info = current()
    sampler = ShardedBatchSampler(len(dataset), batch_size, num_replicas=info.world_size, rank=info.rank, shuffle=shuffle, seed=seed)  # type: ignore[arg-type]
    return DataLoader(dataset, batch_sampler=sampler, **kwargs)
