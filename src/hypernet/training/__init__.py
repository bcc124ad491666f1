"""Training: the shared loop, checkpoints, run logging, distributed helpers, configs and recipes.

Example:
    >>> from hypernet.training import fit, save_checkpoint, load_checkpoint, make_loader, list_recipes
    >>> list_recipes()[:6]
    ['adapters', 'architecture', 'compression', 'continual', 'federated', 'ghn']
    >>> list_recipes()[6:]
    ['hypermodel', 'hypertab', 'instant', 'moe', 'retrieval', 'rl', 'sweep', 't2l', 'uncertainty']
"""

from .._lazy import lazy_attributes
from .checkpoint import Checkpoint, latest_checkpoint, list_checkpoints, load_checkpoint, load_tensors, save_checkpoint
from .distributed import DistInfo, GlobalBatchSampler, ShardedBatchSampler, make_loader
from .errors import TrainingError, UsageError
from .logger import RunLogger, read_metrics
from .loop import Callback, FitResult, Trainer, TrainState, fit
from .progress import Progress
from .rng import capture_rng, restore_rng, seed_everything

# The config schemas (pydantic) and the registry of CLI-trainable recipes live in hypernet.cli;
# they are re-exported here lazily so `import hypernet.training` loads no pydantic.
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "RunConfig": "hypernet.cli.schema",
        "Section": "hypernet.cli.schema",
        "TrainSection": "hypernet.cli.schema",
        "load_config": "hypernet.cli.config",
        "make_optimizer": "hypernet.cli.optim",
        "Recipe": "hypernet.cli.registry",
        "RunContext": "hypernet.cli.registry",
        "get_recipe": "hypernet.cli.registry",
        "list_recipes": "hypernet.cli.registry",
        "register_recipe": "hypernet.cli.registry",
    },
    globals(),
)

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
