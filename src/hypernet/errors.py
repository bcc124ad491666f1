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


class TargetError(HypernetError):
    """The target raised while running with generated weights (usually: input it does not accept).

    The error raised is also an instance of the target's own exception type (a ``RuntimeError`` from
    a shape mismatch stays a ``RuntimeError``), and chains the original.
    """


class TargetRuntimeError(TargetError, RuntimeError):
    """:class:`TargetError` for a ``RuntimeError`` of the target."""


class TargetTypeError(TargetError, TypeError):
    """:class:`TargetError` for a ``TypeError`` of the target."""


class TargetIndexError(TargetError, IndexError):
    """:class:`TargetError` for an ``IndexError`` of the target."""


class TargetKeyError(TargetError, KeyError):
    """:class:`TargetError` for a ``KeyError`` of the target."""

    def __str__(self) -> str:  # KeyError quotes its message
        return str(self.args[0]) if self.args else ""


class TargetAttributeError(TargetError, AttributeError):
    """:class:`TargetError` for an ``AttributeError`` of the target."""


class TargetAssertionError(TargetError, AssertionError):
    """:class:`TargetError` for an ``AssertionError`` of the target."""


_TARGET_ERRORS: tuple[tuple[type[BaseException], type[TargetError]], ...] = (
    (RuntimeError, TargetRuntimeError),
    (TypeError, TargetTypeError),
    (IndexError, TargetIndexError),
    (KeyError, TargetKeyError),
    (AttributeError, TargetAttributeError),
    (AssertionError, TargetAssertionError),
    (ValueError, TargetError),
)


def target_error(err: BaseException, message: str) -> TargetError | None:
    """The :class:`TargetError` to raise for ``err`` raised by a target, or ``None`` to let ``err`` through.

    Errors of hypernet itself and running out of memory are not wrapped.
    """
    import torch

    if isinstance(err, (HypernetError, torch.OutOfMemoryError)):
        return None
    for base, cls in _TARGET_ERRORS:
        if isinstance(err, base):
            return cls(message)
    return None


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
