"""Exceptions raised by hypernet.

Every error is a :class:`HypernetError`, itself a :class:`ValueError`, so code
that already catches ``ValueError`` keeps working. Messages say what was
expected, what was got and how to fix it.

Example:
    >>> import hypernet as hn
    >>> issubclass(hn.ConditionError, ValueError)
    True
"""

from __future__ import annotations


class HypernetError(ValueError):
    """Base class of every error hypernet raises on purpose."""


class ConditionError(HypernetError):
    """A condition passed to a model has the wrong kind, range, shape, dtype or device."""


class ConfigError(HypernetError):
    """A model, generator or condition was configured inconsistently."""


class CheckpointError(HypernetError):
    """A checkpoint file is missing, truncated, corrupted or unsafe to load."""


def describe(value: object) -> str:
    """Short, human description of a value for error messages.

    Example:
        >>> import torch
        >>> describe(torch.zeros(2, 3))
        'Tensor(shape=(2, 3), dtype=torch.float32, device=cpu)'
        >>> describe(3)
        'int 3'
    """
    import torch

    if isinstance(value, torch.Tensor):
        return f"Tensor(shape={tuple(value.shape)}, dtype={value.dtype}, device={value.device})"
    if isinstance(value, (int, float, str, bool)) or value is None:
        return f"{type(value).__name__} {value!r}"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(describe(v) for v in value[:3])
        more = ", ..." if len(value) > 3 else ""
        return f"{type(value).__name__} of {len(value)} ({inner}{more})"
    return type(value).__name__
