"""A run's files: ``metrics.csv``, TensorBoard events (if installed), PNG plots and ``summary.json``.

``metrics.csv`` is in long form, one value per row (``step,epoch,metric,value``), so
recipes can log any metric without changing the header; values are written with
``repr`` and read back bit for bit.

Example:
    >>> import tempfile, pathlib
    >>> run = pathlib.Path(tempfile.mkdtemp())
    >>> log = RunLogger(run, tensorboard=False)
    >>> log.log(1, 0, {"train/loss": 0.5})
    >>> log.finish({"steps": 1})
    >>> sorted(p.name for p in run.iterdir())
    ['loss.png', 'metrics.csv', 'summary.json']
    >>> read_metrics(run / "metrics.csv")["train/loss"]
    [(1, 0.5)]
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._io import atomic_write_text
from .plots import plot_curves

log = logging.getLogger("hypernet")
HEADER = ["step", "epoch", "metric", "value"]
_warned_tensorboard = False


def read_metrics(path: str | Path, max_step: int | None = None) -> dict[str, list[tuple[int, float]]]:
    """``{metric: [(step, value), ...]}`` from a ``metrics.csv`` (rows after ``max_step`` dropped)."""
    out: dict[str, list[tuple[int, float]]] = {}
    for row in _read_rows(Path(path)):
        step = int(row["step"])
        if max_step is None or step <= max_step:
            out.setdefault(row["metric"], []).append((step, float(row["value"])))
    return out


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return [row for row in csv.DictReader(f) if row.get("value") not in (None, "")]


def _open_tensorboard(run_dir: Path, purge_step: int | None) -> Any:
    global _warned_tensorboard
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        if not _warned_tensorboard:
            _warned_tensorboard = True
            log.warning("tensorboard is not installed: writing metrics.csv only (pip install 'hypernet[tensorboard]' for event files)")
        return None
    return SummaryWriter(log_dir=str(run_dir), purge_step=purge_step)


class RunLogger:
    """Writes one run's metrics (rank 0 only under DDP).

    Args:
        run_dir: the run directory (created if needed).
        resume_step: when resuming, rows logged after this step (by the interrupted run) are dropped.
        tensorboard: also write TensorBoard event files when the ``tensorboard`` package is installed.
    """

    def __init__(self, run_dir: str | Path, resume_step: int | None = None, tensorboard: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.run_dir / "metrics.csv"
        kept = [r for r in _read_rows(self.csv_path) if resume_step is not None and int(r["step"]) <= resume_step]
        self.history: dict[str, list[tuple[int, float]]] = {}
        for row in kept:
            self.history.setdefault(row["metric"], []).append((int(row["step"]), float(row["value"])))
        lines = [",".join(HEADER)] + [",".join(r[k] for k in HEADER) for r in kept]
        atomic_write_text(self.csv_path, "\n".join(lines) + "\n")
        self._file = self.csv_path.open("a", newline="")
        self._csv = csv.writer(self._file, lineterminator="\n")
        self._tb = _open_tensorboard(self.run_dir, None if resume_step is None else resume_step + 1) if tensorboard else None

    def log(self, step: int, epoch: int, values: Mapping[str, float]) -> None:
        """Record ``values`` (metric name -> number) at ``step``."""
        for name, value in values.items():
            value = float(value)
            self._csv.writerow([step, epoch, name, repr(value)])
            self.history.setdefault(name, []).append((step, value))
            if self._tb is not None:
                self._tb.add_scalar(name, value, step)
        self._file.flush()

    def finish(self, summary: Mapping[str, Any]) -> None:
        """Close the files, draw ``loss.png`` / ``metrics.png`` and write ``summary.json``."""
        self.close()
        losses = {k: v for k, v in self.history.items() if k.split("/")[-1].endswith("loss")}
        others = {k: v for k, v in self.history.items() if k not in losses and k != "lr"}
        plot_curves(self.run_dir / "loss.png", losses, "loss", "loss", log_y=True)
        plot_curves(self.run_dir / "metrics.png", others, "metrics", "value")
        atomic_write_text(self.run_dir / "summary.json", json.dumps(_finite(summary), indent=2) + "\n")

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
