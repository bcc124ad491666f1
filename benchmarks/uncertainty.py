"""Uncertainty of a noise-conditioned hypernetwork vs a single network, MC dropout and a deep ensemble.

Train on MNIST (60,000 images), test on MNIST (accuracy, NLL, ECE with 15 bins) and use
the Fashion-MNIST test set as out-of-distribution data: AUROC of telling the 10,000
Fashion-MNIST test images from the 10,000 MNIST test images by the predictive entropy
and by the mutual information (the epistemic part; zero for a single network).

Target network: MLP 784-100-100-10 (ReLU). Methods (same data order, Adam with a
one-cycle schedule on the shared loop ``hypernet.training.fit``, batch 128):

* single: the MLP.
* MC dropout: the MLP with dropout after each hidden layer, 5 and 20 dropout masks at test time.
* deep ensemble: 5 MLPs from different seeds.
* noise hypernet: ``HyperModel(mlp, condition=hn.Noise(8), generator="chunked",
  parametrization="residual")``: weights ``w0 + g(z)``, ``z ~ N(0, I)``; trained with
  ``hn.NoiseStep`` (log-likelihood of the mean prediction over 3 draws per step + 0.1 x a
  ``weight_diversity`` entropy term - 0.1 x the draws' disagreement on pixel-shuffled
  training images, ``contrast="shuffle"``); evaluated with K = 5 and K = 20 draws
  (``hn.predictive``).
* ablation, single + contrast: the single MLP trained to have high predictive entropy on
  the same pixel-shuffled images (outlier-exposure style, weight 0.1): how much of the
  hypernetwork's OOD detection the synthetic inputs alone give a plain network.

``torch.set_num_threads(1)``. Writes ``benchmarks/results/uncertainty.csv`` (one row
per method and seed), ``uncertainty.md`` (mean ± std over seeds, the checks)
and ``uncertainty.png`` (reliability diagrams of seed 0, entropy histograms); another
``--prefix`` names other files.

Usage::

    python benchmarks/uncertainty.py                    # 3 seeds, 10 epochs (about 15 min; 40 on a busy 2-core machine)
    python benchmarks/uncertainty.py --likelihood mean --diversity-weight 0.3 --contrast none --prefix uncertainty_weightspace
    python benchmarks/uncertainty.py --quick            # smoke run: 1 seed, 3,000 images, 1 epoch, nothing written
"""

from __future__ import annotations

import argparse
import csv
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

import hypernet as hn
from hypernet.recipes import uncertainty as unc
from hypernet.recipes.compression.train import train_classifier
from hypernet.recipes.uncertainty.contrast import contrast_inputs, entropy_of_log_probs
from hypernet.training import seed_everything

RESULTS = Path(__file__).parent / "results"
METRICS = ["accuracy", "nll", "ece", "auroc_entropy", "auroc_mi"]


