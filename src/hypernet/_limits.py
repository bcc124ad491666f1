"""Refuse allocations that cannot fit in memory with a ConfigError, before the allocator fails.

Example:
    >>> check_allocation(10, "Embedding(num=..., dim=...)", "use fewer tasks")
    >>> try:
    ...     check_allocation(10**15, "Embedding(num=..., dim=...)", "use fewer tasks")
    ... except ValueError as e:
    ...     print(str(e)[:40])
    expected Embedding(num=..., dim=...) to
"""

from __future__ import annotations

import functools
import os

from .errors import ConfigError, HypernetError


@functools.cache
def memory_bytes() -> int:
    """Physical memory of this machine (a large default where the OS does not say); read once."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 40


def check_allocation(numel: int, what: str, hint: str, element_size: int = 4, error: type[HypernetError] = ConfigError) -> None:
    """Raise ``error`` when ``numel`` elements of ``element_size`` bytes exceed the machine's memory."""
    need = numel * element_size
    have = memory_bytes()
    if need > have:
        raise error(f"expected {what} to fit in memory ({have / 2**30:.1f} GiB), got a size needing {need / 2**30:.3g} GiB; {hint}")
