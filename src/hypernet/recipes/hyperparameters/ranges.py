"""Hyperparameter ranges (``hn.Uniform``, ``hn.LogUniform``) and a named space of them.

A sweep conditions its hypernetwork on hyperparameters mapped to the unit cube: a
:class:`LogUniform` value ``v`` becomes ``(log v - log low) / (log high - log low)``, a
:class:`Uniform` one ``(v - low) / (high - low)``. The unit cube is what the MIP input
encoding ``[x, 1 - x]`` expects (Ortiz et al. 2023).

Example:
    >>> import torch
    >>> space = HyperparameterSpace({"l2": LogUniform(1e-5, 1e-1), "smoothing": Uniform(0.0, 0.3)})
    >>> u = space.to_unit({"l2": 1e-3, "smoothing": 0.15})
    >>> [round(float(v), 3) for v in u]
    [0.5, 0.5]
    >>> {k: round(float(v), 5) for k, v in space.from_unit(u).items()}
    {'l2': 0.001, 'smoothing': 0.15}
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from ..._boundary import guarded
from ..._validation import check_int, is_number
from ...errors import ConditionError, ConfigError, describe

__all__ = ["HyperparameterSpace", "LogUniform", "Range", "Uniform"]

MAX_POINTS = 1_000_000  # a grid evaluated point by point: more is a typo, not a sweep


def _number(value: Any) -> bool:
    return is_number(value)


@guarded()
class Range:
    """A closed interval ``[low, high]`` of one real hyperparameter, with a map to ``[0, 1]``.

    ``p_low``: the probability with which a sweep draws exactly ``low`` (the rest of the time
    it draws from the whole interval). Use it when ``low`` means "off" (no label smoothing, no
    dropout) and may well be the best value: an end of the interval has neighbours on one side
    only, so uniform draws leave a hypernetwork's curve there the least trained.
    """

    log: bool = False

    def __init__(self, low: float, high: float, *, p_low: float = 0.0) -> None:
        name = type(self).__name__
        if not (_number(low) and _number(high)) or not low < high:
            raise ConfigError(
                f"expected {name}(low, high) with finite numbers low < high, got low={low!r}, high={high!r}; pass e.g. {name}(0.0, 1.0)"
            )
        if self.log and low <= 0:
            raise ConfigError(f"expected {name}(low, high) with 0 < low (a log scale), got low={low!r}; use hn.Uniform to include 0")
        if not _number(p_low) or not 0 <= p_low < 1:
            raise ConfigError(f"expected p_low (the probability of drawing exactly low) in [0, 1), got {p_low!r}; pass e.g. p_low=0.0")
        self.low = float(low)
        self.high = float(high)
        self.p_low = float(p_low)

    def __repr__(self) -> str:
        extra = f", p_low={self.p_low:g}" if self.p_low else ""
        return f"{type(self).__name__}({self.low:g}, {self.high:g}{extra})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and (self.low, self.high, self.p_low) == (other.low, other.high, other.p_low)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.low, self.high, self.p_low))

    def _lo_hi(self) -> tuple[float, float]:
        return (math.log(self.low), math.log(self.high)) if self.log else (self.low, self.high)

    def to_unit(self, value: torch.Tensor) -> torch.Tensor:
        """Map values in ``[low, high]`` to ``[0, 1]`` (elementwise)."""
        lo, hi = self._lo_hi()
        v = value.log() if self.log else value
        return (v - lo) / (hi - lo)

    def from_unit(self, unit: torch.Tensor) -> torch.Tensor:
        """Map ``[0, 1]`` back to ``[low, high]`` (elementwise); differentiable."""
        lo, hi = self._lo_hi()
        v = lo + unit * (hi - lo)
        return v.exp() if self.log else v

    def grid(self, num: int) -> list[float]:
        """``num`` values evenly spaced on this range's scale (log-spaced for :class:`LogUniform`), ends included."""
        check_int(num, "the grid size", low=1)
        unit = torch.linspace(0, 1, num, dtype=torch.float64) if num > 1 else torch.tensor([0.5], dtype=torch.float64)
        return [float(v) for v in self.from_unit(unit)]

    def contains(self, value: float) -> bool:
        """True when ``value`` lies in ``[low, high]`` (with a relative tolerance of 1e-9)."""
        tol = 1e-9 * max(abs(self.low), abs(self.high))
        return self.low - tol <= value <= self.high + tol


class Uniform(Range):
    """A hyperparameter on a linear scale in ``[low, high]`` (label smoothing, dropout rate, a loss weight).

    Example:
        >>> [round(v, 6) for v in Uniform(0.0, 0.3).grid(4)]
        [0.0, 0.1, 0.2, 0.3]
    """


class LogUniform(Range):
    """A hyperparameter on a log scale in ``[low, high]``, ``0 < low`` (an L2 strength, a learning rate).

    Example:
        >>> [f"{v:.0e}" for v in LogUniform(1e-5, 1e-1).grid(5)]
        ['1e-05', '1e-04', '1e-03', '1e-02', '1e-01']
    """

    log = True


