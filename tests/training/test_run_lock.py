"""The run-directory lock (issue 25, item 1): one writer at a time, released when the holder dies, even by kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from hypernet.training import fit
from hypernet.training.errors import UsageError
from hypernet.training.run_lock import RunLockedError, holder, lock_path, run_lock

from .helpers import cli_env

HOLD = """
import sys, time, pathlib
from hypernet.training.run_lock import run_lock
with run_lock(sys.argv[1]):
    pathlib.Path(sys.argv[2]).write_text("held")
    time.sleep(120)
"""


def _hold_in_child(run: Path, ready: Path) -> subprocess.Popen[bytes]:
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(run), str(ready)], env=cli_env())
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    return child


def test_second_holder_is_refused_with_the_pid_and_a_kill_releases_the_lock(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r"
    child = _hold_in_child(run, tmp_path / "ready")
    try:
        assert holder(run) == child.pid
        with pytest.raises(RunLockedError, match=f"process {child.pid}"), run_lock(run):
            pass  # pragma: no cover - never reached
        net = nn.Linear(2, 1)
        data = [(torch.randn(4, 2),)]
        with pytest.raises(RunLockedError):
            fit(net, lambda m, b: m(b[0]).sum(), data, torch.optim.SGD(net.parameters(), lr=0.1), run_dir=run, progress=False)
        assert not run.exists()  # the refused fit wrote nothing
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert holder(run) is None  # the kernel released the dead holder's lock
    with run_lock(run):
        assert holder(run) == os.getpid()
        with run_lock(run):  # re-entrant in one process
            pass
        assert holder(run) == os.getpid()
    assert holder(run) is None and lock_path(run) == tmp_path / "runs" / ".r.lock"


def test_lock_file_in_an_unwritable_place_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="writable directory"), run_lock(tmp_path / "file" / "run"):
        pass  # pragma: no cover - never reached
