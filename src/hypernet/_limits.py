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

SMALL_BYTES = 1 << 28
"""Allocations up to this size (256 MiB) are never checked: the check reads /proc on every call."""


@functools.cache
def memory_bytes() -> int:
    """Physical memory of this machine (a large default where the OS does not say); read once."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 40


def available_bytes() -> int:
    """Memory available now (``MemAvailable`` of /proc/meminfo), at most the physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return min(int(line.split()[1]) * 1024, memory_bytes())
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        pass
    return memory_bytes()  # pragma: no cover


def check_allocation(numel: int, what: str, hint: str, element_size: int = 4, error: type[HypernetError] = ConfigError) -> None:
    """Raise ``error`` when ``numel`` elements of ``element_size`` bytes exceed the memory available now.

    Checking the memory available (not the machine's total) keeps a huge size from being allocated
    on a machine that other processes share, where the kernel would kill a process to make room.
    """
    need = numel * element_size
    if need <= SMALL_BYTES:
        return
    have = available_bytes()
    if need > have:
        raise error(
            f"expected {what} to fit in memory ({have / 2**30:.1f} GiB available), got a size needing {need / 2**30:.3g} GiB; {hint}"
        )
