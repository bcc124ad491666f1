"""hypernet: turn any PyTorch model into a hypernetwork-parameterised model.

Example:
    >>> import torch, hypernet as hn
    >>> from torch import nn
    >>> model = hn.HyperModel(nn.Linear(4, 2), condition=hn.Embedding(3, 8), generator="mlp")
    >>> model(torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])).shape
    torch.Size([5, 2])
"""

from . import generators
from ._model import HyperModel
from ._spec import ParamSpec
from .conditions import Condition, Continuous, Embedding, Noise, SetEncoder, Static
from .data.errors import DataError
from .errors import CheckpointError, ConditionError, ConfigError, HypernetError
from .generators import Generator, create_generator, list_generators, register_generator
from .recipes import HyperTabClassifier
from .recipes.architecture import Architecture, ArchitectureSearch, MLPSpace
from .recipes.compression import Compressed, compress, static_hypernet
from .recipes.continual import ContinualLearner
from .recipes.hyperparameters import Curve, HyperparameterSweep, HyperStep, LogUniform, Uniform
from .recipes.instant import InstantClassifier
from .recipes.uncertainty import NoiseStep, Predictive, predictive, weight_diversity

__version__ = "0.1.0"

__all__ = [
    "AdapterHypernet",
    "AdapterTask",
    "Architecture",
    "ArchitectureSearch",
    "CheckpointError",
    "Compressed",
    "Condition",
    "ConditionError",
    "ConfigError",
    "ContinualLearner",
    "Continuous",
    "Curve",
    "DataError",
    "Embedding",
    "Generator",
    "HyperModel",
    "HyperStep",
    "HyperTabClassifier",
    "HypernetError",
    "HyperparameterSweep",
    "InstantClassifier",
    "LogUniform",
    "MLPSpace",
    "Noise",
    "NoiseStep",
    "ParamSpec",
    "Predictive",
    "SetEncoder",
    "Static",
    "Uniform",
    "__version__",
    "compress",
    "create_generator",
    "generators",
    "list_generators",
    "predictive",
    "register_generator",
    "static_hypernet",
    "weight_diversity",
]


_LAZY = {"AdapterHypernet": "hypernet.recipes.adapters", "AdapterTask": "hypernet.recipes.adapters"}


def __getattr__(name: str) -> object:
    """Recipes loaded on first use (``hn.AdapterHypernet``)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hypernet' has no attribute {name!r}")
