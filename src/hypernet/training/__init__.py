"""Training: the shared loop, checkpoints, run logging, distributed helpers, configs and recipes.

Example:
    >>> from hypernet.training import fit, save_checkpoint, load_checkpoint, make_loader, list_recipes
    >>> list_recipes()[:6]
    ['adapters', 'architecture', 'compression', 'continual', 'federated', 'ghn']
    >>> list_recipes()[6:]
    ['hypermodel', 'hypertab', 'instant', 'sweep', 'uncertainty']
"""

from typing import Any

from .checkpoint import Checkpoint, latest_checkpoint, list_checkpoints, load_checkpoint, load_tensors, save_checkpoint
from .distributed import DistInfo, GlobalBatchSampler, ShardedBatchSampler, make_loader
from .errors import TrainingError, UsageError
from .logger import RunLogger, read_metrics
from .loop import Callback, FitResult, Trainer, TrainState, fit
from .progress import Progress
from .rng import capture_rng, restore_rng, seed_everything

# The config schemas (pydantic) and the registry of CLI-trainable recipes live in hypernet.cli;
# they are re-exported here lazily so `import hypernet.training` loads no pydantic.
_LAZY = {
    "RunConfig": "config",
    "Section": "config",
    "TrainSection": "config",
    "load_config": "config",
    "make_optimizer": "optim",
    "Recipe": "registry",
    "RunContext": "registry",
    "get_recipe": "registry",
    "list_recipes": "registry",
    "register_recipe": "registry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"hypernet.cli.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Callback",
    "Checkpoint",
    "DistInfo",
    "FitResult",
    "GlobalBatchSampler",
    "Progress",
    "Recipe",
    "RunConfig",
    "RunContext",
    "RunLogger",
    "Section",
    "ShardedBatchSampler",
    "TrainSection",
    "TrainState",
    "Trainer",
    "TrainingError",
    "UsageError",
    "capture_rng",
    "fit",
    "get_recipe",
    "latest_checkpoint",
    "list_checkpoints",
    "list_recipes",
    "load_checkpoint",
    "load_config",
    "load_tensors",
    "make_loader",
    "make_optimizer",
    "read_metrics",
    "register_recipe",
    "restore_rng",
    "save_checkpoint",
    "seed_everything",
]
