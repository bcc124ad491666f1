"""Training: the shared loop, checkpoints, run logging, distributed helpers, configs and recipes.

Example:
    >>> from hypernet.training import fit, save_checkpoint, load_checkpoint, make_loader, list_recipes
    >>> list_recipes()
    ['adapters', 'hypermodel']
"""

from .checkpoint import Checkpoint, latest_checkpoint, list_checkpoints, load_checkpoint, load_tensors, save_checkpoint
from .config import RunConfig, Section, TrainSection, load_config
from .distributed import DistInfo, GlobalBatchSampler, make_loader
from .errors import TrainingError, UsageError
from .logger import RunLogger, read_metrics
from .loop import Callback, FitResult, TrainState, fit
from .optim import make_optimizer
from .progress import Progress
from .recipes import Recipe, RunContext, get_recipe, list_recipes, register_recipe
from .rng import capture_rng, restore_rng, seed_everything

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
    "TrainSection",
    "TrainState",
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
