"""What ``hypernet train``, ``eval`` and ``export`` do: run directories around a recipe.

A run directory ``<runs_dir>/<name>/`` holds ``config.<yaml|toml|json>`` (the file as
given), ``config.json`` (validated, with every default filled in), ``metrics.csv``,
TensorBoard events, ``loss.png``, ``metrics.png``, ``summary.json`` and ``checkpoints/``.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from torch import nn

from .._io import atomic_write_bytes, atomic_write_text
from ..training import distributed
from ..training.checkpoint import latest_checkpoint, list_checkpoints
from ..training.errors import UsageError
from ..training.loop import FitResult
from .config import RunConfig, load_config, read_config_file, validate
from .registry import Recipe, RunContext, get_recipe

log = logging.getLogger("hypernet")


def _prepare_run_dir(run_dir: Path, config_path: Path, config: RunConfig, resume: bool, overwrite: bool) -> None:
    has_run = run_dir.is_dir() and any(run_dir.iterdir())
    if resume and not list_checkpoints(run_dir / "checkpoints"):
        raise UsageError(f"expected a run with checkpoints to resume in {run_dir}, got none; train without --resume first")
    if has_run and not resume:
        if not overwrite:
            raise UsageError(
                f"run directory {run_dir} already exists; pass --resume to continue it, --overwrite to start over, "
                "or change `name:` in the config"
            )
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(run_dir / f"config{config_path.suffix}", config_path.read_bytes())
    atomic_write_text(run_dir / "config.json", json.dumps(config.model_dump(mode="json"), indent=2) + "\n")


def train(config_path: str | Path, *, resume: bool = False, overwrite: bool = False, progress: bool | None = None) -> FitResult:
    """Train the recipe a config file names; under ``torchrun`` every process calls this.

    Args:
        config_path: a YAML / TOML / JSON config.
        resume: continue the run from its newest checkpoint.
        overwrite: delete an existing run directory of the same name first.
        progress: progress bars (``None``: when in a terminal; ``False``: silent).
    """
    config_path = Path(config_path)
    config = load_config(config_path)
    started = not distributed.running()
    info = distributed.setup()
    try:
        run_dir = Path(config.runs_dir) / config.name
        problem = None
        if info.is_main:
            try:
                _prepare_run_dir(run_dir, config_path, config, resume, overwrite)
            except UsageError as exc:
                problem = str(exc)
        problem = distributed.gather(problem)[0]  # every process stops on rank 0's usage error
        if problem is not None:
            raise UsageError(problem)
        recipe = get_recipe(config.recipe)
        summary = recipe.train(config, RunContext(run_dir, resume=resume, progress=progress, dist=info))
    except BaseException:
        if started:
            distributed.teardown(wait=False)
        raise
    if started:
        distributed.teardown()
    return summary


def load_run(run_dir: str | Path) -> tuple[RunConfig, Recipe, nn.Module]:
    """The config, recipe and model of a run directory, with the newest loadable checkpoint's weights."""
    run_dir = Path(run_dir)
    config_file = run_dir / "config.json"
    if not config_file.is_file():
        raise UsageError(f"expected a run directory holding config.json, got {str(run_dir)!r}; pass runs/<name> of a trained run")
    config = validate(read_config_file(config_file), str(config_file))
    recipe = get_recipe(config.recipe)
    model = recipe.build_model(config)
    ckpt = latest_checkpoint(run_dir / "checkpoints", on_corrupt=lambda e: log.warning("skipping unusable checkpoint: %s", e))
    if ckpt is None:
        raise UsageError(f"expected checkpoints in {run_dir / 'checkpoints'}, got none; train the run first")
    ckpt.restore(model)
    model.eval()
    return config, recipe, model


def evaluate_run(run_dir: str | Path) -> dict[str, float]:
    """Metrics of a run's newest checkpoint; also written to ``<run_dir>/eval.json``."""
    config, recipe, model = load_run(run_dir)
    metrics = recipe.evaluate(config, model)
    atomic_write_text(Path(run_dir) / "eval.json", json.dumps(metrics, indent=2) + "\n")
    return metrics


def export_run(run_dir: str | Path, cond: str | None, out: str | Path) -> dict[str, Any]:
    """Write the plain target weights generated for ``cond`` (``model.materialize(cond).state_dict()``) to a safetensors file."""
    from safetensors.torch import save

    out = Path(out)
    if out.suffix != ".safetensors":
        raise UsageError(f"expected --out to end in .safetensors, got {str(out)!r}")
    config, recipe, model = load_run(run_dir)
    condition = recipe.parse_cond(config, cond)
    net = recipe.materialize(config, model, condition)
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    meta = {"run": str(run_dir), "cond": "" if cond is None else cond, "recipe": config.recipe}
    atomic_write_bytes(out, save(state, metadata=meta))
    return {"path": str(out), "tensors": len(state), "parameters": int(sum(v.numel() for v in state.values() if v.is_floating_point()))}
