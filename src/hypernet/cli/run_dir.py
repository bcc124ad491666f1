"""Starting, resuming and overwriting a run directory without losing anything.

What ``hypernet train`` promises (the README's "Checkpoints and resume" section):

* A run directory is marked by a ``.hypernet-run`` file. ``--overwrite`` deletes only a
  directory that is recognisably a run (that marker, or ``config.json`` beside
  ``checkpoints/``) and never follows a symbolic link; anything else is refused.
* A run with no checkpoint has nothing to lose: a plain ``hypernet train`` reuses it
  (after a failed start or a kill before the first checkpoint).
* ``--resume`` compares the new config with the one stored in the newest usable
  checkpoint before it writes anything, and refuses differing keys other than
  :data:`MAY_CHANGE_ON_RESUME`; it refuses another number of processes too.

All of it runs while the caller holds the run's lock (:mod:`hypernet.training.run_lock`).

Example:
    >>> import tempfile, pathlib
    >>> run = pathlib.Path(tempfile.mkdtemp()) / "demo"
    >>> is_run_dir(run)
    False
    >>> mark_run_dir(run); is_run_dir(run)
    True
    >>> config_differences({"train": {"lr": 0.1, "epochs": 2}}, {"train": {"lr": 0.2, "epochs": 5}})
    {'train.lr': (0.1, 0.2), 'train.epochs': (2, 5)}
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._io import atomic_write_bytes, atomic_write_text
from .._version import __version__
from ..errors import ConfigError
from ..training.checkpoint import Checkpoint, latest_checkpoint, list_checkpoints
from ..training.errors import UsageError
from ..training.loop import checkpoint_world_size
from .config import RunConfig, validate

MARKER = ".hypernet-run"
"""The file that marks a directory as a run."""

MAY_CHANGE_ON_RESUME = (
    "name",
    "runs_dir",
    "train.epochs",
    "train.max_steps",
    "train.checkpoint_every",
    "train.keep_last",
    "train.log_every",
    "train.eval_every",
    "train.dist_timeout",
)
"""Config keys that ``--resume`` accepts with a new value (they do not change what the next step computes)."""


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` is recognisably a run: it holds the marker, or ``config.json`` and ``checkpoints/``."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        return False
    return (path / MARKER).is_file() or ((path / "config.json").is_file() and (path / "checkpoints").is_dir())


def mark_run_dir(path: str | Path) -> None:
    """Create ``path`` if needed and write its marker file."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path / MARKER, json.dumps({"hypernet": __version__}) + "\n")


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (old value, new value)}`` for every key whose value differs (a missing key counts as ``None``)."""
    a, b = _flatten(old), _flatten(new)
    return {k: (a.get(k), b.get(k)) for k in [*a, *(k for k in b if k not in a)] if a.get(k) != b.get(k)}


_RUNS_DIR = "invalid config: key 'runs_dir': "


def check_runs_dir(runs_dir: Path) -> None:
    """Create ``runs_dir`` if needed; raise :class:`UsageError` naming the key if it is a file or cannot be written."""
    if runs_dir.exists() and not runs_dir.is_dir():
        raise UsageError(f"{_RUNS_DIR}expected a directory, got the file {str(runs_dir)!r}; choose another runs_dir")
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"invalid config: key 'runs_dir': expected a directory that can be created, got {str(runs_dir)!r} ({exc.strerror}); "
            "choose a writable place"
        ) from None
    probe = runs_dir / f".hypernet-write-test-{id(runs_dir)}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(
            f"invalid config: key 'runs_dir': expected a writable directory, got {str(runs_dir)!r} ({exc.strerror}); "
            "choose a writable place"
        ) from None


def stored_config(ckpt: Checkpoint, run_dir: Path) -> dict[str, Any] | None:
    """The run's config as the checkpoint stored it (else the run's ``config.json``), with defaults filled in."""
    raw: Any = ckpt.meta.get("config") or None
    if raw is None and (run_dir / "config.json").is_file():
        try:
            raw = json.loads((run_dir / "config.json").read_text())
        except (OSError, ValueError):
            raw = None
    if not isinstance(raw, dict):
        return None
    try:
        return validate(dict(raw), "the checkpoint's config").model_dump(mode="json")
    except ConfigError:
        return raw


def check_resume(run_dir: Path, config: RunConfig, world_size: int) -> Checkpoint:
    """The checkpoint ``--resume`` starts from, after checking the process count and the config (raises :class:`UsageError`)."""
    ckpt = latest_checkpoint(run_dir / "checkpoints")
    if ckpt is None:
        state = "no usable checkpoint" if list_checkpoints(run_dir / "checkpoints") else "no checkpoint"
        raise UsageError(
            f"expected a run with checkpoints to resume in {run_dir}, got {state}; train without --resume "
            "(a run without a usable checkpoint has nothing to lose and starts again)"
        )
    written = checkpoint_world_size(ckpt)
    if written is not None and written != world_size:
        how = f"torchrun --nproc_per_node={written} -m hypernet train CONFIG --resume" if written > 1 else "hypernet train CONFIG --resume"
        plural = "es" if world_size > 1 else ""
        raise UsageError(
            f"cannot resume {run_dir} with {world_size} process{plural}: its checkpoints were written by {written}; "
            f"expected the same number (bitwise-identical continuation), got {world_size}; run `{how}`"
        )
    old = stored_config(ckpt, run_dir)
    if old is not None:
        may_change = MAY_CHANGE_ON_RESUME + type(config).resume_may_change
        diff = {k: v for k, v in config_differences(old, config.model_dump(mode="json")).items() if k not in may_change}
        if diff:
            shown = ", ".join(f"{k} ({_short(a)} -> {_short(b)})" for k, (a, b) in list(diff.items())[:6])
            raise UsageError(
                f"--resume got a config that differs from the run's in {shown} (expected the run's own config); "
                "resume with the run's own config "
                f"({run_dir / 'config.json'}, unchanged), or start a new run (another name, or --overwrite). "
                f"Keys that may change on resume: {', '.join(may_change)}"
            )
    return ckpt


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def prepare_run_dir(run_dir: Path, config_path: Path, config: RunConfig, *, resume: bool, overwrite: bool, world_size: int = 1) -> bool:
    """Check, then create or reuse ``run_dir`` and write its config files; returns whether this call started it afresh.

    Nothing is written or deleted before every check passed. The caller holds the run's lock.
    """
    check_runs_dir(run_dir.parent)
    if run_dir.is_symlink() or (run_dir.exists() and not run_dir.is_dir()):
        raise UsageError(
            f"expected {run_dir} to be a run directory, got a {'symbolic link' if run_dir.is_symlink() else 'file'}; change `name:`"
        )
    has_files = run_dir.is_dir() and any(run_dir.iterdir())
    has_checkpoints = bool(list_checkpoints(run_dir / "checkpoints"))
    fresh = True
    if resume:
        check_resume(run_dir, config, world_size)
        fresh = False
    elif has_files:
        if not is_run_dir(run_dir):
            raise UsageError(
                f"{run_dir} exists and is not a hypernet run (expected a {MARKER} file or a config.json with checkpoints/, got neither); "
                "nothing was deleted: change `name:` or `runs_dir:`, or remove it yourself"
            )
        if has_checkpoints and not overwrite:
            raise UsageError(
                f"expected a new run directory, got {run_dir}, which already exists; "
                "pass --resume to continue it, --overwrite to start over, "
                "or change `name:` in the config"
            )
        shutil.rmtree(run_dir)  # a run, and either --overwrite or no checkpoint (nothing to lose)
    mark_run_dir(run_dir)
    atomic_write_bytes(run_dir / f"config{config_path.suffix}", config_path.read_bytes())
    atomic_write_text(run_dir / "config.json", json.dumps(config.model_dump(mode="json"), indent=2) + "\n")
    return fresh


def discard_failed_start(run_dir: Path) -> None:
    """Remove a run directory this call started if it holds no checkpoint (a start that failed on a usage or config error)."""
    if is_run_dir(run_dir) and not list_checkpoints(run_dir / "checkpoints"):
        shutil.rmtree(run_dir, ignore_errors=True)
