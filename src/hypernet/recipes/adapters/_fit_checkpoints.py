"""Checkpoints of :meth:`TextToLoRA.fit`: what a run must match to be resumed, and the batch sampler's state.

A checkpoint holds the hypernetwork (``state_dict()`` leaves the frozen base out), AdamW's state and the
state of the ``random.Random`` that draws the batches, plus a fingerprint of the run: the task names in
order, a hash of their examples and descriptions, ``batch_size``, ``lr`` and ``weight_decay``. A resumed
run must have the same fingerprint, so it continues exactly as if it had never stopped.

Example:
    >>> import random, tempfile
    >>> rng = random.Random(0)
    >>> tensors, extra = sampler_parts(rng)
    >>> other = random.Random(1)
    >>> restore_sampler(other, tensors["rng/sampler"], extra["sampler"], "demo")
    >>> other.random() == rng.random()
    True
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ...errors import CheckpointError, ConfigError
from ...training.checkpoint import Checkpoint, latest_checkpoint, list_checkpoints

log = logging.getLogger("hypernet")
_STATE_LEN = 625  # random.Random's Mersenne Twister state: 624 words and a position


def fingerprint(tasks: Mapping[str, Any], batch_size: int, lr: float, weight_decay: float, model: Mapping[str, Any]) -> dict[str, Any]:
    """What a resumed fit must share with the interrupted one (JSON): the data, the optimisation and ``model`` settings."""
    data = hashlib.sha256(json.dumps(list(tasks.items()), sort_keys=False).encode()).hexdigest()[:16]
    return {
        "tasks": list(tasks),
        "data_sha256": data,
        "batch_size": int(batch_size),
        "lr": float(lr),
        "weight_decay": float(weight_decay),
        "model": dict(model),
    }


def sampler_parts(rng: random.Random) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The sampler's state as a checkpoint tensor and JSON."""
    version, state, gauss = rng.getstate()
    return {"rng/sampler": torch.tensor(state, dtype=torch.int64)}, {"sampler": [version, gauss]}


def restore_sampler(rng: random.Random, tensor: Any, meta: Any, where: str) -> None:
    """Set ``rng`` to a saved state; :class:`CheckpointError` naming ``where`` if the parts are not one (``rng`` unchanged)."""
    ok = (
        isinstance(tensor, torch.Tensor)
        and tensor.dtype == torch.int64
        and tensor.shape == (_STATE_LEN,)
        and isinstance(meta, list)
        and len(meta) == 2
        and isinstance(meta[0], int)
        and (meta[1] is None or isinstance(meta[1], float))
    )
    state = (meta[0], tuple(int(v) for v in tensor.tolist()), meta[1]) if ok else None
    try:
        random.Random().setstate(state)  # type: ignore[arg-type]  # a scratch generator: the check changes nothing
    except (TypeError, ValueError, OverflowError):
        raise CheckpointError(
            f"expected the batch sampler's state in checkpoint {where} (a tensor of {_STATE_LEN} int64 and [version, gauss]), "
            "got a damaged one; use an earlier checkpoint"
        ) from None
    rng.setstate(state)  # type: ignore[arg-type]


def checkpoint_to_resume(directory: str | Path | None, resume: bool, steps: int, expected: dict[str, Any]) -> Checkpoint | None:
    """Check ``checkpoint_dir`` / ``resume`` before anything is built; the checkpoint to resume from, if any.

    Raises:
        ConfigError: ``resume`` without a directory, a path that is not a usable directory, a fresh fit into a
            directory that holds checkpoints, or a checkpoint of another run (``expected`` differs) or past ``steps``.
    """
    if directory is None:
        if resume:
            raise ConfigError("expected a checkpoint_dir to resume from with resume=True, got None; pass the directory of the run")
        return None
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"expected checkpoint_dir to be a directory, got the file {path}; pass a directory path")
    if not resume:
        if list_checkpoints(path):
            raise ConfigError(
                f"expected an empty checkpoint_dir for a new fit, got {path} holding checkpoints of another run; "
                "pass resume=True to continue that run, or another directory"
            )
        return None

    def accept(ckpt: Checkpoint) -> None:
        extra = ckpt.meta.get("extra", {})
        saved = {k: extra.get(k) for k in expected}
        if saved != expected:  # another run (or not a TextToLoRA checkpoint at all): refused, never skipped
            differ = {k: (saved[k], expected[k]) for k in expected if saved[k] != expected[k]}
            raise ConfigError(
                f"expected checkpoint {ckpt.path} to be of the same fit (tasks, their examples, batch_size, lr, weight_decay, "
                f"model settings), got differences (saved, now): {differ}; fit as the interrupted run did, or pass another checkpoint_dir"
            )
        restore_sampler(random.Random(), ckpt.tensors.get("rng/sampler"), extra.get("sampler"), str(ckpt.path))
        if ckpt.step > steps:
            raise ConfigError(
                f"expected steps >= the checkpoint's step to resume, got steps={steps} and checkpoint {ckpt.path} at step {ckpt.step}; "
                f"pass steps >= {ckpt.step}"
            )

    found = list_checkpoints(path)
    ckpt = latest_checkpoint(path, accept=accept, on_corrupt=lambda err: log.warning("skipping unusable checkpoint: %s", err))
    if ckpt is None and found:
        raise ConfigError(
            f"expected a usable checkpoint to resume from in {path}, got {len(found)} that do not load; "
            "remove them to start afresh, or pass another checkpoint_dir"
        )
    if ckpt is not None:  # damaged newer ones are set aside, or pruning would keep them and delete the new ones
        for newer in found[[p.name for p in found].index(ckpt.path.name) + 1 :]:
            for part in (newer, newer.with_suffix(".safetensors")):
                if part.exists():
                    part.rename(part.with_name(part.name + ".damaged"))
    return ckpt


def prepare_directory(directory: str | Path | None) -> None:
    """Create ``checkpoint_dir`` (before training starts, so an unwritable path fails before any step)."""
    if directory is None:
        return
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"expected a checkpoint_dir that can be created, got {str(directory)!r} ({exc.strerror}); pass a writable directory"
        ) from None
    if not os.access(directory, os.W_OK):
        raise ConfigError(f"expected a writable checkpoint_dir, got the read-only {str(directory)!r}; pass a writable directory")
