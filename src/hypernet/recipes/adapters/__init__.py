"""The adapter recipe: ``hn.AdapterHypernet`` (HyperFormer / Text-to-LoRA for an encoder), ``hn.AdapterTask``, and
``hn.TextToLoRA`` (Text-to-LoRA for a decoder LM that answers by generating text)."""

from ._tasks import AdapterTask
from .adapter_hypernet import AdapterHypernet
from .text_to_lora import TextToLoRA

__all__ = ["AdapterHypernet", "AdapterTask", "TextToLoRA"]
