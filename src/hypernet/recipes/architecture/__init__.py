"""Architecture selection with a hypernetwork over a space of architectures (SMASH)."""

from .search import (
    Architecture,
    ArchitectureSearch,
    MLPSpace,
    MLPSupernet,
    Scored,
    plain_weights,
)

__all__ = [
    "Architecture",
    "ArchitectureSearch",
    "MLPSpace",
    "MLPSupernet",
    "Scored",
    "plain_weights",
]
