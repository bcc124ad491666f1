"""The README's main job: a task-conditioned and a static hypernetwork on sklearn digits.

Run it with ``hypernet demo`` (or ``make demo``). Prints a per-task accuracy table,
parameter counts and compression, and writes ``runs/demo/demo.png`` and
``runs/demo/results.csv``.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from .._model import HyperModel
from ..conditions import Embedding, Static
from ..data import DigitsTasks, load_digits_tasks
from ..training.distributed import make_loader
from ..training.loop import fit
from ..training.progress import interactive
from .hypermodel import classification_step


def make_target() -> nn.Module:
    """The plain network whose weights are generated: 64 pixels -> 64 hidden -> 2 logits."""
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))


@dataclass
class RunResult:
    name: str
    model: HyperModel
    losses: list[float]
    accuracy: list[float]
    seconds: float


def train(model: HyperModel, data: DigitsTasks, conditioned: bool, epochs: int, seed: int) -> RunResult:
    """Train on all tasks jointly with the shared loop; batches mix tasks, so conditioned models get per-sample weights."""
    loader = make_loader(TensorDataset(data.x_train, data.task_train, data.y_train), 64, seed=seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    start = time.perf_counter()
    fitted = fit(model, classification_step(conditioned), loader, opt, epochs=epochs, progress=interactive())
    seconds = time.perf_counter() - start
    n = len(loader)
    losses = [sum(fitted.losses[e * n : (e + 1) * n]) / n for e in range(epochs)]
    model.eval()
    with torch.no_grad():
        pred = model(data.x_test, data.task_test if conditioned else None).argmax(1)
    correct = pred == data.y_test
    accuracy = [float(correct[data.task_test == t].float().mean()) for t in range(len(data.pairs))]
    return RunResult("", model, losses, accuracy, seconds)


def run_demo(out_dir: str | Path = "runs/demo", epochs: int = 40, seed: int = 0) -> dict[str, RunResult]:
    """Train both models, print the report, write the plot and a CSV; returns the results."""
    torch.manual_seed(seed)
    data = load_digits_tasks(seed=seed)
    n_tasks = len(data.pairs)
    conditioned = HyperModel(make_target(), condition=Embedding(num=n_tasks, dim=8), generator="chunked")
    static = HyperModel(make_target(), condition=Static(dim=8), generator="chunked")
    results = {
        "task-conditioned": train(conditioned, data, True, epochs, seed),
        "static": train(static, data, False, epochs, seed),
    }
    for name, r in results.items():
        r.name = name
    _report(results, data)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "results.csv", results, data)
    _plot(out / "demo.png", results, data)
    print(f"\nwrote {out / 'demo.png'} and {out / 'results.csv'}")
    return results


def _report(results: dict[str, RunResult], data: DigitsTasks) -> None:
    names = list(results)
    print("hypernet demo: sklearn digits, 5 tasks of digit pairs, trained jointly (mixed-task batches)")
    print("test accuracy per task (fraction of held-out digits classified correctly; 1.000 = all)\n")
    print(f"{'task':>4}  {'digits':>6}  {'n_test':>6}  " + "  ".join(f"{n:>16}" for n in names))
    for t, (a, b) in enumerate(data.pairs):
        n_test = int((data.task_test == t).sum())
        row = "  ".join(f"{results[n].accuracy[t]:>16.3f}" for n in names)
        print(f"{t:>4}  {f'{a},{b}':>6}  {n_test:>6}  {row}")
    mean = "  ".join(f"{sum(results[n].accuracy) / len(data.pairs):>16.3f}" for n in names)
    print(f"{'mean':>4}  {'':>6}  {'':>6}  {mean}\n")
    for n, r in results.items():
        m = r.model
        hyper = sum(p.numel() for name, p in m.named_parameters() if p.requires_grad and not name.startswith("target."))
        print(
            f"{n:>16}: target generated params {m.spec.numel}, hypernetwork params {hyper}, "
            f"compression {m.compression:.3f}, training {r.seconds:.1f}s, final loss {r.losses[-1]:.4f}"
        )


def _write_csv(path: Path, results: dict[str, RunResult], data: DigitsTasks) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "task", "digits", "accuracy"])
        for n, r in results.items():
            for t, (a, b) in enumerate(data.pairs):
                w.writerow([n, t, f"{a}{b}", f"{r.accuracy[t]:.4f}"])


def _plot(path: Path, results: dict[str, RunResult], data: DigitsTasks) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for n, r in results.items():
        ax1.plot(range(1, len(r.losses) + 1), r.losses, label=n)
    ax1.set(xlabel="epoch", ylabel="training loss", yscale="log", title="training")
    ax1.legend()
    width = 0.8 / len(results)
    for i, (n, r) in enumerate(results.items()):
        ax2.bar([t + i * width for t in range(len(data.pairs))], r.accuracy, width=width, label=n)
    ax2.set_xticks([t + width / 2 for t in range(len(data.pairs))], [f"{a},{b}" for a, b in data.pairs])
    ax2.set(xlabel="task (digits)", ylabel="test accuracy", ylim=(0.5, 1.02), title="per-task accuracy")
    ax2.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
