"""Conditions: what a hypernetwork's weights depend on."""

from ._base import Condition, Split
from .continuous import Continuous
from .embedding import Embedding
from .noise import Noise
from .set_encoder import SetEncoder
from .static import Static

__all__ = ["Condition", "Continuous", "Embedding", "Noise", "SetEncoder", "Split", "Static"]
