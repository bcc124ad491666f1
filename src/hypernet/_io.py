"""Atomic file writes: write a temporary file in the same directory, fsync it, rename it over the target.

A reader sees either the old complete file or the new complete file, never a partial
one, even if the process is killed (``kill -9``) or the machine loses power mid-write.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write_bytes(path, b"hello")
    >>> path.read_bytes()
    b'hello'
"""

from __future__ import annotations

import os
from pathlib import Path

TMP_MARK = ".tmp-"


def temp_name(path: Path) -> Path:
    """The temporary sibling of ``path`` used while it is being written (ignored by every reader)."""
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")


def fsync_dir(directory: Path) -> None:
    """Make a rename inside ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename, fsync of the directory)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))
