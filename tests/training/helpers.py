"""Small configs and run helpers shared by the training tests."""

from __future__ import annotations

import csv
import os
import socket
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def small_config(runs_dir: Path, name: str = "t", **sections: dict[str, Any]) -> dict[str, Any]:
    """A hypermodel config that trains in about a second: 2 tasks, a small MLP generator."""
    cfg: dict[str, Any] = {
        "recipe": "hypermodel",
        "name": name,
        "seed": 0,
        "runs_dir": str(runs_dir),
        "model": {"condition": "embedding", "condition_dim": 4, "generator": "mlp", "generator_kwargs": {"hidden": [8]}, "hidden": [16]},
        "data": {"pairs": [[0, 1], [2, 3]]},
        "train": {"epochs": 2, "batch_size": 32, "lr": 3e-3, "checkpoint_every": 5, "keep_last": 2},
    }
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    return cfg


def write_config(path: Path, cfg: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def losses_text(run_dir: Path) -> list[str]:
    """The exact ``train/loss`` strings of a run's metrics.csv, in step order."""
    with (run_dir / "metrics.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["metric"] == "train/loss"]
    steps = [int(r["step"]) for r in rows]
    assert steps == list(range(1, len(steps) + 1)), steps
    return [r["value"] for r in rows]


def cli_env() -> dict[str, str]:
    """Environment for CLI subprocesses: this checkout's sources first, no terminal."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "hypernet", *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
