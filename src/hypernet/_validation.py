"""Argument checks shared by every module: one wording for "expected ..., got ..." errors.

Each check returns the value (as an ``int`` / ``float``) or raises ``error`` (default
:class:`~hypernet.ConfigError`) saying what was expected, what was got and, through
``owner``, where (``Embedding(num=...)``). ``bool`` is never accepted as a number.

Example:
    >>> check_int(3, "dim", low=1, owner="Embedding")
    3
    >>> check_int(0, "dim", low=1, owner="Embedding")
    Traceback (most recent call last):
    ...
    hypernet.errors.ConfigError: expected Embedding(dim=...) to be a positive int, got 0; pass a positive int
    >>> check_float(0.5, "lr", low=0, low_open=True)
    0.5
    >>> check_choice("mean", "likelihood", ("mean", "mixture"))
    'mean'
    >>> check_bool(True, "approximate", owner="Hypencoder.search")
    True
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError, HypernetError, describe

T = TypeVar("T")


def _where(name: str, owner: str | None) -> str:
    return f"{owner}({name}=...)" if owner else name


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high}")
    return " and ".join(parts)


def is_int(value: Any) -> bool:
    """An ``int`` (or NumPy integer), not a ``bool``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite real number (int or float, not ``bool``)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


def check_int(
    value: Any,
    name: str,
    *,
    low: int | None = None,
    high: int | None = None,
    owner: str | None = None,
    optional: bool = False,
    error: type[HypernetError] = ConfigError,
    hint: str = "",
    kind: str | None = None,
) -> Any:
    """``value`` as an ``int`` in ``[low, high]`` (``None`` allowed when ``optional``), else ``error`` (``hint``: how to fix)."""
    if optional and value is None:
        return None
    ok = is_int(value) and (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        if kind is not None:
            pass
        elif low == 1 and high is None:
            kind = "a positive int"
        else:
            limits = _bounds(low, high, False, False)
            kind = f"an int{' ' + limits if limits else ''}"
        none = "None or " if optional else ""
        raise error(f"expected {_where(name, owner)} to be {none}{kind}, got {value!r}; {hint or 'pass ' + none + kind}")
    return int(value)


def check_float(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    owner: str | None = None,
    optional: bool = False,
    error: type[HypernetError] = ConfigError,
    kind: str | None = None,
) -> Any:
    """``value`` as a finite ``float`` between ``low`` and ``high`` (open ends with ``*_open``), else ``error``."""
    if optional and value is None:
        return None
    ok = is_number(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        if kind is not None:
            pass
        elif low == 0 and low_open and high is None:
            kind = "a positive number"
        else:
            limits = _bounds(low, high, low_open, high_open)
            kind = f"a finite number{' ' + limits if limits else ''}"
        none = "None or " if optional else ""
        raise error(f"expected {_where(name, owner)} to be {none}{kind}, got {value!r}; pass {none}{kind}")
    return float(value)


def check_bool(value: Any, name: str, *, owner: str | None = None, error: type[HypernetError] = ConfigError) -> bool:
    """``value`` if it is a ``bool`` (not ``0`` / ``1`` / ``"yes"``), else ``error``."""
    if not isinstance(value, bool):
        raise error(f"expected {_where(name, owner)} to be True or False, got {describe(value)}; pass True or False")
    return value


def check_choice(value: T, name: str, choices: Sequence[Any], *, owner: str | None = None, error: type[HypernetError] = ConfigError) -> T:
    """``value`` if it is one of ``choices``, else ``error`` listing them."""
    if not any(value == c and type(value) is type(c) for c in choices):
        raise error(f"expected {_where(name, owner)} in {tuple(choices)}, got {value!r}; pass one of them")
    return value


def check_path(value: Any, name: str = "path", *, owner: str | None = None, error: type[HypernetError] = ConfigError) -> Path:
    """``value`` (a non-empty ``str`` or ``os.PathLike``) as a :class:`~pathlib.Path`, else ``error``."""
    if isinstance(value, (str, os.PathLike)) and os.fspath(value) != "":
        return Path(value)
    raise error(f"expected {_where(name, owner)} to be a file path (str or pathlib.Path), got {describe(value)}; pass a path")
