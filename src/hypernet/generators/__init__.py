"""Generators: how the weights are produced from an embedding."""

from ._base import Generator
from ._registry import create_generator, list_generators, register_generator, unregister_generator
from .chunked import ChunkedGenerator
from .gated import GatedGenerator
from .ha import HaGenerator
from .layerwise import LayerwiseGenerator
from .lowrank import LowRankGenerator
from .mlp import MLPGenerator
from .shared import SharedHeadGenerator

__all__ = [
    "ChunkedGenerator",
    "GatedGenerator",
    "Generator",
    "HaGenerator",
    "LayerwiseGenerator",
    "LowRankGenerator",
    "MLPGenerator",
    "SharedHeadGenerator",
    "create_generator",
    "list_generators",
    "register_generator",
    "unregister_generator",
]
