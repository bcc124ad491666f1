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
    a shape mismatch stays a ``RuntimeError``, caught by ``except RuntimeError``), and chains the original.
    """


class CallError(HypernetError):
    """A public method failed inside on arguments it did not check (also an instance of the original type)."""


_WRAPPED = (RuntimeError, TypeError, IndexError, KeyError, AttributeError, AssertionError, NotImplementedError, ValueError)


def _subclass(family: type[HypernetError], base: type[BaseException]) -> type[HypernetError]:
    if base is ValueError:  # HypernetError is a ValueError already
        return family
    name = f"{family.__name__[: -len('Error')]}{base.__name__}"
    body: dict[str, object] = {"__module__": __name__, "__doc__": f":class:`{family.__name__}` for a ``{base.__name__}``."}
    if base is KeyError:  # KeyError quotes its message
        body["__str__"] = lambda self: str(self.args[0]) if self.args else ""
    cls = type(name, (family, base), body)
    globals()[name] = cls  # importable by name: the error pickles (multiprocessing, torchrun)
    return cls


_FAMILIES: dict[type[HypernetError], dict[type[BaseException], type[HypernetError]]] = {
    family: {base: _subclass(family, base) for base in _WRAPPED} for family in (TargetError, CallError)
}


def wrap_error(err: BaseException, message: str, family: type[HypernetError] = TargetError) -> HypernetError | None:
    """The ``family`` error to raise for ``err``, also an instance of ``err``'s type; ``None`` to let ``err`` through.

    Only plain built-in errors are wrapped (``RuntimeError``, ``TypeError``, ...): hypernet's own,
    a library's own subclasses (scikit-learn's ``NotFittedError``) and running out of memory pass through.
    """
    base = type(err)
    if base not in _FAMILIES[family]:
        return None
    return _FAMILIES[family][base](message)


def target_error(err: BaseException, message: str) -> HypernetError | None:
    """:func:`wrap_error` for an error the target raised."""
    return wrap_error(err, message, TargetError)


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
