"""Offline data loaders (nothing is downloaded at run time)."""

from .digits import DigitsTasks, load_digits_tasks

__all__ = ["DigitsTasks", "load_digits_tasks"]
