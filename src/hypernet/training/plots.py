"""PNG plots of a run's curves (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

Series = Mapping[str, Sequence[tuple[int, float]]]


def plot_curves(path: str | Path, series: Series, title: str, ylabel: str, log_y: bool = False) -> Path | None:
    """Plot ``{name: [(step, value), ...]}`` against the step into ``path``; nothing (``None``) if every series is empty.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "loss.png"
        >>> plot_curves(out, {"train/loss": [(1, 1.0), (2, 0.5)]}, "loss", "loss").name
        'loss.png'
    """
    series = {k: v for k, v in series.items() if v}
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, points in sorted(series.items()):
        steps, values = zip(*points, strict=True)
        ax.plot(steps, values, label=name, marker="o" if len(points) < 30 else None, markersize=3)
    positive = all(v > 0 for points in series.values() for _, v in points)
    ax.set(xlabel="step", ylabel=ylabel, title=title, yscale="log" if log_y and positive else "linear")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
