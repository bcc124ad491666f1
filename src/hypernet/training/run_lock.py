"""One writer per run directory: an OS file lock beside it.

``run_lock(run_dir)`` takes an exclusive ``flock`` on ``<parent>/.<name>.lock`` (not inside
the run directory, so ``--overwrite`` can delete and recreate the directory while holding
it). The operating system releases the lock when the process ends, also on ``kill -9``, so
a crashed run never leaves a stale lock. A second writer gets :class:`RunLockedError`
(exit code 2 from the CLI) naming the process that holds it. The lock is re-entrant within
one process (``hypernet train`` holds it, and :func:`~hypernet.training.fit` takes it again).

Example:
    >>> import tempfile, pathlib
    >>> run = pathlib.Path(tempfile.mkdtemp()) / "demo"
    >>> with run_lock(run):
    ...     holder(run) == os.getpid()
    True
    >>> holder(run) is None
    True
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from .errors import UsageError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock
    fcntl = None  # type: ignore[assignment]


class RunLockedError(UsageError):
    """Another process is writing this run directory."""


_held: dict[Path, list[int]] = {}  # lock file -> [fd, depth]
_guard = threading.Lock()


def lock_path(run_dir: str | Path) -> Path:
    """``<parent>/.<name>.lock``: the lock file of a run directory."""
    run_dir = Path(run_dir).absolute()
    return run_dir.with_name(f".{run_dir.name}.lock")


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def holder(run_dir: str | Path) -> int | None:
    """The pid of the process holding ``run_dir``'s lock, or ``None`` if it is free."""
    path = lock_path(run_dir)
    if fcntl is None or not path.is_file():  # pragma: no cover - Windows
        return None
    with _guard:
        if path in _held:
            return os.getpid()
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_pid(path) or -1
    finally:
        os.close(fd)  # closing drops the shared lock we may have taken
    return None


@contextlib.contextmanager
def run_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold the exclusive lock of ``run_dir`` for the ``with`` block.

    Raises:
        RunLockedError: another process holds it (the message gives its pid).
    """
    path = lock_path(run_dir)
    with _guard:
        if path in _held:
            _held[path][1] += 1
            fd = -1
        else:
            fd = _acquire(path, Path(run_dir))
            _held[path] = [fd, 1]
    try:
        yield
    finally:
        with _guard:
            _held[path][1] -= 1
            if _held[path][1] == 0:
                fd = _held.pop(path)[0]
                if fd >= 0:
                    os.ftruncate(fd, 0)
                    os.close(fd)  # releases the flock


def _acquire(path: Path, run_dir: Path) -> int:
    if fcntl is None:  # pragma: no cover - Windows
        return -1
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UsageError(
            f"expected to create the lock file {path} of run {run_dir}, got {exc.strerror}; check that runs_dir is a writable directory"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        pid = _read_pid(path)
        who = f"process {pid}" if pid else "another process"
        raise RunLockedError(
            f"expected run {run_dir} to be free, got it in use by {who} (lock {path}); "
            "wait for it to finish, stop it, or change `name:` in the config"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
