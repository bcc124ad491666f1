"""The adapter recipe: ``hn.AdapterHypernet`` (HyperFormer / Text-to-LoRA for an encoder), ``hn.AdapterTask``, the held-out-category
split, and ``hn.TextToLoRA`` (Text-to-LoRA for a decoder LM that answers by generating text)."""

from ._heldout import HeldoutSplit, heldout_split
from ._tasks import AdapterTask
from .adapter_hypernet import AdapterHypernet
from .text_to_lora import TextToLoRA

__all__ = ["AdapterHypernet", "AdapterTask", "HeldoutSplit", "TextToLoRA", "heldout_split"]