@guarded()
class HyperparameterSpace(Mapping[str, Range]):
    """Named ranges; hyperparameter values as dicts (or one float for a 1-d space) <-> unit-cube tensors.

    Args:
        ranges: ``{"name": hn.LogUniform(...), ...}``, or one :class:`Range` (then named ``"hp"``).
    """

    def __init__(self, ranges: Mapping[str, Range] | Range) -> None:
        if isinstance(ranges, Range):
            ranges = {"hp": ranges}
        if not isinstance(ranges, Mapping) or not ranges:
            raise ConfigError(
                f"expected the space as a non-empty dict of name -> hn.Uniform / hn.LogUniform, got {describe(ranges)}; "
                'pass e.g. {"l2": hn.LogUniform(1e-5, 1e-1)}'
            )
        for name, rng in ranges.items():
            if not isinstance(name, str) or not name:
                raise ConfigError(f"expected hyperparameter names to be non-empty strings, got {name!r}; pass names such as 'lr'")
            if not isinstance(rng, Range):
                raise ConfigError(
                    f"expected hyperparameter {name!r} to be hn.Uniform(low, high) or hn.LogUniform(low, high), got {describe(rng)}; "
                    f"pass e.g. {{{name!r}: hn.Uniform(0.0, 1.0)}}"
                )
        self._ranges: dict[str, Range] = dict(ranges)

    def __getitem__(self, name: str) -> Range:
        return self._ranges[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ranges)

    def __len__(self) -> int:
        return len(self._ranges)

    def __repr__(self) -> str:
        return f"HyperparameterSpace({self._ranges!r})"

    @property
    def names(self) -> list[str]:
        """Hyperparameter names, in the order of the unit vector's coordinates."""
        return list(self._ranges)

    def check(self, hp: Any) -> dict[str, float]:
        """Validate one point given as a dict ``{name: value}`` (or a float for a 1-d space) and return it as a dict."""
        if _number(hp) and len(self) == 1:
            hp = {self.names[0]: hp}
        if isinstance(hp, torch.Tensor) and hp.numel() == 1 and len(self) == 1:
            hp = {self.names[0]: float(hp)}
        if not isinstance(hp, Mapping):
            example = ", ".join(f"{n!r}: ..." for n in self.names)
            raise ConditionError(f"expected hyperparameters as a dict {{{example}}}, got {describe(hp)}; pass one value per hyperparameter")
        if set(hp) != set(self._ranges):
            raise ConditionError(f"expected values for exactly {self.names}, got {sorted(hp)}; give one value per hyperparameter")
        out = {}
        for name, rng in self._ranges.items():
            value = hp[name]
            value = float(value) if isinstance(value, torch.Tensor) and value.numel() == 1 else value
            if not _number(value) or not rng.contains(float(value)):
                raise ConditionError(
                    f"expected {name} in [{rng.low:g}, {rng.high:g}] ({rng!r}), got {value!r}; pick a value inside the range"
                )
            out[name] = float(value)
        return out

    def to_unit(self, hp: Any, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """One point -> its ``(D,)`` unit-cube vector (D = number of hyperparameters)."""
        values = self.check(hp)
        unit = [self._ranges[n].to_unit(torch.tensor(values[n], dtype=torch.float64)) for n in self.names]
        return torch.stack(unit).clamp(0, 1).to(device=device, dtype=dtype)

    def from_unit(self, unit: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(..., D)`` unit-cube tensors -> ``{name: (...) tensor}`` of hyperparameter values (differentiable)."""
        if unit.shape[-1] != len(self):
            raise ConditionError(
                f"expected unit vectors with a last dim of {len(self)} ({self.names}), got {describe(unit)}; pass space.to_unit(hp)"
            )
        return {n: rng.from_unit(unit[..., i]) for i, (n, rng) in enumerate(self._ranges.items())}

    def points(self, values: Any) -> list[dict[str, float]]:
        """Points to evaluate: an int ``n`` (an n-point grid per hyperparameter, all combinations), a list of
        floats (1-d space), a list of dicts, or a dict of equal-length lists."""
        if isinstance(values, int) and not isinstance(values, bool):
            if values >= 1 and values ** len(self) > MAX_POINTS:
                raise ConfigError(
                    f"expected a grid of at most {MAX_POINTS:,} points, got {values}^{len(self)}; pass a smaller n or a list of points"
                )
            grids = [self._ranges[n].grid(values) for n in self.names]
            combos: list[list[float]] = [[]]
            for g in grids:
                combos = [[*c, v] for c in combos for v in g]
            return [dict(zip(self.names, c, strict=True)) for c in combos]
        if isinstance(values, torch.Tensor):
            values = values.tolist()
        if isinstance(values, Mapping):
            lengths = {len(v) for v in values.values() if isinstance(v, Sequence)}
            if len(lengths) != 1 or not all(isinstance(v, Sequence) for v in values.values()):
                raise ConditionError(
                    f"expected a dict of equal-length lists of values, got {describe(values)}; pass e.g. {{'lr': [0.01, 0.1]}}"
                )
            n = lengths.pop()
            return [self.check({k: v[i] for k, v in values.items()}) for i in range(n)]
        if isinstance(values, Sequence) and not isinstance(values, str) and len(values) > 0:
            return [self.check(v) for v in values]
        raise ConditionError(
            f"expected values as an int (grid size), a list of floats / dicts or a dict of lists, got {describe(values)}; "
            "pass e.g. 20 or [1e-4, 1e-3, 1e-2]"
        )
