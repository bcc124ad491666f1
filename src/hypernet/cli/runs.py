"""What ``hypernet train``, ``eval`` and ``export`` do: run directories around a recipe.

A run directory ``<runs_dir>/<name>/`` holds ``config.<yaml|toml|json>`` (the file as
given), ``config.json`` (validated, with every default filled in), ``metrics.csv``,
TensorBoard events, ``loss.png``, ``metrics.png``, ``summary.json`` and ``checkpoints/``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from torch import nn

from .._io import atomic_write_bytes, atomic_write_text
from ..errors import ConfigError, HypernetError
from ..training import distributed
from ..training.checkpoint import latest_checkpoint, list_checkpoints
from ..training.errors import UsageError
from ..training.loop import FitResult
from ..training.run_lock import run_lock
from .config import RunConfig, load_config, read_config_file, validate
from .registry import Recipe, RunContext, get_recipe
from .run_dir import check_runs_dir, discard_failed_start, is_run_dir, prepare_run_dir

log = logging.getLogger("hypernet")


def train(config_path: str | Path, *, resume: bool = False, overwrite: bool = False, progress: bool | None = None) -> FitResult:
    """Train the recipe a config file names; under ``torchrun`` every process calls this.

    Args:
        config_path: a YAML / TOML / JSON config.
        resume: continue the run from its newest usable checkpoint; the config may differ from the
            run's only in :data:`~.run_dir.MAY_CHANGE_ON_RESUME`, and the process count must be the same.
        overwrite: delete an existing run of the same name first (only a directory that is recognisably a run).

    Raises:
        UsageError: the run is in use by another process, exists (without ``resume`` / ``overwrite``),
            is not a run, cannot be resumed with this config or process count; nothing was written.
        progress: progress bars (``None``: when in a terminal; ``False``: silent).
    """
    config_path = Path(config_path)
    config = load_config(config_path)
    started = not distributed.running()
    info = distributed.setup(timeout=config.train.dist_timeout)
    run_dir = Path(config.runs_dir) / config.name
    with contextlib.ExitStack() as stack:
        try:
            fresh = False
            problem = None
            if info.is_main:
                try:
                    check_runs_dir(run_dir.parent)
                    stack.enter_context(run_lock(run_dir))  # held until the run ends; released by the OS on a crash
                    fresh = prepare_run_dir(run_dir, config_path, config, resume=resume, overwrite=overwrite, world_size=info.world_size)
                except UsageError as exc:
                    problem = str(exc)
            problem = distributed.gather(problem)[0]  # every process stops on rank 0's usage error
            if problem is not None:
                raise SharedUsageError(problem)
            recipe = get_recipe(config.recipe)
            try:
                summary = recipe.train(config, RunContext(run_dir, resume=resume, progress=progress, dist=info))
            except (ConfigError, UsageError):
                if fresh and info.is_main:
                    discard_failed_start(run_dir)  # nothing trained yet: leave no half-made run behind
                raise
        except BaseException:
            if started:
                distributed.teardown(wait=False)
            raise
    if started:
        distributed.teardown()
    return summary


class SharedUsageError(UsageError):
    """A usage error rank 0 found and every process raises; only rank 0 reports it."""


def load_run(run_dir: str | Path) -> tuple[RunConfig, Recipe, nn.Module]:
    """The config, recipe and model of a run directory, with the newest loadable checkpoint's weights."""
    run_dir = Path(run_dir)
    config_file = run_dir / "config.json"
    if not config_file.is_file():
        raise UsageError(f"expected a run directory holding config.json, got {str(run_dir)!r}; pass runs/<name> of a trained run")
    config = validate(read_config_file(config_file), str(config_file))
    recipe = get_recipe(config.recipe)
    model = recipe.build_model(config)
    ckpt = latest_checkpoint(
        run_dir / "checkpoints", on_corrupt=lambda e: log.warning("skipping unusable checkpoint: %s", e), accept=lambda c: c.restore(model)
    )
    if ckpt is None:
        raise UsageError(f"expected a usable checkpoint in {run_dir / 'checkpoints'}, got none; train the run first")
    model.eval()
    return config, recipe, model


def evaluate_run(run_dir: str | Path) -> dict[str, float]:
    """Metrics of a run's newest checkpoint; also written to ``<run_dir>/eval.json``."""
    config, recipe, model = load_run(run_dir)
    metrics = recipe.evaluate(config, model)
    atomic_write_text(Path(run_dir) / "eval.json", json.dumps(metrics, indent=2) + "\n")
    return metrics


def _check_export_target(out: Path) -> None:
    """Refuse an ``--out`` that is a directory, sits in a missing directory, or is inside a run's ``checkpoints/``."""
    if out.is_dir():
        raise UsageError(f"expected --out to be a file path, got the directory {str(out)!r}; add a file name such as model.safetensors")
    parent = out.absolute().parent
    if not parent.is_dir():
        raise UsageError(f"expected --out in an existing directory, got {str(out)!r} ({parent} does not exist); create it first")
    resolved = parent.resolve()
    if resolved.name == "checkpoints" and (list_checkpoints(resolved) or is_run_dir(resolved.parent)):
        raise UsageError(
            f"refused to write --out {str(out)!r}: expected a path outside a run's checkpoints/ directory, got one inside it; "
            "choose a path outside it"
        )


def export_run(run_dir: str | Path, cond: str | None, out: str | Path) -> dict[str, Any]:
    """Write the plain target weights generated for ``cond`` (``model.materialize(cond).state_dict()``) to a safetensors file."""
    from safetensors.torch import save

    out = Path(out)
    if out.suffix != ".safetensors":
        raise UsageError(f"expected --out to end in .safetensors, got {str(out)!r}; pass e.g. --out model.safetensors")
    _check_export_target(out)
    config, recipe, model = load_run(run_dir)
    try:
        condition = recipe.parse_cond(config, cond)
    except HypernetError:
        raise
    except (ValueError, TypeError) as exc:
        raise UsageError(
            f"expected a valid --cond for recipe {config.recipe!r}, got {cond!r} ({exc}); pass a condition the recipe accepts"
        ) from None
    net = recipe.materialize(config, model, condition)
    state = _unshared({k: v.detach().contiguous() for k, v in net.state_dict().items()})
    meta = {"run": str(run_dir), "cond": "" if cond is None else cond, "recipe": config.recipe}
    try:
        atomic_write_bytes(out, save(state, metadata=meta))
    except OSError as exc:
        raise UsageError(
            f"cannot write --out {str(out)!r}: expected a writable file path, got {exc.strerror}; choose a writable file path"
        ) from None
    return {"path": str(out), "tensors": len(state), "parameters": int(sum(v.numel() for v in state.values() if v.is_floating_point()))}


def _unshared(state: dict[str, Any]) -> dict[str, Any]:
    """Tied weights (an LM's embedding and output layer) each get their own copy: safetensors refuses shared memory."""
    seen: set[int] = set()
    out = {}
    for key, value in state.items():
        storage = value.untyped_storage().data_ptr()
        out[key] = value.clone() if storage in seen and value.numel() else value
        seen.add(storage)
    return out
