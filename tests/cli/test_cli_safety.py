"""Issue 25 at the command line: locked, recoverable runs; safe --overwrite, --resume and export; config errors exit 2 with one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from hypernet.cli import main
from hypernet.training import list_checkpoints

from ..training.helpers import cli, cli_env, small_config, write_config

# `hypernet train` in a child that writes READY and then sleeps at its first metric row (before its first checkpoint),
# or kills itself there with SIGKILL when the READY path ends in ".kill".
SLOW = """
import os, pathlib, signal, sys, time
from hypernet.training import logger
real = logger.RunLogger.log
def log(self, *args, **kwargs):
    ready = pathlib.Path(os.environ["READY"])
    if not ready.exists():
        ready.write_text(str(os.getpid()))
        if ready.suffix == ".kill":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(120)
    return real(self, *args, **kwargs)
logger.RunLogger.log = log
from hypernet.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _start_slow(config: Path, ready: Path) -> subprocess.Popen[bytes]:
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW, "train", str(config), "--quiet"],
        env={**cli_env(), "READY": str(ready)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while not ready.exists():
        assert time.monotonic() < deadline and (child.poll() is None or ready.suffix == ".kill")
        time.sleep(0.1)
    return child


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- item 1: one writer per run
def test_a_second_process_on_a_live_run_is_refused_with_the_holders_pid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    a = write_config(tmp_path / "a.yaml", small_config(runs, name="shared", seed=0))
    b = write_config(tmp_path / "b.yaml", small_config(runs, name="shared", seed=1))
    child = _start_slow(a, tmp_path / "ready")
    try:
        before = _tree(runs / "shared")
        for flags in (["--overwrite"], ["--resume"], []):
            assert main(["train", str(b), "--quiet", *flags]) == 2
            line = _one_error_line(capsys)
            assert f"in use by process {child.pid}" in line, line
        assert _tree(runs / "shared") == before  # A's directory untouched: same files, same bytes
        assert json.loads((runs / "shared" / "config.json").read_text())["seed"] == 0
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert main(["train", str(b), "--quiet"]) == 0  # the lock died with A; A had no checkpoint, so a plain run reuses the directory
    assert json.loads((runs / "shared" / "config.json").read_text())["seed"] == 1


# ----------------------------------------------------------------------------- item 2: --overwrite deletes only runs
def test_overwrite_refuses_a_directory_that_is_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "x"
    thesis = runs / "victim" / "sub" / "thesis.tex"
    thesis.parent.mkdir(parents=True)
    thesis.write_text("years of work")
    config = write_config(tmp_path / "v.yaml", small_config(runs, name="victim"))
    for flags in (["--overwrite"], []):
        assert main(["train", str(config), "--quiet", *flags]) == 2
        assert "is not a hypernet run" in _one_error_line(capsys)
    assert thesis.read_text() == "years of work" and sorted(p.name for p in (runs / "victim").iterdir()) == ["sub"]
    (runs / "link").symlink_to(runs / "victim")
    assert main(["train", str(write_config(tmp_path / "l.yaml", small_config(runs, name="link"))), "--overwrite", "--quiet"]) == 2
    assert "symbolic link" in _one_error_line(capsys) and thesis.exists()


def test_overwrite_replaces_a_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    config = write_config(tmp_path / "r.yaml", small_config(runs, name="r", train={"epochs": 1}))
    assert main(["train", str(config), "--quiet"]) == 0
    (runs / "r" / "stale.txt").write_text("from the first run")
    assert main(["train", str(config), "--overwrite", "--quiet"]) == 0
    assert not (runs / "r" / "stale.txt").exists() and (runs / "r" / ".hypernet-run").is_file()


# ----------------------------------------------------------------------------- items 3 and 8: config loading
def _alias_bomb(levels: int) -> str:
    lines = ['a0: &a0 ["xxxxxxxx", "xxxxxxxx", "xxxxxxxx", "xxxxxxxx", "xxxxxxxx", "xxxxxxxx", "xxxxxxxx", "xxxxxxxx", "xxxxxxxx"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(["recipe: hypermodel", "model:", "  generator_kwargs:"] + ["    " + line for line in lines]) + "\n"


def _bad_configs(tmp_path: Path) -> list[tuple[str, str | bytes, str]]:
    """(what, file content, text the one error line must contain)."""
    runs = tmp_path / "runs"

    def edit(**sections: Any) -> str:
        return yaml.safe_dump(small_config(runs, name="bad", **sections))

    base = edit()
    (tmp_path / "a-file").write_text("not a directory")
    return [
        ("alias bomb", _alias_bomb(9), "aliases are not supported"),
        ("duplicate key", base + "seed: 3\n", "'seed' twice"),
        ("binary file", b"\x00\x01\x02\xff" * 100, "binary data"),
        ("50 MB file", base + "#" * (50 * 2**20) + "\n", "at most 1048576 bytes"),
        ("batch_size 1e20", edit(train={"batch_size": 1e20}), "'train.batch_size'"),
        ("batch_size 10**20", edit(train={"batch_size": 10**20}), "'train.batch_size'"),
        ("seed -1", edit(seed=-1), "'seed'"),
        ("seed 1e23", edit(seed=1e23), "'seed'"),
        ("seed 10**23", edit(seed=10**23), "'seed'"),
        ("lr 1e300", edit(train={"lr": 1e300}), "'train.lr'"),
        ("lr .inf", base.replace("lr: 0.003", "lr: .inf"), "'train.lr'"),
        ("lr .nan", base.replace("lr: 0.003", "lr: .nan"), "'train.lr'"),
        ("hidden 1e12", edit(model={"hidden": [10**12]}), "'model.hidden'"),
        ("condition_dim 1e12", edit(model={"condition_dim": 10**12}), "'model.condition_dim'"),
        ("generator_kwargs 1e12", edit(model={"generator_kwargs": {"hidden": [10**12]}}), "'model.generator_kwargs'"),
        ("generator_kwargs unknown", edit(model={"generator_kwargs": {"colour": 3}}), "'model.generator_kwargs'"),
        ("name of 300 characters", yaml.safe_dump(small_config(runs, name="n" * 300)), "'name'"),
        ("runs_dir a file", yaml.safe_dump({**small_config(runs, name="bad"), "runs_dir": str(tmp_path / "a-file")}), "'runs_dir'"),
        ("runs_dir unwritable", yaml.safe_dump({**small_config(runs, name="bad"), "runs_dir": "/proc/hypernet-runs"}), "'runs_dir'"),
        ("deep nesting", base + "extra: " + "[" * 200 + "]" * 200 + "\n", "nested more than"),
    ]


def test_every_config_error_exits_2_with_one_line_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for what, content, expected in _bad_configs(tmp_path):
        path = tmp_path / "bad.yaml"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        started = time.monotonic()
        assert main(["train", str(path), "--quiet"]) == 2, what
        line = _one_error_line(capsys)
        assert expected in line, (what, line)
        assert time.monotonic() - started < 30, what
        assert not (tmp_path / "runs" / "bad").exists(), what  # a failed start leaves no run directory


def test_binary_config_through_the_real_command(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    done = subprocess.run(cli("train", str(path)), capture_output=True, text=True, env=cli_env(), check=False)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "binary data" in done.stderr


# ----------------------------------------------------------------------------- item 4: process count on resume
def test_resuming_a_two_process_run_with_one_process_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    config = write_config(tmp_path / "w.yaml", small_config(runs, name="w", train={"epochs": 1}))
    assert main(["train", str(config), "--quiet"]) == 0
    for path in list_checkpoints(runs / "w" / "checkpoints"):  # as if written by 2 processes (the JSON is not in the sha256)
        meta = json.loads(path.read_text())
        for kind in ("rng", "epoch_rng"):
            meta["extra"][kind] = meta["extra"][kind] * 2
        path.write_text(json.dumps(meta))
    before = _tree(runs / "w")
    assert main(["train", str(config), "--resume", "--quiet"]) == 2
    line = _one_error_line(capsys)
    assert "with 1 process: its checkpoints were written by 2" in line and "--nproc_per_node=2" in line
    assert _tree(runs / "w") == before


# ----------------------------------------------------------------------------- item 5: --resume with another config
@pytest.mark.parametrize(
    ("change", "key"), [({"model": {"hidden": [32]}}, "model.hidden"), ({"train": {"lr": 0.01}}, "train.lr"), ({"seed": 4}, "seed")]
)
def test_resume_with_a_different_config_is_refused_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], key: str
) -> None:
    runs = tmp_path / "runs"
    config = write_config(tmp_path / "c.yaml", small_config(runs, name="c", train={"epochs": 1}))
    assert main(["train", str(config), "--quiet"]) == 0
    before = _tree(runs / "c")
    write_config(config, small_config(runs, name="c", **{"train": {"epochs": 1}, **change}))
    assert main(["train", str(config), "--resume", "--quiet"]) == 2
    line = _one_error_line(capsys)
    assert f"differs from the run's in {key} (" in line and "train.epochs" in line  # names the key, lists what may change
    assert _tree(runs / "c") == before  # config.json still describes the checkpoints
    assert main(["eval", str(runs / "c")]) == 0


def test_resume_may_change_epochs(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    config = write_config(tmp_path / "e.yaml", small_config(runs, name="e", train={"epochs": 1}))
    assert main(["train", str(config), "--quiet"]) == 0
    write_config(config, small_config(runs, name="e", train={"epochs": 2, "log_every": 2}))
    assert main(["train", str(config), "--resume", "--quiet"]) == 0
    summary = json.loads((runs / "e" / "summary.json").read_text())
    assert summary["epochs"] == 2 and json.loads((runs / "e" / "config.json").read_text())["train"]["epochs"] == 2


# ----------------------------------------------------------------------------- item 9: no dead end after a failed start
def test_a_failed_start_and_a_kill_before_the_first_checkpoint_leave_a_reusable_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    typo = write_config(tmp_path / "typo.yaml", small_config(runs, name="typo", model={"generator_kwargs": {"hiden": [8]}}))
    assert main(["train", str(typo), "--quiet"]) == 2
    assert "'model.generator_kwargs'" in _one_error_line(capsys)
    assert not (runs / "typo").exists()
    fixed = write_config(typo, small_config(runs, name="typo", train={"epochs": 1}))
    child = _start_slow(fixed, tmp_path / "ready.kill")
    assert child.wait() == -signal.SIGKILL
    assert (runs / "typo" / "config.json").is_file() and not list_checkpoints(runs / "typo" / "checkpoints")
    assert main(["train", str(fixed), "--resume", "--quiet"]) == 2
    assert "train without --resume" in _one_error_line(capsys)
    assert main(["train", str(fixed), "--quiet"]) == 0  # no checkpoint, nothing to lose: a plain run reuses it
    assert list_checkpoints(runs / "typo" / "checkpoints")


# ----------------------------------------------------------------------------- item 10: export
def test_export_refuses_bad_out_and_cond_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    assert main(["train", str(write_config(tmp_path / "x.yaml", small_config(runs, name="x", train={"epochs": 1}))), "--quiet"]) == 0
    newest = list_checkpoints(runs / "x" / "checkpoints")[-1].with_suffix(".safetensors")
    before = newest.read_bytes()
    (tmp_path / "adir.safetensors").mkdir()
    cases = [
        (["--cond", "1", "--out", str(newest)], "checkpoints/ directory"),
        (["--cond", "1", "--out", str(runs / "x" / "checkpoints" / "new.safetensors")], "checkpoints/ directory"),
        (["--cond", "²", "--out", str(tmp_path / "a.safetensors")], "expected --cond to be a task id"),
        (["--cond", "1", "--out", str(tmp_path / "adir.safetensors")], "got the directory"),
        (["--cond", "1", "--out", str(tmp_path / "missing" / "a.safetensors")], "does not exist"),
        (["--cond", "1", "--out", "/proc/a.safetensors"], "cannot write --out"),
    ]
    for flags, expected in cases:
        assert main(["export", str(runs / "x"), *flags]) == 2, flags
        assert expected in _one_error_line(capsys), flags
    assert newest.read_bytes() == before
    assert main(["export", str(runs / "x"), "--cond", "1", "--out", str(tmp_path / "ok.safetensors")]) == 0
    assert os.path.getsize(tmp_path / "ok.safetensors") > 0


def test_duplicate_keys_in_json_and_non_finite_json_numbers_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = json.dumps(small_config(tmp_path / "runs", name="j"))[:-1]
    for text, expected in [(body + ', "seed": 1, "seed": 2}', "'seed' twice"), (body + ', "seed": NaN}', "NaN")]:
        path = tmp_path / "j.json"
        path.write_text(text)
        assert main(["train", str(path), "--quiet"]) == 2
        assert expected in _one_error_line(capsys)
    assert not (tmp_path / "runs" / "j").exists()
