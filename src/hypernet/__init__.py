"""hypernet: turn any PyTorch model into a hypernetwork-parameterised model.

The core (``HyperModel``, conditions, generators, errors) is imported eagerly; the recipes
(``ContinualLearner``, ``HyperparameterSweep``, ...) are imported on first use, so
``import hypernet`` loads only torch, numpy and safetensors.

Example:
    >>> import torch, hypernet as hn
    >>> from torch import nn
    >>> model = hn.HyperModel(nn.Linear(4, 2), condition=hn.Embedding(3, 8), generator="mlp")
    >>> model(torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])).shape
    torch.Size([5, 2])
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import generators
from ._model import GeneratedWeights, HyperModel
from ._peft import export_peft
from ._spec import ParamSpec
from .conditions import Condition, Continuous, Embedding, Noise, SetEncoder, Static
from .data.errors import DataError
from .errors import CheckpointError, ConditionError, ConfigError, HypernetError
from .generators import Generator, create_generator, list_generators, register_generator

if TYPE_CHECKING:  # what the lazy names resolve to, for type checkers and IDEs
    from .recipes.adapters import AdapterHypernet, AdapterTask, TextToLoRA
    from .recipes.architecture import Architecture, ArchitectureSearch, MLPSpace
    from .recipes.compression.compress import Compressed, compress, static_hypernet
    from .recipes.continual import ContinualLearner
    from .recipes.federated import FederatedHypernet
    from .recipes.graph import GraphHyperNetwork
    from .recipes.hyperparameters import Curve, HyperparameterSweep, HyperStep, LogUniform, Uniform
    from .recipes.hypertab import HyperTabClassifier
    from .recipes.instant import InstantClassifier
    from .recipes.uncertainty.predictive import NoiseStep, Predictive, predictive, weight_diversity

__version__ = "0.1.0"

# public name -> the recipe subpackage defining it (imported on first access)
_RECIPE_NAMES = {
    "AdapterHypernet": "adapters",
    "AdapterTask": "adapters",
    "TextToLoRA": "adapters",
    "Architecture": "architecture",
    "ArchitectureSearch": "architecture",
    "MLPSpace": "architecture",
    "Compressed": "compression",
    "compress": "compression",
    "static_hypernet": "compression",
    "ContinualLearner": "continual",
    "FederatedHypernet": "federated",
    "GraphHyperNetwork": "graph",
    "Curve": "hyperparameters",
    "HyperparameterSweep": "hyperparameters",
    "HyperStep": "hyperparameters",
    "LogUniform": "hyperparameters",
    "Uniform": "hyperparameters",
    "HyperTabClassifier": "hypertab",
    "InstantClassifier": "instant",
    "NoiseStep": "uncertainty",
    "Predictive": "uncertainty",
    "predictive": "uncertainty",
    "weight_diversity": "uncertainty",
}
_SUBMODULES = ("cli", "data", "init", "recipes", "training")


def __getattr__(name: str) -> Any:
    """Import a recipe (or a submodule such as ``hn.recipes``) on first access."""
    if name in _RECIPE_NAMES:
        value = getattr(importlib.import_module(f"{__name__}.recipes.{_RECIPE_NAMES[name]}"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_RECIPE_NAMES) | set(_SUBMODULES))


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
    "FederatedHypernet",
    "GeneratedWeights",
    "Generator",
    "GraphHyperNetwork",
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
    "TextToLoRA",
    "Uniform",
    "__version__",
    "compress",
    "create_generator",
    "export_peft",
    "generators",
    "list_generators",
    "predictive",
    "register_generator",
    "static_hypernet",
    "weight_diversity",
]
