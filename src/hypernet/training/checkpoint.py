"""Safe, atomic, resumable checkpoints.

A checkpoint ``step-00000120`` is two files in a ``checkpoints/`` directory:

* ``step-00000120.safetensors``: every tensor (model ``state_dict``, optimizer
  state tensors, RNG states), keys ``model/...``, ``optimizer/...``, ``rng/...``;
* ``step-00000120.json``: everything else (step, epoch, config, optimizer
  hyperparameters, scheduler state, RNG bookkeeping) and the sha256 of the tensor file.

Both are written atomically (:mod:`._atomic`), tensors first, so the JSON file marks a
complete checkpoint. Loading never unpickles: tensors come from safetensors (or, for a
``.pt`` file, ``torch.load(weights_only=True)``); a missing, truncated or corrupted file
raises :class:`~hypernet.CheckpointError` naming the file, and older checkpoints stay
usable.

Example:
    >>> import tempfile, torch
    >>> from torch import nn
    >>> net = nn.Linear(2, 1)
    >>> directory = tempfile.mkdtemp()
    >>> path = save_checkpoint(directory, step=5, model=net, keep_last=2)
    >>> path.name
    'step-00000005.json'
    >>> ckpt = load_checkpoint(path)
    >>> ckpt.step, torch.equal(ckpt.model_state()["weight"], net.weight)
    (5, True)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._io import TMP_MARK, atomic_write_bytes, atomic_write_text
from ..errors import CheckpointError

FORMAT = "hypernet-checkpoint/1"
_NAME = re.compile(r"^step-(\d+)\.json$")


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
        path: its JSON file.
        step, epoch, batch: optimizer steps done, the epoch in progress and batches done in it.
        meta: the whole JSON document (``config``, ``optimizer``, ``scheduler``, ``rng``, ``extra``...).
        tensors: every tensor, by key.
    """

    path: Path
    step: int
    epoch: int
    batch: int
    meta: dict[str, Any]
    tensors: dict[str, torch.Tensor] = field(repr=False)

    def section(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors whose key starts with ``prefix + '/'``, with the prefix removed."""
        cut = len(prefix) + 1
        return {k[cut:]: v for k, v in self.tensors.items() if k.startswith(prefix + "/")}

    def model_state(self) -> dict[str, torch.Tensor]:
        """The model's ``state_dict``."""
        return self.section("model")

    def restore(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None) -> None:
        """Load the model (strictly), and the optimizer and LR scheduler states when given."""
        try:
            model.load_state_dict(self.model_state())
        except RuntimeError as exc:
            raise CheckpointError(
                f"checkpoint {self.path} does not fit this model: {exc}; "
                "use the config the run was trained with (the run directory's config.json)"
            ) from None
        if optimizer is not None:
            optimizer.load_state_dict(_optimizer_from_parts(self.section("optimizer"), self.meta["optimizer"], optimizer))
        if scheduler is not None and self.meta.get("scheduler") is not None:
            scheduler.load_state_dict(self.meta["scheduler"])


def _plain_state(module: nn.Module) -> dict[str, torch.Tensor]:
    module = getattr(module, "module", module)  # unwrap DistributedDataParallel
    return {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


def _optimizer_to_parts(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    other: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}/{key}"] = value.detach().cpu().contiguous().clone()
            else:
                other.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "state": other}


def _optimizer_from_parts(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any], optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        idx, name = key.split("/", 1)
        state.setdefault(int(idx), {})[name] = value
    for idx, values in meta["state"].items():
        state.setdefault(int(idx), {}).update(values)
    groups = []
    for saved, current in zip(meta["param_groups"], optimizer.param_groups, strict=False):
        group = dict(saved)
        for k, v in group.items():  # JSON turned tuples (Adam's betas) into lists
            if isinstance(current.get(k), tuple) and isinstance(v, list):
                group[k] = tuple(v)
        groups.append(group)
    return {"state": state, "param_groups": groups}


def save_checkpoint(
    directory: str | Path,
    *,
    step: int,
    model: nn.Module,
    epoch: int = 0,
    batch: int = 0,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    config: Mapping[str, Any] | None = None,
    tensors: Mapping[str, torch.Tensor] | None = None,
    extra: Mapping[str, Any] | None = None,
    keep_last: int | None = None,
) -> Path:
    """Write checkpoint ``step-<step>`` atomically into ``directory``; returns its JSON path.

    Args:
        directory: where checkpoints live (created if needed).
        step, epoch, batch: the training position (optimizer steps, epoch, batches done in it).
        model: its ``state_dict`` is saved (a ``DistributedDataParallel`` wrapper is unwrapped).
        optimizer, scheduler: saved when given (tensors in safetensors, the rest in JSON).
        config: the run's configuration (JSON-serialisable).
        tensors: extra tensors (for example RNG states), stored under their keys.
        extra: extra JSON-serialisable metadata.
        keep_last: delete all but the newest ``keep_last`` checkpoints afterwards.
    """
    from safetensors.torch import save as st_save

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"step-{step:08d}"
    all_tensors = {f"model/{k}": v for k, v in _plain_state(model).items()}
    meta: dict[str, Any] = {"format": FORMAT, "step": step, "epoch": epoch, "batch": batch, "config": dict(config or {})}
    if optimizer is not None:
        opt_tensors, meta["optimizer"] = _optimizer_to_parts(optimizer)
        all_tensors.update({f"optimizer/{k}": v for k, v in opt_tensors.items()})
    meta["scheduler"] = scheduler.state_dict() if scheduler is not None else None
    all_tensors.update({k: v.detach().cpu().contiguous().clone() for k, v in (tensors or {}).items()})
    meta["extra"] = dict(extra or {})
    blob = st_save(all_tensors)
    meta["tensors"] = {"file": f"{stem}.safetensors", "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
    try:
        text = json.dumps(meta, indent=1)
    except TypeError as exc:
        raise CheckpointError(f"expected JSON-serialisable checkpoint metadata (config, scheduler, extra), got {exc}") from None
    atomic_write_bytes(directory / f"{stem}.safetensors", blob)
    path = directory / f"{stem}.json"
    atomic_write_text(path, text)  # written last: its presence marks a complete checkpoint
    if keep_last is not None:
        prune_checkpoints(directory, keep_last)
    return path


def list_checkpoints(directory: str | Path) -> list[Path]:
    """JSON files of the checkpoints in ``directory``, oldest first (temporary files are ignored)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def prune_checkpoints(directory: str | Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` checkpoints, and leftovers of interrupted writes."""
    directory = Path(directory)
    paths = list_checkpoints(directory)
    for path in paths[: max(len(paths) - keep_last, 0)]:
        path.unlink(missing_ok=True)  # the marker first: a half-deleted checkpoint is never listed
        path.with_suffix(".safetensors").unlink(missing_ok=True)
    for leftover in directory.glob(f".step-*{TMP_MARK}*"):
        leftover.unlink(missing_ok=True)


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file, or from a ``.pt``/``.pth``/``.bin`` file with ``torch.load(weights_only=True)``.

    Never runs pickled code: a file that is not what it claims raises :class:`~hypernet.CheckpointError`.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"expected a checkpoint file at {path}, got nothing there; check the path or run directory")
    if path.suffix in (".pt", ".pth", ".bin"):
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # any failure means an unusable file
            raise CheckpointError(f"refused to load {path}: not a plain tensor file ({type(exc).__name__}: {str(exc)[:200]})") from None
        if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
            raise CheckpointError(f"expected {path} to hold a dict of tensors, got {type(loaded).__name__}")
        return dict(loaded)
    from safetensors.torch import load as st_load

    try:
        return dict(st_load(path.read_bytes()))
    except Exception as exc:  # safetensors raises several error types
        raise CheckpointError(
            f"checkpoint file {path} is truncated or corrupted (not a valid safetensors file: {str(exc)[:200]}); use an earlier checkpoint"
        ) from None


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load a checkpoint from its JSON file, its safetensors file, or a directory (the newest one there).

    Raises:
        CheckpointError: naming the file, if it is missing, truncated, corrupted or unsafe.
    """
    path = Path(path)
    if path.is_dir():
        paths = list_checkpoints(path)
        if not paths:
            raise CheckpointError(f"expected checkpoints (step-*.json) in {path}, got none; train first or check the path")
        path = paths[-1]
    if path.suffix == ".safetensors":
        path = path.with_suffix(".json")
    try:
        meta = json.loads(path.read_text())
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"format is not {FORMAT}")
        step, epoch, batch = int(meta["step"]), int(meta["epoch"]), int(meta["batch"])
        info = meta["tensors"]
        tensor_path = path.with_name(str(info["file"]))  # a bare file name: with_name refuses paths
        expected_bytes, expected_sha = int(info["bytes"]), str(info["sha256"])
    except FileNotFoundError:
        raise CheckpointError(f"expected a checkpoint file at {path}, got nothing there; check the path or run directory") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint file {path} is truncated or corrupted ({exc}); use an earlier checkpoint") from None
    if not tensor_path.is_file():
        raise CheckpointError(f"checkpoint file {tensor_path} is missing (listed by {path}); use an earlier checkpoint")
    data = tensor_path.read_bytes()
    if len(data) != expected_bytes or hashlib.sha256(data).hexdigest() != expected_sha:
        raise CheckpointError(
            f"checkpoint file {tensor_path} is truncated or corrupted (expected {expected_bytes} bytes with sha256 "
            f"{expected_sha[:12]}..., got {len(data)} bytes that do not match); use an earlier checkpoint"
        )
    return Checkpoint(path, step, epoch, batch, meta, load_tensors(tensor_path))


def latest_checkpoint(directory: str | Path, *, on_corrupt: Any = None) -> Checkpoint | None:
    """The newest checkpoint in ``directory`` that loads, or ``None`` if there is none.

    A newer checkpoint that fails to load is skipped; ``on_corrupt(error)`` is called for it
    (for example to print a warning).
    """
    for path in reversed(list_checkpoints(directory)):
        try:
            return load_checkpoint(path)
        except CheckpointError as exc:
            if on_corrupt is not None:
                on_corrupt(exc)
    return None
