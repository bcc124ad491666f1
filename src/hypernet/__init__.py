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

from typing import TYPE_CHECKING

from . import generators
from ._lazy import lazy_attributes
from ._model import GeneratedWeights, HyperModel
from ._peft import export_peft
from ._spec import ParamSpec
from ._version import __version__
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
    from .recipes.moe import HyperMoE
    from .recipes.retrieval import Hypencoder
    from .recipes.rl import MultiArchPolicy, ZeroShotPolicy
    from .recipes.uncertainty.predictive import NoiseStep, Predictive, predictive, weight_diversity


# public name -> the recipe subpackage defining it (imported on first access)
_RECIPE_NAMES = {
    "AdapterHypernet": ".recipes.adapters",
    "AdapterTask": ".recipes.adapters",
    "Architecture": ".recipes.architecture",
    "ArchitectureSearch": ".recipes.architecture",
    "MLPSpace": ".recipes.architecture",
    "Compressed": ".recipes.compression",
    "compress": ".recipes.compression",
    "static_hypernet": ".recipes.compression",
    "ContinualLearner": ".recipes.continual",
    "FederatedHypernet": ".recipes.federated",
    "GraphHyperNetwork": ".recipes.graph",
    "Curve": ".recipes.hyperparameters",
    "HyperparameterSweep": ".recipes.hyperparameters",
    "HyperStep": ".recipes.hyperparameters",
    "LogUniform": ".recipes.hyperparameters",
    "Uniform": ".recipes.hyperparameters",
    "HyperTabClassifier": ".recipes.hypertab",
    "InstantClassifier": ".recipes.instant",
    "HyperMoE": ".recipes.moe",
    "Hypencoder": ".recipes.retrieval",
    "NoiseStep": ".recipes.uncertainty",
    "Predictive": ".recipes.uncertainty",
    "predictive": ".recipes.uncertainty",
    "weight_diversity": ".recipes.uncertainty",
    "MultiArchPolicy": ".recipes.rl",
    "ZeroShotPolicy": ".recipes.rl",
    "TextToLoRA": ".recipes.adapters",
}
__getattr__, __dir__ = lazy_attributes(__name__, _RECIPE_NAMES, globals(), ("cli", "data", "init", "recipes", "training"))

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
    "Hypencoder",
    "HyperMoE",
    "HyperModel",
    "HyperStep",
    "HyperTabClassifier",
    "HypernetError",
    "HyperparameterSweep",
    "InstantClassifier",
    "LogUniform",
    "MLPSpace",
    "MultiArchPolicy",
    "Noise",
    "NoiseStep",
    "ParamSpec",
    "Predictive",
    "SetEncoder",
    "Static",
    "TextToLoRA",
    "Uniform",
    "ZeroShotPolicy",
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
