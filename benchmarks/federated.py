"""Personalised federated learning benchmark: pFedHN and PeFLL (hn.FederatedHypernet) against local-only,
FedAvg and FedAvg + fine-tuning, on Fashion-MNIST / MNIST client splits, several seeds.

Protocol (pFedHN's, scaled by flags): the target is pFedHN's LeNet-style CNN; each client has train /
validation / test data over its own classes; a method's score is the mean over clients of each client's
test accuracy at the evaluation with the best mean validation accuracy. 10 % of the clients are held out
of training (PeFLL's protocol): every method trains on the other 90 % and is scored on them; PeFLL and
FedAvg's global model are also scored on the held-out clients (PeFLL without any training, and after one
local epoch). Bytes: tensor bytes per participating client per round, both directions.

Run (writes benchmarks/results/federated.{csv,md,png}; needs `hypernet data fetch fashion-mnist` and `mnist`):
    python benchmarks/federated.py --seeds 0 1 2
    python benchmarks/federated.py --report-only      # tables and plot from the CSV
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import hypernet as hn
from hypernet.recipes.federated import ClientData, SmallCNN, dirichlet_partition, fedavg, local_only, pathological_partition

SPLITS = {
    "fmnist-path-50x2": ("fashion-mnist", "pathological", 50, 2),
    "fmnist-path-100x2": ("fashion-mnist", "pathological", 100, 2),
    "fmnist-dir0.3-50": ("fashion-mnist", "dirichlet", 50, 0.3),
    "mnist-path-50x2": ("mnist", "pathological", 50, 2),
}
FIELDS = ["split", "seed", "method", "clients", "best_round", "val_acc", "test_acc", "bytes_per_client_round", "seconds"]
# Published anchors (different data set: CIFAR-10, pathological 2 classes per client), see the .md file.


def load(name: str) -> tuple[torch.Tensor, ...]:
    if name == "mnist":
        m = hn.data.load_mnist()
        return torch.cat([m.x_train, m.x_valid]), torch.cat([m.y_train, m.y_valid]), m.x_test, m.y_test
    from hypernet.data.fashion_mnist import load_fashion_mnist

    f = load_fashion_mnist()
    return f.x_train, f.y_train, f.x_test, f.y_test


def partition(split: str, seed: int) -> list[ClientData]:
    data, kind, n, param = SPLITS[split]
    x, y, xt, yt = load(data)
    if kind == "pathological":
        return pathological_partition(x, y, xt, yt, n, int(param), seed=seed)
    return dirichlet_partition(x, y, xt, yt, n, float(param), seed=seed)


def target(args: argparse.Namespace) -> torch.nn.Module:
    return SmallCNN(n_kernels=args.n_kernels, hidden=(64, 32))


def run_split(split: str, seed: int, args: argparse.Namespace, write: Any) -> None:
    clients = partition(split, seed)
    n = len(clients)
    rng = np.random.default_rng([seed, 4242])
    held = sorted(int(i) for i in rng.choice(n, size=max(1, n // 10), replace=False))
    seen = [i for i in range(n) if i not in held]
    seen_clients = [clients[i] for i in seen]
    common = {
        "inner_steps": args.inner_steps, "inner_lr": args.inner_lr, "batch_size": args.batch_size, "seed": seed,
        "parametrization": args.parametrization, "optimizer": args.hn_optimizer, "lr": args.hn_lr,
    }  # fmt: skip

    def row(method: str, best: dict[str, float], seconds: float, who: str = "seen", bytes_: float | None = None) -> None:
        write(
            {
                "split": split, "seed": seed, "method": method, "clients": who, "best_round": int(best.get("round", 0)),
                "val_acc": round(best.get("val_acc", math.nan), 5), "test_acc": round(best["test_acc"], 5),
                "bytes_per_client_round": int(best.get("bytes", 0) if bytes_ is None else bytes_), "seconds": round(seconds, 1),
            }
        )  # fmt: skip

    # pFedHN: learned client embeddings (one id per client; the held-out ones are never sampled)
    t = time.perf_counter()
    torch.manual_seed(seed)
    fed = hn.FederatedHypernet(
        target(args), num_clients=n, embedding="learned", clients_per_round=args.clients_per_round, **common,
    )  # fmt: skip
    hist = fed.fit(clients, args.rounds, train_clients=seen, eval_every=args.eval_every)
    row("pFedHN", hist.best, time.perf_counter() - t)

    # PeFLL: the embedding comes from the client's data; unseen clients get a model without training
    t = time.perf_counter()
    torch.manual_seed(seed)
    pefll = hn.FederatedHypernet(
        target(args), num_clients=n, embedding="data", x_dim=784, n_classes=10, clients_per_round=args.clients_per_round,
        embed_samples=args.embed_samples, **common,
    )  # fmt: skip
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def keep(r: dict[str, float]) -> None:
        snapshots[int(r["round"])] = {k: v.detach().clone() for k, v in pefll.model.state_dict().items()}

    hist = pefll.fit(clients, args.rounds, train_clients=seen, eval_every=args.eval_every, callback=keep)
    best = hist.best
    row("PeFLL", best, time.perf_counter() - t)
    pefll.model.load_state_dict(snapshots[int(best["round"])])
    t = time.perf_counter()
    acc0 = [hn.recipes.federated.accuracy(pefll.personalize(clients[i]), clients[i].x_test, clients[i].y_test) for i in held]
    t0 = time.perf_counter() - t
    t = time.perf_counter()
    acc1 = [hn.recipes.federated.accuracy(pefll.personalize(clients[i], epochs=1), clients[i].x_test, clients[i].y_test) for i in held]
    row("PeFLL, no training", {"round": best["round"], "test_acc": float(np.mean(acc0))}, t0, "unseen", best["bytes"])
    row(
        "PeFLL, 1 local epoch", {"round": best["round"], "test_acc": float(np.mean(acc1))}, time.perf_counter() - t, "unseen", best["bytes"]
    )

    # Local only
    t = time.perf_counter()
    res = local_only(target(args), seen_clients, steps=args.local_steps, eval_every=max(1, args.local_steps // 4), lr=args.inner_lr,
                     batch_size=args.batch_size, seed=seed)  # fmt: skip
    row("Local only", res.best, time.perf_counter() - t)

    # FedAvg and FedAvg + fine-tuning (from the best-validation global model)
    t = time.perf_counter()
    res = fedavg(
        target(args), clients, args.fedavg_rounds, clients_per_round=args.fedavg_clients, local_steps=args.inner_steps,
        eval_every=max(1, args.fedavg_rounds // 4), finetune_steps=args.finetune_steps, lr=args.inner_lr, batch_size=args.batch_size,
        seed=seed, train_clients=seen,
    )  # fmt: skip
    seconds = time.perf_counter() - t
    row("FedAvg", res.best, seconds)
    assert res.finetuned is not None
    row("FedAvg + FT", {**res.best, **res.finetuned}, seconds)
    row("FedAvg global", {**res.best, "test_acc": res.extra["unseen_test_acc"], "val_acc": math.nan}, seconds, "unseen")


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


NOTES = Path(__file__).with_name("federated_notes.md")


def report(path: Path, args: argparse.Namespace) -> None:
    """``federated.md`` (the command, the notes in ``benchmarks/federated_notes.md``, the table) and ``federated.png``."""
    rows = read_rows(path)
    methods = ["pFedHN", "PeFLL", "Local only", "FedAvg", "FedAvg + FT", "PeFLL, no training", "PeFLL, 1 local epoch", "FedAvg global"]
    splits = [s for s in SPLITS if any(r["split"] == s for r in rows)]
    stats: dict[tuple[str, str], tuple[float, float, int]] = {}
    for s in splits:
        for m in methods:
            accs = [100 * float(r["test_acc"]) for r in rows if r["split"] == s and r["method"] == m]
            if accs:
                stats[s, m] = (float(np.mean(accs)), float(np.std(accs)), len(accs))
    lines = ["| method | clients scored | " + " | ".join(splits) + " | bytes / client / round |", "|---|---|" + "---|" * (len(splits) + 1)]
    for m in methods:
        if not any((s, m) in stats for s in splits):
            continue
        who = "held-out 10 %" if m in ("PeFLL, no training", "PeFLL, 1 local epoch", "FedAvg global") else "training 90 %"
        cells = [f"{stats[s, m][0]:.2f} ± {stats[s, m][1]:.2f}" if (s, m) in stats else "" for s in splits]
        b = [int(r["bytes_per_client_round"]) for r in rows if r["method"] == m and r["split"] == splits[0]]
        lines.append(f"| {m} | {who} | " + " | ".join(cells) + f" | {b[0] if b else 0:,} |")
    seeds = sorted({int(r["seed"]) for r in rows})
    seconds = sum(float(r["seconds"]) for r in rows if r["method"] not in ("FedAvg + FT", "FedAvg global"))
    command = path.with_suffix(".cmd.txt").read_text().strip() if path.with_suffix(".cmd.txt").is_file() else "(see the CSV)"
    head = [
        "# Personalised federated learning: pFedHN / PeFLL vs baselines",
        "",
        f"Command: `{command}` (one thread); seeds {seeds}; about {seconds / 60:.0f} min of compute in total.",
        "Mean ± std over seeds of the mean client test accuracy (%), each at the evaluation with the best mean validation",
        "accuracy (pFedHN's protocol). Raw rows: `federated.csv`; plot: `federated.png`.",
        "",
        *lines,
        "",
    ]
    notes = NOTES.read_text() if NOTES.is_file() else ""
    path.with_suffix(".md").write_text("\n".join(head) + "\n" + notes)
    print("\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / len(methods)
    for j, m in enumerate(methods):
        xs = [i + j * width for i, s in enumerate(splits) if (s, m) in stats]
        ys = [stats[s, m][0] for s in splits if (s, m) in stats]
        es = [stats[s, m][1] for s in splits if (s, m) in stats]
        ax.bar(xs, ys, width, yerr=es, label=m)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(splits))], splits)
    ax.set_ylabel("mean client test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"), dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--rounds", type=int, default=5000, help="pFedHN / PeFLL rounds (pFedHN: 5000)")
    p.add_argument("--clients-per-round", type=int, default=1, help="pFedHN: 1, PeFLL: 5")
    p.add_argument("--eval-every", type=int, default=30, help="rounds between evaluations (pFedHN: 30)")
    p.add_argument("--inner-steps", type=int, default=50, help="local SGD steps per round (pFedHN: 50)")
    p.add_argument("--inner-lr", type=float, default=5e-3, help="local SGD lr (pFedHN: 5e-3)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--hn-optimizer", default="sgd", choices=["sgd", "adam"], help="server optimizer (pFedHN: sgd)")
    p.add_argument("--hn-lr", type=float, default=1e-2, help="server lr (pFedHN: 1e-2)")
    p.add_argument("--embed-samples", type=int, default=128)
    p.add_argument("--parametrization", default="direct", choices=["direct", "residual"], help="pFedHN: direct")
    p.add_argument("--n-kernels", type=int, default=16, help="CNN width (pFedHN: 16)")
    p.add_argument("--local-steps", type=int, default=500, help="local-only SGD steps per client")
    p.add_argument("--fedavg-rounds", type=int, default=1000)
    p.add_argument("--fedavg-clients", type=int, default=5)
    p.add_argument("--finetune-steps", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/federated.csv"))
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        print("command: python " + " ".join(sys.argv), flush=True)
        args.out.with_suffix(".cmd.txt").write_text("python " + " ".join(sys.argv) + "\n")
        new = not args.out.exists()
        with args.out.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=FIELDS)
            if new:
                writer.writeheader()

            def write(r: dict[str, Any]) -> None:
                writer.writerow(r)
                fh.flush()
                print(r, flush=True)

            for seed in args.seeds:  # seeds outermost: a partial run still covers every split
                for split in args.splits:
                    run_split(split, seed, args, write)
    report(args.out, args)


if __name__ == "__main__":
    main()
