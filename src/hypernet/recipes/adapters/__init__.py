"""The adapter recipe: ``hn.AdapterHypernet`` (HyperFormer / Text-to-LoRA), ``hn.AdapterTask`` and the held-out-category split."""

from ._heldout import HeldoutSplit, heldout_split
from ._tasks import AdapterTask
from .adapter_hypernet import AdapterHypernet

__all__ = ["AdapterHypernet", "AdapterTask", "HeldoutSplit", "heldout_split"]
