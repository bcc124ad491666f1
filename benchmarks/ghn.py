"""Graph hypernetwork (issues 24, 30): parameters predicted for unseen architectures, and as an initialisation.

Per seed, in one run: train ``hn.GraphHyperNetwork`` on random architectures of the sampler's
``train`` split (Fashion-MNIST train images 0-49,999), then for held-out architectures

* **predicted, no training**: accuracy of the predicted parameters on the Fashion-MNIST test set
  (BatchNorm statistics recomputed on 4 x 64 training images, then ``eval()``), against chance (10 %);
  sets: ``test`` (500 architectures of the training distribution, disjoint seeds), ``wide``,
  ``deep``, ``dense`` (50 each), and 5 hand-written networks the sampler cannot produce
  (LeNet-5, a ResNet with 4 residual blocks, a VGG-style net, an MLP-Mixer-style net, a
  depthwise-separable net);
* **fine-tuning**: SGD (lr 0.02, momentum 0.9, batch 60, same batches for both) from the GHN's
  parameters vs PyTorch's default (Kaiming-uniform) initialisation, 100 steps on the first
  ``--n-finetune`` architectures of every set, and 1,000 steps (= 1 epoch of 60,000 images) on the
  hand-written nets, so the default-init 1,000-step column is "trained from scratch for 1 epoch";
* **cost**: time to predict all parameters of one network (graph tracing included).

The architecture sets are fixed (the same for every seed); seeds change the GHN's
initialisation, its training architectures and batches, and the networks' default initialisation.

Writes ``benchmarks/results/ghn.csv`` (one row per seed x network), ``ghn.md`` and ``ghn.png``.
``--save`` writes the seed-0 GHN to ``src/hypernet/recipes/graph/weights/ghn_fashion-mnist.safetensors``
(+ ``.json``), loaded by ``hn.GraphHyperNetwork.pretrained("fashion-mnist")``.

Usage (the run behind ``ghn.md``):
    python benchmarks/ghn.py --seeds 0 1 2 --save

Issue 30 (sampler with standard-family motifs; choose settings with ``--eval-on val`` first, e.g. the
``ghn_pilot_val_*`` files), one process per seed, then merge (``C`` = the common arguments)::

    C="--encoder gated --hidden 32 --lr 3e-3 --steps 3000 --meta-batch 4 --n-test 100 --n-ood 20 --n-eval 2000 \
       --n-finetune 3 --ft-steps 100 --ft-long 1000"
    python benchmarks/ghn.py $C --seeds 0 --tag _i30_s0 --save
    python benchmarks/ghn.py $C --seeds 1 --tag _i30_s1
    python benchmarks/ghn.py $C --seeds 2 --tag _i30_s2
    python benchmarks/ghn.py $C --merge _i30_s0 _i30_s1 _i30_s2 --tag _i30
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import torch
from torch import nn

import hypernet as hn
from hypernet.data.fashion_mnist import load_fashion_mnist
from hypernet.recipes.graph import ArchitectureSampler
from hypernet.recipes.graph.graph_hypernetwork import WEIGHTS

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RESULTS = Path(__file__).parent / "results"
SETS = ("test", "wide", "deep", "dense", "hand-written")
# GHN-2 anchors (CIFAR-10, a different data set): ppuda README, GHN-2-CIFAR-10 checkpoint.
ANCHORS = (
    "GHN-2 on CIFAR-10 (ppuda README): ResNet-50 (unseen) 58.6 % top-1 with predicted parameters; best DeepNets-1M test architecture 77.1 %"
)


# ----------------------------------------------------------------------------- hand-written nets
from hypernet.recipes.graph._handwritten import HAND_WRITTEN  # noqa: E402


# ----------------------------------------------------------------------------- helpers
def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    net.eval()
    with torch.no_grad():
        correct = sum(int((net(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum()) for i in range(0, len(x), batch))
    return 100.0 * correct / len(x)


def finetune(net: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, order: torch.Tensor, lr: float, batch: int = 60) -> None:
    """SGD with momentum over the batches given by ``order`` (identical for both initialisations)."""
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    net.train()
    for s in range(steps):
        idx = order[(s * batch) % len(order) :][:batch]
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        optimizer.step()


def networks(args: argparse.Namespace) -> dict[str, list[tuple[str, Callable[[], nn.Module]]]]:
    out: dict[str, list[tuple[str, Callable[[], nn.Module]]]] = {}
    for split in SETS[:-1]:
        n = args.n_test if split == "test" else args.n_ood
        out[split] = [(f"{split}-{i}", spec.build) for i, spec in enumerate(ArchitectureSampler(split).specs(n, seed=0))]
    out["hand-written"] = list(HAND_WRITTEN.items())
    return out


def run_seed(seed: int, args: argparse.Namespace, data: Any, log: Callable[[str], None]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    torch.manual_seed(seed)
    x_tr, y_tr = data.x_train[:50000].view(-1, 1, 28, 28), data.y_train[:50000]
    if args.eval_on == "val":  # Fashion-MNIST train images 50,000-59,999: never seen by the GHN; for choosing settings
        x_te, y_te = data.x_train[50000 : 50000 + args.n_eval].view(-1, 1, 28, 28), data.y_train[50000 : 50000 + args.n_eval]
    else:
        x_te, y_te = data.x_test[: args.n_eval].view(-1, 1, 28, 28), data.y_test[: args.n_eval]
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x_tr), generator=g)
    loader = [(x_tr[perm[i : i + args.batch]], y_tr[perm[i : i + args.batch]]) for i in range(0, len(perm) - args.batch + 1, args.batch)]
    ghn = hn.GraphHyperNetwork(hidden=args.hidden, rounds=args.rounds, encoder=args.encoder, layers=args.layers, heads=args.heads,
                               flatten_maps=not args.no_flatten_maps)  # fmt: skip
    curve: list[float] = []
    t0, c0 = time.perf_counter(), time.process_time()
    ghn.fit(ArchitectureSampler("train"), loader, steps=args.steps, meta_batch=args.meta_batch, lr=args.lr, seed=seed,
            callback=lambda s, loss, acc: curve.append(acc))  # fmt: skip
    train_minutes = (time.perf_counter() - t0) / 60
    train_cpu_minutes = (time.process_time() - c0) / 60  # this process's CPU time: what the training costs on a shared machine
    log(
        f"seed {seed}: GHN trained {args.steps} steps in {train_minutes:.1f} min ({train_cpu_minutes:.1f} CPU min); "
        f"train acc (last 100 steps) {100 * statistics.mean(curve[-100:]):.1f} %"
    )
    calib = [x_tr[perm[-64 * (k + 1) :][:64]] for k in range(4)]
    order = torch.randperm(len(x_tr), generator=g)
    rows: list[dict[str, Any]] = []
    for set_name, nets in networks(args).items():
        for i, (name, build) in enumerate(nets):
            torch.manual_seed(1000 * seed + i)
            net = build()
            t = time.perf_counter()
            with torch.no_grad():
                params = ghn.predict(net)
            predict_ms = 1000 * (time.perf_counter() - t)
            default_state = {k: v.clone() for k, v in net.state_dict().items()}
            ghn.initialize_(net, data=calib)
            assert all(torch.equal(p, params[n]) for n, p in net.named_parameters())
            row: dict[str, Any] = {"seed": seed, "set": set_name, "net": name, "params": sum(p.numel() for p in net.parameters()),
                                   "predicted_acc": accuracy(net, x_te, y_te), "predict_ms": round(predict_ms, 2)}  # fmt: skip
            ghn_state = {k: v.clone() for k, v in net.state_dict().items()}
            steps = [args.ft_steps] if i < args.n_finetune else []
            if set_name == "hand-written":
                steps.append(args.ft_long)
            for n_steps in steps:
                for init, state in (("ghn", ghn_state), ("default", default_state)):
                    net.load_state_dict(state)
                    finetune(net, x_tr, y_tr, n_steps, order, args.ft_lr)
                    row[f"ft{n_steps}_{init}"] = accuracy(net, x_te, y_te)
            rows.append(row)
        done = [r for r in rows if r["set"] == set_name]
        log(f"seed {seed}: {set_name}: predicted {statistics.mean(r['predicted_acc'] for r in done):.1f} % over {len(done)} nets")
    info = {
        "seed": seed,
        "train_minutes": round(train_minutes, 2),
        "train_cpu_minutes": round(train_cpu_minutes, 2),
        "train_curve": [round(statistics.mean(curve[i : i + 100]), 4) for i in range(0, len(curve), 100)],
        "settings": run_settings(args.argv),
    }
    if args.save and seed == args.seeds[0]:
        test_acc = statistics.mean(r["predicted_acc"] for r in rows if r["set"] == "test")
        path = ghn.save(WEIGHTS / "ghn_fashion-mnist.safetensors", info={
            "data": "Fashion-MNIST train images 0-49,999 (28x28, [0, 1])", "sampler": "ArchitectureSampler('train')",
            "steps": args.steps, "meta_batch": args.meta_batch, "lr": args.lr, "batch": args.batch, "seed": seed,
            "command": "python benchmarks/ghn.py " + " ".join(sys.argv[1:]),
            "predicted_accuracy_test_split": round(test_acc, 2),
        })  # fmt: skip
        log(f"saved {path}")
    return rows, info


# ----------------------------------------------------------------------------- reporting
def ms(values: list[float], digits: int = 1) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"


def per_seed(rows: list[dict[str, Any]], set_name: str, key: str) -> list[float]:
    seeds = sorted({r["seed"] for r in rows})
    out = []
    for s in seeds:
        vals = [float(r[key]) for r in rows if r["seed"] == s and r["set"] == set_name and r.get(key) not in (None, "")]
        if vals:
            out.append(statistics.mean(vals))
    return out


def win_rate(rows: list[dict[str, Any]], set_names: tuple[str, ...], steps: int) -> tuple[int, int]:
    pairs = [
        (float(r[f"ft{steps}_ghn"]), float(r[f"ft{steps}_default"]))
        for r in rows
        if r["set"] in set_names and r.get(f"ft{steps}_ghn") not in (None, "")
    ]
    return sum(a > b for a, b in pairs), len(pairs)


def yes(ok: bool) -> str:
    return "yes" if ok else "no"


def training_time_row(infos: list[dict[str, Any]], tag: str) -> str:
    """The "≤ 60 min" target row: judged on CPU time when every seed recorded it (wall time counts other jobs too)."""
    wall = f"{statistics.mean(i['train_minutes'] for i in infos):.1f} min wall on 1 thread of a shared machine"
    if all("train_cpu_minutes" in i for i in infos):
        cpu = max(i["train_cpu_minutes"] for i in infos)
        return f"| GHN training ≤ 60 min on 2 cores | {wall}; at most {cpu:.1f} CPU min | {'yes' if cpu <= 60 else 'no'} |"
    return f"| GHN training ≤ 60 min on 2 cores | {wall}; CPU time not recorded by every seed (see `ghn{tag}_timing.md` if present) | - |"


def write_markdown(rows: list[dict[str, Any]], infos: list[dict[str, Any]], args: argparse.Namespace, minutes: float) -> None:
    seeds = sorted({r["seed"] for r in rows})
    if args.merge:
        out_tag = f" --tag {args.tag}" if args.tag else ""
        ran = (
            "Commands (one process per seed, one thread each, run at the same time on a shared 2-core machine): "
            + "; ".join(
                f"`python benchmarks/ghn.py {args.common} --seeds {i['seed']} --tag {t}`" for t, i in zip(args.merge, infos, strict=True)
            )
            + f"; this file: `python benchmarks/ghn.py {args.common} --merge {' '.join(args.merge)}{out_tag}`."
        )
    else:
        ran = f"Command: `python benchmarks/ghn.py {' '.join(sys.argv[1:])}`, one thread, {minutes:.1f} min on a shared 2-core machine."
    lines = [
        "# Graph hypernetwork (GHN-2 style) on Fashion-MNIST",
        "",
        f"{ran} Seeds {seeds}. Mean ± std over seeds of the per-seed mean over the networks of a set.",
        f"GHN: hidden {getattr(args, 'hidden', 32)}, block (64, 64, 5, 5), "
        + (
            f"Graphormer encoder ({args.layers} layers × {args.heads} heads, GHN-3 style), "
            if getattr(args, "encoder", "gated") == "graphormer"
            else f"virtual edges up to 50 hops, {getattr(args, 'rounds', 1)} forward+backward sweep(s), "
        )
        + "layer norm; "
        + ("2-d heads tiled (GHN-2); " if getattr(args, "no_flatten_maps", False) else "flatten heads decoded as convolutions; ")
        + "sampler families cnn / mlp / mixer (issue 30 motifs, valid convolutions); "
        f"trained {args.steps} steps × {args.meta_batch} architectures × {args.batch} images, Adam lr {args.lr}, cosine schedule "
        f"({statistics.mean(i['train_minutes'] for i in infos):.1f} min per seed). "
        f"Accuracy on the first {args.n_eval} Fashion-MNIST "
        + ("test images; " if getattr(args, "eval_on", "test") == "test" else "validation images (train images 50,000+); ")
        + "BatchNorm statistics recomputed on 4 × 64 training images with the predicted weights, then `eval()`.",
        "",
        "## Predicted parameters, no training (chance: 10 %)",
        "",
        "| set | networks | accuracy of predicted parameters (%) | best network (%) | predict time (ms) |",
        "|---|---|---|---|---|",
    ]
    for set_name in SETS:
        sub = [r for r in rows if r["set"] == set_name]
        if not sub:
            continue
        n = len(sub) // len(seeds)
        best = max(float(r["predicted_acc"]) for r in sub)
        lines.append(
            f"| {set_name} | {n} | {ms(per_seed(rows, set_name, 'predicted_acc'))} | {best:.1f} | "
            f"{statistics.median(float(r['predict_ms']) for r in sub):.0f} |"
        )
    long = f"{args.ft_long} steps" + (" = 1 epoch" if args.ft_long * 60 == 60000 else f" = {args.ft_long * 60 / 60000:.2f} epoch")
    lines += [
        "",
        "Hand-written networks (mean ± std over seeds):",
        "",
        f"| network | params | predicted (%) | default init + {long} (%) | GHN init + {long} (%) |",
        "|---|---|---|---|---|",
    ]
    for name in HAND_WRITTEN:
        sub = [r for r in rows if r["net"] == name]
        lines.append(
            f"| {name} | {sub[0]['params']:,} | {ms([float(r['predicted_acc']) for r in sub])} | "
            f"{ms([float(r[f'ft{args.ft_long}_default']) for r in sub])} | {ms([float(r[f'ft{args.ft_long}_ghn']) for r in sub])} |"
        )
    lines += [
        "",
        f"## Fine-tuning: GHN initialisation vs PyTorch default, same SGD batches (lr {args.ft_lr}, momentum 0.9, batch 60)",
        "",
        f"| set | networks × seeds | default init + {args.ft_steps} steps (%) | GHN init + {args.ft_steps} steps (%) | GHN init better |",
        "|---|---|---|---|---|",
    ]
    for set_name in SETS:
        wins, total = win_rate(rows, (set_name,), args.ft_steps)
        if total:
            lines.append(
                f"| {set_name} | {total} | {ms(per_seed(rows, set_name, f'ft{args.ft_steps}_default'))} | "
                f"{ms(per_seed(rows, set_name, f'ft{args.ft_steps}_ghn'))} | {wins}/{total} |"
            )
    wins, total = win_rate(rows, SETS, args.ft_steps)
    wins_long, total_long = win_rate(rows, ("hand-written",), args.ft_long)
    test_pred = per_seed(rows, "test", "predicted_acc")
    hand_pred = per_seed(rows, "hand-written", "predicted_acc")
    hand_means = {
        name: statistics.mean(float(r["predicted_acc"]) for r in rows if r["net"] == name)
        for name in HAND_WRITTEN
        if any(r["net"] == name for r in rows)
    }
    lines += [
        "",
        f"After {args.ft_long} steps (hand-written nets, networks × seeds): GHN init better in {wins_long}/{total_long}.",
        "",
        "## Targets (issue 30) and anchors",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        f"| predicted parameters, test architectures: mean ≥ 65 % | {ms(test_pred)} | {yes(statistics.mean(test_pred) >= 65)} |",
        f"| predicted parameters, 5 hand-written nets: mean ≥ 40 % | {ms(hand_pred)} | {yes(statistics.mean(hand_pred) >= 40)} |",
        f"| predicted parameters, every hand-written net ≥ 20 % (mean over seeds) | lowest: {min(hand_means.values()):.1f} % "
        f"({min(hand_means, key=hand_means.__getitem__)}) | {yes(min(hand_means.values()) >= 20)} |",
        f"| GHN init beats default after {args.ft_steps} steps on ≥ 80 % of held-out nets | "
        f"{wins}/{total} = {100 * wins / max(total, 1):.0f} % | "
        f"{'yes' if wins >= 0.8 * total else 'no'} |",
        training_time_row(infos, args.tag),
        "| Kendall τ on `MLPSpace` ≥ SMASH-style search | `benchmarks/architecture_search.py --ghn` (separate run) | - |",
        "",
        "Anchors, **different data set** (CIFAR-10, 32×32 colour; GHN-2 trained on 1M DeepNets architectures for many GPU-hours): "
        f"{ANCHORS}. "
        "The relations to compare are: predicted parameters far above chance on unseen architectures, lower on out-of-distribution "
        "ones than in-distribution, and a better start than random initialisation. Absolute numbers are not comparable.",
        "",
        "Training curve (GHN training-batch accuracy of predicted parameters, mean per 100 steps, seed "
        f"{infos[0]['seed']}): {', '.join(f'{100 * a:.0f}' for a in infos[0]['train_curve'])} %.",
        "",
    ]
    (RESULTS / f"ghn{args.tag}.md").write_text("\n".join(lines))


def plot(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    sets = [s for s in SETS if any(r["set"] == s for r in rows)]
    means = [statistics.mean(per_seed(rows, s, "predicted_acc")) for s in sets]
    axes[0].bar(sets, means, color="tab:blue")
    axes[0].axhline(10, color="grey", ls="--", label="chance")
    axes[0].set_ylabel("accuracy of predicted parameters (%)")
    axes[0].set_title("no training")
    axes[0].legend()
    width = 0.38
    pos = range(len(sets))
    for k, (init, color) in enumerate((("default", "tab:grey"), ("ghn", "tab:orange"))):
        vals = [statistics.mean(per_seed(rows, s, f"ft{args.ft_steps}_{init}") or [0]) for s in sets]
        axes[1].bar([p + (k - 0.5) * width for p in pos], vals, width, label=f"{init} init", color=color)
    axes[1].set_xticks(list(pos), sets)
    axes[1].set_title(f"after {args.ft_steps} SGD steps")
    axes[1].legend()
    fig.suptitle("GraphHyperNetwork on Fashion-MNIST")
    fig.tight_layout()
    fig.savefig(RESULTS / f"ghn{args.tag}.png", dpi=110)


def run_settings(argv: list[str]) -> list[str]:
    """A run's command-line settings without ``--seeds``, ``--tag``, ``--save`` and ``--merge`` (what its seeds share)."""
    out: list[str] = []
    skipping = False
    for a in argv:
        if a.startswith("--"):
            name = a.split("=", 1)[0]
            skipping = name in ("--seeds", "--tag", "--merge") and "=" not in a
            if skipping or name in ("--seeds", "--tag", "--merge", "--save"):
                continue
        if not skipping:
            out.append(a)
    return out


