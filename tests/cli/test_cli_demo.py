"""The README's main job and the command line."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from hypernet.cli import main
from hypernet.cli.demo import run_demo


def test_demo_trains_both_models_and_writes_its_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = run_demo(tmp_path, epochs=15, seed=0)
    out = capsys.readouterr().out
    assert "task-conditioned" in out and "compression" in out and "test accuracy per task" in out
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    with (tmp_path / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10
    conditioned = results["task-conditioned"]
    assert min(conditioned.accuracy) > 0.9, conditioned.accuracy
    assert conditioned.losses[-1] < conditioned.losses[0]


def test_cli_demo_entry_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--epochs", "1", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "demo.png").exists()


def test_python_dash_m_help() -> None:
    done = subprocess.run([sys.executable, "-m", "hypernet", "demo", "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "--epochs" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "hypernet", "no-such-command"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