def mlp(hidden: int, dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for a, b in ((784, hidden), (hidden, hidden)):
        layers += [nn.Linear(a, b), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(hidden, 10))


def entropy_contrast_step(contrast: str, weight: float) -> Any:
    """Cross-entropy minus ``weight`` x the predictive entropy on off-data inputs: the single-network ablation."""

    def step(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, y = batch
        logits = model(torch.cat([x, contrast_inputs(x, contrast)]))
        off_entropy = entropy_of_log_probs(logits[len(x) :].log_softmax(-1)).mean()
        loss = nn.functional.cross_entropy(logits[: len(x)], y) - weight * off_entropy
        return loss, {"acc": (logits[: len(x)].argmax(-1) == y).float().mean(), "contrast_entropy": off_entropy.detach()}

    return step


def load(train_size: int | None) -> dict[str, torch.Tensor]:
    m = hn.data.load_mnist()
    from hypernet.data.fashion_mnist import load_fashion_mnist

    f = load_fashion_mnist()
    x, y = torch.cat([m.x_train, m.x_valid]), torch.cat([m.y_train, m.y_valid])
    if train_size is not None:
        x, y = x[:train_size], y[:train_size]
    return {"x": x, "y": y, "x_test": m.x_test, "y_test": m.y_test, "x_ood": f.x_test}


def evaluate(pred_in: unc.Predictive, pred_out: unc.Predictive, y: torch.Tensor) -> dict[str, float]:
    probs = pred_in.probs
    multi = pred_in.sample_probs.shape[0] > 1
    return {
        "accuracy": 100 * float((probs.argmax(1) == y).float().mean()),
        "nll": unc.negative_log_likelihood(probs, y),
        "ece": 100 * unc.expected_calibration_error(probs, y, bins=15),
        "auroc_entropy": 100 * unc.auroc(pred_in.entropy, pred_out.entropy),
        "auroc_mi": 100 * unc.auroc(pred_in.mutual_information, pred_out.mutual_information) if multi else float("nan"),
    }


def run_seed(seed: int, args: argparse.Namespace, data: dict[str, torch.Tensor]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    train = (data["x"], data["y"])
    opts = {"epochs": args.epochs, "batch_size": 128, "seed": seed}
    rows, preds = [], {}

    def record(method: str, seconds: float, pred_in: unc.Predictive, pred_out: unc.Predictive) -> None:
        row = {"method": method, "seed": seed, "seconds": round(seconds, 1), **evaluate(pred_in, pred_out, data["y_test"])}
        rows.append(row)
        preds[method] = (pred_in, pred_out)
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)

    def both(model: Any, **kw: Any) -> tuple[unc.Predictive, unc.Predictive]:
        return unc.predictive(model, data["x_test"], batch_size=2000, **kw), unc.predictive(model, data["x_ood"], batch_size=2000, **kw)

    seed_everything(seed)
    started = time.perf_counter()
    single = mlp(args.hidden)
    train_classifier(single, train, lr=args.lr, **opts)
    record("single", time.perf_counter() - started, *both(single))
    if args.contrast != "none":
        seed_everything(seed)
        started = time.perf_counter()
        single = mlp(args.hidden)
        train_classifier(single, train, lr=args.lr, step=entropy_contrast_step(args.contrast, args.contrast_weight), **opts)
        record(f"single + {args.contrast} contrast (ablation)", time.perf_counter() - started, *both(single))

    seed_everything(seed)
    started = time.perf_counter()
    dropout = mlp(args.hidden, args.dropout)
    train_classifier(dropout, train, lr=args.lr, **opts)
    seconds = time.perf_counter() - started
    for k in args.samples:  # as many dropout masks as the hypernetwork gets weight draws
        record(f"MC dropout (p={args.dropout}, K={k})", seconds, *both(dropout, samples=k))

    started = time.perf_counter()
    members = []
    for i in range(args.ensemble):
        seed_everything(1000 * (seed + 1) + i)
        member = mlp(args.hidden)
        train_classifier(member, train, lr=args.lr, **{**opts, "seed": 1000 * (seed + 1) + i})
        members.append(member)
    record(f"deep ensemble ({args.ensemble})", time.perf_counter() - started, *both(members))

    seed_everything(seed)
    started = time.perf_counter()
    model = hn.HyperModel(
        mlp(args.hidden),
        condition=hn.Noise(args.noise_dim),
        generator=hn.create_generator("chunked", chunk_dim=8, hidden=(args.gen_hidden,)),
        parametrization="residual",
    )
    step = hn.NoiseStep(
        samples=args.train_samples,
        diversity=args.diversity,
        diversity_weight=args.diversity_weight,
        likelihood=args.likelihood,
        contrast=None if args.contrast == "none" else args.contrast,
        contrast_weight=args.contrast_weight,
    )
    train_classifier(model, train, lr=args.lr, step=step, **opts)
    seconds = time.perf_counter() - started
    for k in args.samples:
        draws = torch.randn(k, args.noise_dim, generator=torch.Generator().manual_seed(seed))
        record(f"noise hypernet (K={k})", seconds, *both(model, draws=draws))
    return rows, preds


def mean_std(values: list[float]) -> str:
    values = [v for v in values if v == v]
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {sd:.2f}"


def report(rows: list[dict[str, Any]], command: str, args: argparse.Namespace) -> None:
    methods = list(dict.fromkeys(r["method"] for r in rows))
    by = {m: [r for r in rows if r["method"] == m] for m in methods}
    seeds = sorted({r["seed"] for r in rows})
    lines = [
        "# Uncertainty: noise hypernetwork vs single network, MC dropout, deep ensemble",
        "",
        f"Command: `{command}`  ",
        f"Seeds: {seeds}; mean ± std over seeds. torch {torch.__version__}, `torch.set_num_threads(1)`, CPU ({platform.machine()}).",
        "",
        f"Train: MNIST train+valid ({args.train_size or 60000} images), {args.epochs} epochs, batch 128,",
        f"Adam one-cycle (peak lr {args.lr}),",
        f"MLP 784-{args.hidden}-{args.hidden}-10. MC dropout p={args.dropout}. Noise hypernet: Noise({args.noise_dim}), chunked generator",
        f"(chunk_dim 8, hidden {args.gen_hidden}), residual, {args.train_samples} draws per step,",
        f"diversity '{args.diversity}' x {args.diversity_weight}, likelihood '{args.likelihood}', contrast '{args.contrast}'"
        + (f" x {args.contrast_weight}." if args.contrast != "none" else "."),
        "In-distribution: MNIST test (10,000); OOD: Fashion-MNIST test (10,000). ECE: 15 equal-width bins. AUROC: OOD = positive.",
        "",
        "| method | accuracy (%) | NLL | ECE (%) | OOD AUROC entropy (%) | OOD AUROC MI (%) | train s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in methods:
        cells = [mean_std([float(r[k]) for r in by[m]]) for k in METRICS]
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {statistics.mean(float(r['seconds']) for r in by[m]):.0f} |")
    lines += ["", "Checks (means over seeds):", ""]
    mean = {m: {k: statistics.mean(float(r[k]) for r in by[m]) for k in METRICS} for m in methods}
    single = mean["single"]
    dropouts = {m.rsplit("K=", 1)[1]: mean[m] for m in methods if m.startswith("MC dropout")}
    for m in [m for m in methods if m.startswith("noise hypernet")]:
        h = mean[m]
        k = m.rsplit("K=", 1)[1]
        dropout = dropouts[k]  # MC dropout with as many masks (run_seed records one row per K)
        best_auroc = max(h["auroc_entropy"], h["auroc_mi"])
        checks = [
            ("OOD AUROC >= single (entropy)", h["auroc_entropy"] >= single["auroc_entropy"]),
            (
                "OOD AUROC >= MC dropout with as many draws (best of entropy / MI each)",
                best_auroc >= max(dropout["auroc_entropy"], dropout["auroc_mi"]),
            ),
            ("ECE <= single", h["ece"] <= single["ece"]),
            ("accuracy within 0.5 points of single", abs(h["accuracy"] - single["accuracy"]) <= 0.5),
        ]
        lines.append(f"* {m}: " + "; ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in checks))
    lines += [
        "",
        f"Scale: {args.epochs} epochs and a 100-unit MLP, so that the 3 seeds (5 ensemble members and a hypernetwork that runs",
        f"{args.train_samples} weight draws per step each) fit in well under an hour on the shared CPU. `{args.prefix}.png`: reliability",
        "diagrams (MNIST test) and entropy histograms (MNIST vs Fashion-MNIST) of seed 0. Train seconds vary with the machine's load.",
    ]
    (RESULTS / f"{args.prefix}.md").write_text("\n".join(lines) + "\n")


def plot(preds: dict[str, Any], y: torch.Tensor, prefix: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(preds)
    fig, axes = plt.subplots(2, len(methods), figsize=(3.2 * len(methods), 6.4), squeeze=False)
    for i, m in enumerate(methods):
        pred_in, pred_out = preds[m]
        rel = unc.reliability(pred_in.probs, y, bins=15)
        ax = axes[0][i]
        centers = (rel.edges[:-1] + rel.edges[1:]) / 2
        keep = rel.count > 0
        ax.bar(centers[keep], rel.accuracy[keep], width=1 / 15, edgecolor="k", alpha=0.7, label="accuracy")
        ax.plot([0, 1], [0, 1], "k--", lw=1)
        ax.set_title(f"{m}\nECE {100 * rel.ece:.2f} %", fontsize=8)
        ax.set_xlabel("confidence")
        if i == 0:
            ax.set_ylabel("accuracy (MNIST test)")
        ax = axes[1][i]
        bins = torch.linspace(0, float(torch.log(torch.tensor(10.0))), 31)
        ax.hist(pred_in.entropy.numpy(), bins=bins.numpy(), alpha=0.6, density=True, label="MNIST")
        ax.hist(pred_out.entropy.numpy(), bins=bins.numpy(), alpha=0.6, density=True, label="Fashion-MNIST")
        ax.set_xlabel("predictive entropy (nats)")
        ax.set_yscale("log")
        if i == 0:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{prefix}.png", dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--dropout", type=float, default=0.25)
    parser.add_argument("--ensemble", type=int, default=5)
    parser.add_argument("--samples", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--train-samples", type=int, default=3)
    parser.add_argument("--noise-dim", type=int, default=8)
    parser.add_argument("--gen-hidden", type=int, default=32)
    parser.add_argument("--diversity", choices=["entropy", "pairwise"], default="entropy")
    parser.add_argument("--diversity-weight", type=float, default=0.1)
    parser.add_argument("--likelihood", choices=["mean", "mixture"], default="mixture", help="NoiseStep likelihood")
    parser.add_argument("--contrast", choices=["none", "shuffle", "gaussian"], default="shuffle", help="NoiseStep's off-data inputs")
    parser.add_argument("--contrast-weight", type=float, default=0.1)
    parser.add_argument("--prefix", default="uncertainty", help="output file names: results/<prefix>.{csv,md,png}")
    parser.add_argument("--quick", action="store_true", help="smoke run: seed 0, 3,000 images, 1 epoch, nothing written")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.quick:
        args.seeds, args.train_size, args.epochs = [0], 3000, 1
    data = load(args.train_size)
    rows, first = [], None
    for seed in args.seeds:
        seed_rows, preds = run_seed(seed, args, data)
        rows += seed_rows
        first = first or preds
    if args.quick:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / f"{args.prefix}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["method", "seed", "seconds", *METRICS])
        writer.writeheader()
        writer.writerows(rows)
    command = "python benchmarks/uncertainty.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    report(rows, command.strip(), args)
    assert first is not None
    plot(first, data["y_test"], args.prefix)


if __name__ == "__main__":
    main()
