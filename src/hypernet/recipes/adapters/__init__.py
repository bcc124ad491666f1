"""The adapter recipe: ``hn.AdapterHypernet`` (HyperFormer / Text-to-LoRA) and ``hn.AdapterTask``."""

from ._tasks import AdapterTask
from .adapter_hypernet import AdapterHypernet

__all__ = ["AdapterHypernet", "AdapterTask"]
