"""kill -9 in the middle of a checkpoint write, then resume: the run finishes as if never interrupted."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import torch

from hypernet.cli import main
from hypernet.training import list_checkpoints, load_checkpoint

from .helpers import cli_env, losses_text, small_config, write_config

# Runs `hypernet train` in a child whose os.fsync, on the 3rd checkpoint tensor file, cuts the
# half-written temporary file in half and SIGKILLs the process: a crash inside the real write path.
CRASHER = """
import os, signal, sys
real_fsync, seen = os.fsync, []
def fsync(fd):
    name = os.readlink(f"/proc/self/fd/{fd}")
    if ".safetensors.tmp-" in name:
        seen.append(name)
        if len(seen) == 3:
            os.ftruncate(fd, os.fstat(fd).st_size // 2)
            os.kill(os.getpid(), signal.SIGKILL)
    return real_fsync(fd)
os.fsync = fsync
from hypernet.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill_during_checkpoint_write_then_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    train = {"epochs": 3, "checkpoint_every": 4, "keep_last": 5}
    reference = write_config(tmp_path / "ref.yaml", small_config(runs, name="ref", train=train))
    crashed = write_config(tmp_path / "crash.yaml", small_config(runs, name="crash", train=train))
    assert main(["train", str(reference), "--quiet"]) == 0

    done = subprocess.run(
        [sys.executable, "-c", CRASHER, "train", str(crashed), "--quiet"], env=cli_env(), capture_output=True, check=False
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    ckpt_dir = runs / "crash" / "checkpoints"
    leftovers = [p.name for p in ckpt_dir.iterdir() if ".tmp-" in p.name]
    assert leftovers == [f".step-00000012.safetensors.tmp-{leftovers[0].rsplit('-', 1)[1]}"]  # the half-written third one
    assert [p.name for p in list_checkpoints(ckpt_dir)] == ["step-00000004.json", "step-00000008.json"]
    last = load_checkpoint(ckpt_dir)  # the last complete checkpoint loads
    assert last.step == 8
    assert len(losses_text(runs / "crash")) >= 12  # the killed run had logged past its last checkpoint

    assert main(["train", str(crashed), "--resume", "--quiet"]) == 0
    assert losses_text(runs / "crash") == losses_text(runs / "ref")  # bitwise: the same decimal repr of every float
    assert not [p for p in ckpt_dir.iterdir() if ".tmp-" in p.name]  # leftovers cleaned
    ref_state, state = load_checkpoint(runs / "ref" / "checkpoints").model_state(), load_checkpoint(ckpt_dir).model_state()
    assert ref_state.keys() == state.keys() and all(torch.equal(ref_state[k], state[k]) for k in state)
