"""Checks of what users pass to :class:`FederatedHypernet`: clients' data in its accepted forms, sizes, ids.

Example:
    >>> import torch
    >>> x, y = torch.randn(6, 2), torch.tensor([0, 1, 0, 1, 0, 1])
    >>> [c.num_train for c in as_clients([(x, y, x[:2], y[:2]), {"x_train": x[:4], "y_train": y[:4], "x_test": x, "y_test": y}])]
    [6, 4]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import ConfigError, describe
from ._partition import ClientData

FIX = (
    "give each client as a ClientData (e.g. ClientData.from_arrays(x_train, y_train, x_test, y_test)), "
    "a tuple (x_train, y_train, x_test, y_test) or (x_train, y_train, x_val, y_val, x_test, y_test), "
    "or a mapping with keys x_train, y_train, x_test, y_test (and optionally x_val, y_val)"
)
KEYS = ("x_train", "y_train", "x_test", "y_test")


def as_client(data: Any, i: int) -> ClientData:
    """Client ``i``'s data as a :class:`ClientData` (see :data:`FIX` for the accepted forms)."""
    if isinstance(data, ClientData):
        return data
    try:
        if isinstance(data, Mapping):
            missing = [k for k in KEYS if k not in data]
            unknown = sorted(set(map(str, data)) - {*KEYS, "x_val", "y_val"})
            if missing or unknown:
                raise ConfigError(
                    f"expected client {i} as a mapping with keys {', '.join(KEYS)} (and optionally x_val, y_val), "
                    f"got keys {sorted(map(str, data))}; {FIX}"
                )
            x_tr, y_tr, x_te, y_te = (data[k] for k in KEYS)
            return ClientData.from_arrays(x_tr, y_tr, x_te, y_te, x_val=data.get("x_val"), y_val=data.get("y_val"))
        if isinstance(data, (tuple, list)) and len(data) == 4:
            return ClientData.from_arrays(*data)
        if isinstance(data, (tuple, list)) and len(data) == 6:
            x_tr, y_tr, x_va, y_va, x_te, y_te = data
            return ClientData.from_arrays(x_tr, y_tr, x_te, y_te, x_val=x_va, y_val=y_va)
    except ConfigError as error:
        raise ConfigError(f"client {i}: {error} (building its ClientData.from_arrays)") from None
    what = f"a {type(data).__name__} of {len(data)} items" if isinstance(data, (tuple, list)) else describe(data)
    raise ConfigError(f"expected client {i}'s data as a ClientData, got {what}; {FIX}")


def as_clients(clients: Any) -> list[ClientData]:
    """A non-empty sequence of clients' data as a list of :class:`ClientData`."""
    if isinstance(clients, (str, bytes, Mapping)) or not isinstance(clients, Sequence):
        raise ConfigError(f"expected a sequence of clients' data (one ClientData per client id), got {describe(clients)}; {FIX}")
    if len(clients) == 0:
        raise ConfigError(f"expected at least one client, got an empty sequence; {FIX}")
    return [as_client(c, i) for i, c in enumerate(clients)]


def positive_int(name: str, value: Any, *, zero: bool = False, hint: str = "") -> int:
    """``value`` if it is an int >= 1 (>= 0 with ``zero``), else :class:`~hypernet.ConfigError`."""
    low = 0 if zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"expected {name} to be an int >= {low}, got {describe(value)}; {hint or f'pass an int >= {low}'}")
    return value


def nonnegative_float(name: str, value: Any) -> float:
    """``value`` as a float if it is a real number >= 0, else :class:`~hypernet.ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigError(f"expected {name} to be a number >= 0, got {describe(value)}; pass a number >= 0")
    return float(value)
