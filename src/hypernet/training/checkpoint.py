"""Safe, atomic, resumable checkpoints.

A checkpoint ``step-00000120`` is two files in a ``checkpoints/`` directory:

* ``step-00000120.safetensors``: every tensor (model ``state_dict``, optimizer
  state tensors, RNG states), keys ``model/...``, ``optimizer/...``, ``rng/...``;
* ``step-00000120.json``: everything else (step, epoch, config, optimizer
  hyperparameters, scheduler state, RNG bookkeeping) and the sha256 of the tensor file.

Both are written atomically (:mod:`hypernet._io`), tensors first, so the JSON file marks a
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
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._io import TMP_MARK, atomic_write_bytes, atomic_write_text
from ..errors import CheckpointError, describe

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
        """Load the model (strictly), and the optimizer and LR scheduler states when given.

        Everything is checked before anything is loaded: a checkpoint that does not fit
        (another model shape, a tampered optimizer state) raises :class:`~hypernet.CheckpointError`
        and leaves ``model``, ``optimizer`` and ``scheduler`` as they were.
        """
        state = self.model_state()
        _check_fits(self.path, getattr(model, "module", model), state)
        opt_state = None
        if optimizer is not None:
            if not isinstance(self.meta.get("optimizer"), dict):
                raise CheckpointError(
                    f"expected checkpoint {self.path} to hold an optimizer state to resume training from, got none; "
                    "resume from a checkpoint written by fit(), or load it without an optimizer"
                )
            opt_state = _optimizer_from_parts(self.path, self.section("optimizer"), self.meta["optimizer"], optimizer)
        if scheduler is not None and self.meta.get("scheduler") is not None and not isinstance(self.meta["scheduler"], dict):
            raise CheckpointError(
                f"expected checkpoint {self.path} to hold its scheduler state as a JSON object, got {describe(self.meta['scheduler'])}; "
                "use an earlier checkpoint, or resume without a scheduler"
            )
        try:
            getattr(model, "module", model).load_state_dict(state)
        except RuntimeError as exc:  # pragma: no cover - _check_fits found every mismatch already
            raise CheckpointError(
                f"expected checkpoint {self.path} to fit this model, got {exc}; use the config the run was trained with"
            ) from None
        if optimizer is not None and opt_state is not None:
            optimizer.load_state_dict(opt_state)
        if scheduler is not None and self.meta.get("scheduler") is not None:
            scheduler.load_state_dict(self.meta["scheduler"])


def _check_fits(path: Path, model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Raise a :class:`~hypernet.CheckpointError` unless ``state`` has exactly ``model``'s keys, shapes and dtypes kinds."""
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = [f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = [f"missing {missing[:5]}" if missing else "", f"unexpected {unexpected[:5]}" if unexpected else ""]
        parts.append(f"shapes (checkpoint vs model) {wrong[:5]}" if wrong else "")
        raise CheckpointError(
            f"expected checkpoint {path} to fit this model, got a mismatch ({', '.join(p for p in parts if p)}); "
            "use the config the run was trained with (the run directory's config.json)"
        )


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


def _optimizer_from_parts(
    path: Path, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any], optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """The optimizer ``state_dict`` stored in a checkpoint, checked against ``optimizer`` (raises :class:`~hypernet.CheckpointError`)."""

    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"expected a usable optimizer state in checkpoint {path}, got {why}; use an earlier checkpoint")

    groups_meta, state_meta = meta.get("param_groups"), meta.get("state")
    if not isinstance(groups_meta, list) or not isinstance(state_meta, dict):
        raise bad("expected param_groups (a list) and state (an object)")
    if len(groups_meta) != len(optimizer.param_groups):
        raise bad(f"{len(groups_meta)} parameter groups, this optimizer has {len(optimizer.param_groups)}")
    n_params = sum(len(g["params"]) for g in optimizer.param_groups)
    groups = []
    for saved, current in zip(groups_meta, optimizer.param_groups, strict=True):
        if not isinstance(saved, dict) or set(saved) != set(current):
            raise bad(f"expected parameter group keys {sorted(current)}, got {sorted(saved) if isinstance(saved, dict) else saved!r}")
        params = saved["params"]
        if not isinstance(params, list) or len(params) != len(current["params"]) or not all(_is_int(i, 0, n_params - 1) for i in params):
            raise bad(f"expected {len(current['params'])} parameter indices below {n_params}, got {str(params)[:80]}")
        group = dict(saved)
        for k, v in group.items():
            now = current[k]
            if k == "params":
                continue
            if isinstance(now, tuple) and isinstance(v, list):  # JSON turned tuples (Adam's betas) into lists
                v = group[k] = tuple(v)
            if not _same_kind(v, now):
                raise bad(f"parameter group key {k!r}: expected {type(now).__name__}, got {str(v)[:40]}")
        groups.append(group)
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        idx, name = key.split("/", 1)
        if not idx.isdigit() or int(idx) >= n_params:
            raise bad(f"state for parameter {idx!r}")
        state.setdefault(int(idx), {})[name] = value
    for idx, values in state_meta.items():
        if not (isinstance(idx, str) and idx.isdigit() and int(idx) < n_params) or not isinstance(values, dict):
            raise bad(f"state for parameter {idx!r}")
        state.setdefault(int(idx), {}).update(values)
    return {"state": state, "param_groups": groups}


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _same_kind(saved: Any, current: Any) -> bool:
    """Whether a saved optimizer hyperparameter can stand in for the current one (same type, finite numbers)."""
    if current is None:
        return saved is None or isinstance(saved, bool)
    if isinstance(current, bool):
        return isinstance(saved, bool)
    if isinstance(current, (int, float)):
        return isinstance(saved, (int, float)) and not isinstance(saved, bool) and math.isfinite(saved)
    if isinstance(current, tuple):
        return (
            isinstance(saved, tuple) and len(saved) == len(current) and all(_same_kind(a, b) for a, b in zip(saved, current, strict=True))
        )
    if isinstance(current, torch.Tensor):
        return isinstance(saved, (int, float)) and math.isfinite(saved)
    return isinstance(saved, type(current))


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
        raise CheckpointError(
            f"expected JSON-serialisable checkpoint metadata (config, scheduler, extra), got {exc}; "
            "pass only numbers, strings, lists and dicts"
        ) from None
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
            raise CheckpointError(
                f"refused to load {path}: expected a plain tensor file, got {type(exc).__name__}: {str(exc)[:200]}; "
                "pass a file saved from a dict of tensors (torch.save)"
            ) from None
        if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
            raise CheckpointError(
                f"expected {path} to hold a dict of tensors, got {describe(loaded)}; pass a file saved from a dict of tensors"
            )
        return dict(loaded)
    from safetensors.torch import load as st_load

    try:
        return dict(st_load(path.read_bytes()))
    except Exception as exc:  # safetensors raises several error types
        raise CheckpointError(
            f"expected checkpoint file {path} to be a valid safetensors file, got a truncated or corrupted one ({str(exc)[:200]}); "
            "use an earlier checkpoint"
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
    meta = _read_meta(path)
    step, epoch, batch = meta["step"], meta["epoch"], meta["batch"]
    info = meta["tensors"]
    tensor_path = path.with_name(info["file"])
    if not tensor_path.is_file():
        raise CheckpointError(f"expected checkpoint file {tensor_path} (listed by {path}), got no such file; use an earlier checkpoint")
    data = tensor_path.read_bytes()
    if len(data) != info["bytes"] or hashlib.sha256(data).hexdigest() != info["sha256"]:
        raise CheckpointError(
            f"checkpoint file {tensor_path} is truncated or corrupted (expected {info['bytes']} bytes with sha256 "
            f"{info['sha256'][:12]}..., got {len(data)} bytes that do not match); use an earlier checkpoint"
        )
    tensors = load_tensors(tensor_path)
    bad = [
        k for k, v in tensors.items() if k.startswith(("model/", "optimizer/")) and v.is_floating_point() and not bool(v.isfinite().all())
    ]
    if bad:
        raise CheckpointError(
            f"expected finite values in checkpoint file {tensor_path}, got NaN or inf in {bad[:5]}; use an earlier checkpoint"
        )
    return Checkpoint(path, step, epoch, batch, meta, tensors)


MAX_META_BYTES = 64 * 2**20
"""A checkpoint's JSON file larger than this is refused (real ones hold a config and a few numbers)."""
MAX_STEP = 2**53
"""Largest ``step`` / ``epoch`` / ``batch`` accepted in checkpoint metadata."""
_SHA = re.compile(r"^[0-9a-f]{64}$")
_TENSOR_FILE = re.compile(r"^step-\d+\.safetensors$")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _read_meta(path: Path) -> dict[str, Any]:
    """The checked JSON document of a checkpoint; raises :class:`~hypernet.CheckpointError` naming ``path``."""

    def corrupt(why: str) -> CheckpointError:
        return CheckpointError(
            f"expected an intact checkpoint file {path}, got a truncated or corrupted one ({why}); use an earlier checkpoint"
        )

    try:
        size = path.stat().st_size
        if size > MAX_META_BYTES:
            raise corrupt(f"{size} bytes, expected at most {MAX_META_BYTES}")
        meta = json.loads(path.read_bytes(), parse_constant=_refuse_constant)
    except FileNotFoundError:
        raise CheckpointError(f"expected a checkpoint file at {path}, got nothing there; check the path or run directory") from None
    except CheckpointError:
        raise
    except RecursionError:
        raise corrupt("nested too deeply") from None
    except (OSError, ValueError) as exc:  # ValueError covers JSONDecodeError and UnicodeDecodeError
        raise corrupt(" ".join(str(exc).split())[:200]) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise corrupt(f"format is not {FORMAT}")
    for key in ("step", "epoch", "batch"):
        if not _is_int(meta.get(key), 0, MAX_STEP):
            raise corrupt(f"expected {key!r} to be an integer 0..2**53, got {str(meta.get(key))[:40]}")
    if meta["batch"] > meta["step"]:
        raise corrupt(f"batch {meta['batch']} is larger than step {meta['step']}")
    info = meta.get("tensors")
    if not isinstance(info, dict):
        raise corrupt("expected 'tensors' to be an object with file, bytes and sha256")
    if not isinstance(info.get("file"), str) or not _TENSOR_FILE.match(info["file"]):
        raise corrupt(f"expected 'tensors.file' to be a file name step-N.safetensors, got {str(info.get('file'))[:60]!r}")
    if not _is_int(info.get("bytes"), 0, 2**50) or not isinstance(info.get("sha256"), str) or not _SHA.match(info["sha256"]):
        raise corrupt("expected 'tensors.bytes' to be a byte count and 'tensors.sha256' 64 hex digits")
    for key in ("config", "extra"):
        if not isinstance(meta.get(key, {}), dict):
            raise corrupt(f"expected {key!r} to be an object")
    return meta


def latest_checkpoint(
    directory: str | Path, *, on_corrupt: Any = None, accept: Callable[[Checkpoint], None] | None = None
) -> Checkpoint | None:
    """The newest checkpoint in ``directory`` that loads (and that ``accept`` takes), or ``None`` if there is none.

    A newer checkpoint that fails to load, or for which ``accept(checkpoint)`` raises
    :class:`~hypernet.CheckpointError` (for example because it does not fit the model), is
    skipped; ``on_corrupt(error)`` is called for it (for example to print a warning).
    """
    for path in reversed(list_checkpoints(directory)):
        try:
            ckpt = load_checkpoint(path)
            if accept is not None:
                accept(ckpt)
            return ckpt
        except CheckpointError as exc:
            if on_corrupt is not None:
                on_corrupt(exc)
    return None