def merge(args: argparse.Namespace) -> int:
    """Combine per-seed result files (``--tag`` runs) into ``ghn<tag>.csv``, ``.md`` and ``.png`` (``--tag`` after the merged tags)."""
    rows: list[dict[str, Any]] = []
    infos: list[dict[str, Any]] = []
    for tag in args.merge:
        with open(RESULTS / f"ghn{tag}.csv", newline="") as f:
            for row in csv.DictReader(f):
                rows.append(
                    {
                        k: (v if k in ("set", "net") else int(v) if k in ("seed", "params") else float(v) if v else "")
                        for k, v in row.items()
                    }
                )
        infos += json.loads((RESULTS / f"ghn_training{tag}.json").read_text())
    stored = [i.get("settings") for i in infos]
    if all(stored):  # report the runs' own settings, not the merge command's
        if any(st != stored[0] for st in stored):
            raise SystemExit(f"expected per-seed runs with the same settings, got {stored}; merge runs of one configuration")
        merged, tag = args.merge, args.tag
        args = parser().parse_args(stored[0])
        args.merge, args.tag = merged, tag
        args.common = " ".join(stored[0])
    else:  # runs from before the settings were stored: the merge command must repeat them
        args.common = " ".join(a for a in sys.argv[1 : sys.argv.index("--merge")])
    keys = sorted({k for row in rows for k in row}, key=lambda k: (k not in ("seed", "set", "net"), k))
    with open(RESULTS / f"ghn{args.tag}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    write_markdown(rows, infos, args, 0.0)
    plot(rows, args)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--meta-batch", type=int, default=4)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--n-ood", type=int, default=50)
    p.add_argument("--n-eval", type=int, default=1000)
    p.add_argument("--n-finetune", type=int, default=10)
    p.add_argument("--ft-steps", type=int, default=100)
    p.add_argument("--ft-long", type=int, default=1000)
    p.add_argument("--ft-lr", type=float, default=0.02)
    p.add_argument("--hidden", type=int, default=32, help="GHN node embedding size")
    p.add_argument("--rounds", type=int, default=1, help="GHN forward+backward sweeps")
    p.add_argument(
        "--no-flatten-maps", action="store_true", help="GraphHyperNetwork(flatten_maps=False): tile flatten heads' 2-d weights as GHN-2"
    )
    p.add_argument("--eval-on", choices=("test", "val"), default="test", help="val: train images 50,000+ (for choosing settings)")
    p.add_argument("--encoder", choices=("gated", "graphormer"), default="gated", help="GHN-2 gated GNN or GHN-3 Graphormer")
    p.add_argument("--layers", type=int, default=3, help="Graphormer layers")
    p.add_argument("--heads", type=int, default=8, help="Graphormer heads")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--save", action="store_true")
    p.add_argument("--tag", default="", help="suffix of the output files: ghn<tag>.csv/.md/.png")
    p.add_argument("--merge", nargs="+", default=None, help="only report: combine ghn<tag>.csv of these tags into ghn{--tag}.{csv,md,png}")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    torch.set_num_threads(args.threads)
    RESULTS.mkdir(exist_ok=True)
    start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{(time.perf_counter() - start) / 60:5.1f} min] {msg}", flush=True)

    if args.merge:
        return merge(args)
    data = load_fashion_mnist()
    rows: list[dict[str, Any]] = []
    infos = []
    for seed in args.seeds:
        r, info = run_seed(seed, args, data, log)
        rows += r
        infos.append(info)
        keys = sorted({k for row in rows for k in row}, key=lambda k: (k not in ("seed", "set", "net"), k))
        with open(RESULTS / f"ghn{args.tag}.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
        (RESULTS / f"ghn_training{args.tag}.json").write_text(json.dumps(infos, indent=1) + "\n")
    write_markdown(rows, infos, args, (time.perf_counter() - start) / 60)
    plot(rows, args)
    log(f"wrote benchmarks/results/ghn{args.tag}.{{csv,md,png}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
