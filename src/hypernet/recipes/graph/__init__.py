"""Graph hypernetwork recipe (GHN-2 / GHN-3 style): :class:`GraphHyperNetwork` and its :class:`ArchitectureSampler`."""

from ._graph import ModelGraph, build_graph
from ._sampler import SPLITS, ArchitectureSampler, ArchSpec
from .graph_hypernetwork import GraphHyperNetwork, recalibrate_batchnorm

__all__ = ["SPLITS", "ArchSpec", "ArchitectureSampler", "GraphHyperNetwork", "ModelGraph", "build_graph", "recalibrate_batchnorm"]
