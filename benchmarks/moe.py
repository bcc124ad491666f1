"""Mixture of experts from hypernetworks: HMOE on rotated-digit domain generalisation, HyperRouter in a character LM.

Two parts, each run as small independent processes that write their own JSON file under
``benchmarks/results/moe_parts/``; ``--merge`` combines them into ``benchmarks/results/moe.md``,
``moe_dg.csv``, ``moe_lm.csv`` and ``moe.png``.

**dg** (one process per data set x held-out domain x seed; ERM, plain MoE and HMOE in the same process):
    DomainBed's Rotated MNIST (``hypernet.data.rotated``: all 70,000 images dealt into the domains
    0, 15, 30, 45, 60, 75 degrees, 20 % of each held out), and the same construction on Fashion-MNIST.
    Leave one domain out: train on the other five (a batch of ``--batch`` images from each per
    step, Adam, lr 1e-3 as DomainBed's ERM default), checkpoint every ``steps / --checkpoints`` steps,
    and select the checkpoint with the best mean accuracy on the held-out 20 % of the *training*
    domains (DomainBed's training-domain validation); report the held-out domain's accuracy (its 80 %
    ``in`` split, as DomainBed's tables) at that checkpoint. No method sees domain labels.
    Backbone (smaller than DomainBed's MNIST_CNN, for the CPU budget): conv 1->16 (3x3) at 28x28,
    16->32 stride 2, 32->32 stride 2, 32->32, each ReLU + GroupNorm(8), global average pool -> 32 features.
    Heads on the 32 features: ERM an MLP 32-64-10; plain MoE ``HyperMoE(32, 10, 6 experts, top-2,
    experts="plain", router="learned", hidden=64)``; HMOE ``experts="hyper"`` (expert MLPs generated
    by the ``chunked`` generator from 8-d expert embeddings) with ``router="embedding"`` (HMOE's gate:
    similarity to the expert embeddings). Load-balancing loss weight 0.01 for both MoEs.
    NMI: normalised mutual information (sklearn) between each token's top-1 expert and its rotation
    domain, over the held-out 20 % of all six domains, at the selected checkpoint.

**lm** (one process per router x seed):
    A 4-layer pre-norm transformer (width 256, 4 heads, causal, dropout 0.1) whose MLP blocks
    (``nn.TransformerEncoderLayer``, ``dim_feedforward=512``, ReLU) are swapped for
    ``HyperMoE(16 experts, top-2, experts="plain")`` by ``swap_mlp``; routers: SMoE (``learned``),
    SMoE-Dropout (``random``, frozen), HyperRouter (``hyper``: frozen random hypernetwork, trainable
    16-d embedding). Character-level, BBC News + fortunes split by document (``hypernet.data.char_text``);
    ``--lm-steps`` steps of ``--lm-batch`` x ``--lm-context`` characters, Adam (lr 1e-3, 100 warm-up
    steps, cosine decay), balance loss 0.01. All routers train at top-2 (HyperRouter's scripts grow k
    during training; not here). Validation bits per character on fixed windows of the validation split
    at inference top-k = 1, 2, 4, 16.

Usage (the full benchmark: ``--plan`` prints its 45 processes; ``--queue 2`` runs the missing ones,
two at a time, logs in ``results/moe_parts/logs/``; then ``--merge``):
    python benchmarks/moe.py dg --dataset rmnist --domain 0 --seed 0
    python benchmarks/moe.py lm --router hyper --seed 0
    python benchmarks/moe.py --queue 2
    python benchmarks/moe.py --merge
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import hypernet as hn
from hypernet.data.rotated import ANGLES, Domain, rotated_fashion_mnist, rotated_mnist
from hypernet.recipes.moe import balance_loss, moe_layers, swap_mlp

RESULTS = Path(__file__).parent / "results"
PARTS = RESULTS / "moe_parts"
DATASETS: dict[str, Callable[[int], list[Domain]]] = {"rmnist": rotated_mnist, "rfmnist": rotated_fashion_mnist}
DG_METHODS = ("ERM", "plain MoE", "HMOE")
LM_ROUTERS = {"learned": "SMoE", "random": "SMoE-Dropout", "hyper": "HyperRouter"}
LM_KS = (1, 2, 4, 16)
# DomainBed, domainbed/results/2020_10_06_7df6f06/results.tex, RotatedMNIST, ERM, training-domain validation
DOMAINBED_ERM = {0: 95.9, 15: 98.9, 30: 98.8, 45: 98.9, 60: 98.9, 75: 96.4, "avg": 98.0}


# ----------------------------------------------------------------------------- domain generalisation
def backbone() -> nn.Sequential:
    """A smaller DomainBed-style MNIST CNN: 28x28 -> 32 features."""

    def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride, 1), nn.ReLU(), nn.GroupNorm(8, cout)]

    return nn.Sequential(*block(1, 16, 1), *block(16, 32, 2), *block(32, 32, 2), *block(32, 32, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def gate_encoder(width: int = 16) -> nn.Sequential:
    """The MoEs' own embedding of the image for ``--gate input``: two strided 5x5 convolutions, mean-pooled.

    Pooled oriented-filter energies see how strokes are oriented more than which digit they draw.
    """
    return nn.Sequential(
        nn.Conv2d(1, width, 5, 2, 2),
        nn.ReLU(),
        nn.Conv2d(width, width, 5, 2, 2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.LayerNorm(width),  # unit-scale routing inputs: without it the pilot's routers collapsed onto one expert
    )


class DGNet(nn.Module):
    """Backbone + head; the MoE heads route on the backbone's features (``gate="features"``) or on :func:`gate_encoder`."""

    def __init__(self, method: str, experts: int, top_k: int, gate: str = "features") -> None:
        super().__init__()
        self.features = backbone()
        width = 16  # of the routing input, with gate="input"
        self.gate = gate_encoder(width) if gate == "input" and method != "ERM" else None
        route = None if self.gate is None else width
        self.head: nn.Module
        if method == "ERM":
            self.head = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10))
        elif method == "plain MoE":
            self.head = hn.HyperMoE(
                32, 10, experts, top_k, experts="plain", router="learned", hidden=64, activation=nn.ReLU(), route_dim=route
            )
        else:
            self.head = hn.HyperMoE(
                32, 10, experts, top_k, experts="hyper", router="embedding", hidden=64, activation=nn.ReLU(), embed_dim=8, route_dim=route
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate is not None:
            routed: torch.Tensor = self.head(self.features(x), route=self.gate(x))
            return routed
        out: torch.Tensor = self.head(self.features(x))
        return out


def routing_information(probs: torch.Tensor) -> torch.Tensor:
    """Mutual information between a token and its expert under the router: H(mean p) - mean H(p).

    Maximising it asks for confident routes per token and a balanced use of experts over the batch:
    a clustering objective for the router, as in latent-domain discovery.
    """
    eps = 1e-9
    mean = probs.mean(0)
    return -(mean * (mean + eps).log()).sum() + (probs * (probs + eps).log()).sum(1).mean()


@torch.no_grad()
def accuracy_and_experts(net: DGNet, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> tuple[float, torch.Tensor | None]:
    net.eval()
    correct, experts = 0, []
    for i in range(0, len(y), batch):
        correct += int((net(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
        if isinstance(net.head, hn.HyperMoE):
            experts.append(net.head.last_experts[:, 0].clone())
    net.train()
    return correct / len(y), torch.cat(experts) if experts else None


def run_dg(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    from sklearn.metrics import normalized_mutual_info_score

    domains = DATASETS[args.dataset](0)  # the domains are fixed (data seed 0); --seed changes init and batches
    test = domains[args.domain]
    train = [d for i, d in enumerate(domains) if i != args.domain]
    every = max(1, args.steps // args.checkpoints)
    out: dict[str, Any] = {
        "kind": "dg",
        "dataset": args.dataset,
        "domain": int(ANGLES[args.domain]),
        "seed": args.seed,
        "steps": args.steps,
    }
    out["settings"] = {
        "batch_per_domain": args.batch,
        "lr": args.lr,
        "checkpoint_every": every,
        "experts": args.experts,
        "top_k": args.top_k,
        "gate": args.gate,
        "route_mi": args.route_mi,
    }
    methods: dict[str, Any] = {}
    for method in [m for m in DG_METHODS if m in args.methods]:
        t0, c0 = time.perf_counter(), time.process_time()
        torch.manual_seed(args.seed)
        net = DGNet(method, args.experts, args.top_k, args.gate)
        opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=args.lr)
        gen = torch.Generator().manual_seed(1000 + args.seed)
        best: tuple[float, int, dict[str, torch.Tensor]] = (-1.0, 0, {})
        curve = []
        for step in range(1, args.steps + 1):
            idx = [torch.randint(0, len(d.y_in), (args.batch,), generator=gen) for d in train]
            x = torch.cat([d.x_in[i] for d, i in zip(train, idx, strict=True)])
            y = torch.cat([d.y_in[i] for d, i in zip(train, idx, strict=True)])
            loss = F.cross_entropy(net(x), y)
            if isinstance(net.head, hn.HyperMoE):
                loss = loss + args.balance * net.head.balance_loss
                if args.route_mi:
                    loss = loss - args.route_mi * routing_information(net.head.router_probs)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % every == 0 or step == args.steps:
                val = statistics.mean(accuracy_and_experts(net, d.x_out, d.y_out)[0] for d in train)
                curve.append((step, val))
                if val > best[0]:
                    best = (val, step, {k: v.detach().clone() for k, v in net.state_dict().items()})
        net.load_state_dict(best[2])
        test_acc, _ = accuracy_and_experts(net, test.x_in, test.y_in)
        res: dict[str, Any] = {"test_acc": 100 * test_acc, "val_acc": 100 * best[0], "selected_step": best[1], "curve": curve}
        if isinstance(net.head, hn.HyperMoE):
            assigned, labels = [], []
            for i, d in enumerate(domains):
                assigned.append(accuracy_and_experts(net, d.x_out, d.y_out)[1])
                labels.append(torch.full((len(d.y_out),), i))
            res["nmi"] = float(normalized_mutual_info_score(torch.cat(labels).numpy(), torch.cat(assigned).numpy()))  # type: ignore[arg-type]
            seen = [i for i in range(len(domains)) if i != args.domain]  # validation: the training domains' held-out 20 %
            res["nmi_val"] = float(
                normalized_mutual_info_score(torch.cat([labels[i] for i in seen]).numpy(), torch.cat([assigned[i] for i in seen]).numpy())
            )
        res["seconds"] = time.perf_counter() - t0
        res["cpu_seconds"] = time.process_time() - c0
        methods[method] = res
        where = f"{args.dataset} held-out {ANGLES[args.domain]:.0f} seed {args.seed} {method}"
        took = f"[{res['seconds']:.0f}s wall, {res['cpu_seconds']:.0f}s cpu]"
        nmi = f"nmi {res.get('nmi', float('nan')):.3f} (val {res.get('nmi_val', float('nan')):.3f})"
        log(f"{where}: test {res['test_acc']:.2f} (val {res['val_acc']:.2f} @ {best[1]}) {nmi} {took}")
    out["methods"] = methods
    return out


# ----------------------------------------------------------------------------- char language model
class CharLM(nn.Module):
    def __init__(
        self, vocab: int, context: int, router: str, width: int = 256, layers: int = 4, heads: int = 4, router_dim: int = 256
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.pos = nn.Parameter(torch.zeros(context, width))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(width, heads, 512, dropout=0.1, activation="relu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        swap_mlp(self.blocks, num_experts=16, top_k=2, experts="plain", router=router, router_dim=router_dim)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, vocab)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(context), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        h = self.embed(ids) + self.pos[:t]
        h = self.blocks(h, mask=self.mask[:t, :t], is_causal=True)
        out: torch.Tensor = self.out(self.norm(h))
        return out


def _windows(data: torch.Tensor, starts: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    idx = starts.unsqueeze(1) + torch.arange(length + 1)
    chunk = data[idx]
    return chunk[:, :-1], chunk[:, 1:]


@torch.no_grad()
def bits_per_char(model: CharLM, valid: torch.Tensor, context: int, windows: int, k: int) -> float:
    model.eval()
    for layer in moe_layers(model):
        layer.top_k = k
    starts = torch.linspace(0, len(valid) - context - 2, windows).long()  # fixed, evenly spread windows
    total, count = 0.0, 0
    for part in starts.split(32):
        x, y = _windows(valid, part, context)
        total += float(F.cross_entropy(model(x).flatten(0, 1), y.flatten(), reduction="sum"))
        count += y.numel()
    model.train()
    return total / count / math.log(2)


def ngram_bpc(train: torch.Tensor, valid: torch.Tensor, vocab: int) -> dict[str, float]:
    """Validation bits per character of add-one unigram and bigram models of the training split (reference points)."""
    uni = torch.bincount(train, minlength=vocab).double() + 1
    uni = uni / uni.sum()
    big = torch.ones(vocab, vocab, dtype=torch.double)
    big.index_put_((train[:-1], train[1:]), torch.ones(len(train) - 1, dtype=torch.double), accumulate=True)
    big = big / big.sum(1, keepdim=True)
    return {"unigram": float(-uni[valid].log2().mean()), "bigram": float(-big[valid[:-1], valid[1:]].log2().mean())}


def run_lm(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    from hypernet.data.char_text import bbc_fortunes_chars

    corpus = bbc_fortunes_chars()
    torch.manual_seed(args.seed)
    model = CharLM(len(corpus.vocab), args.lm_context, args.router, router_dim=args.router_dim)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=args.lm_lr)
    warm = 100

    def lr_at(step: int) -> float:
        return min(1.0, step / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, step / args.lm_steps)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    gen = torch.Generator().manual_seed(2000 + args.seed)
    t0, c0 = time.perf_counter(), time.process_time()
    losses = []
    for step in range(1, args.lm_steps + 1):
        starts = torch.randint(0, len(corpus.train) - args.lm_context - 2, (args.lm_batch,), generator=gen)
        x, y = _windows(corpus.train, starts, args.lm_context)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        total = loss + args.balance * balance_loss(model)
        opt.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if step % max(1, args.lm_steps // 10) == 0:
            log(f"lm {args.router} seed {args.seed} step {step}: train bpc {statistics.mean(losses[-50:]) / math.log(2):.3f}")
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    bpc = {str(k): bits_per_char(model, corpus.valid, args.lm_context, args.lm_eval_windows, k) for k in LM_KS}
    log(
        f"lm {args.router} seed {args.seed}: valid bpc "
        + ", ".join(f"k={k} {v:.3f}" for k, v in bpc.items())
        + f" [{train_s:.0f}s wall, {train_cpu:.0f}s cpu training]"
    )
    return {
        "kind": "lm",
        "router": args.router,
        "method": LM_ROUTERS[args.router],
        "seed": args.seed,
        "steps": args.lm_steps,
        "settings": {
            "batch": args.lm_batch,
            "context": args.lm_context,
            "lr": args.lm_lr,
            "eval_windows": args.lm_eval_windows,
            "router_dim": args.router_dim,
        },
        "bpc": bpc,
        "ngram_bpc": ngram_bpc(corpus.train, corpus.valid, len(corpus.vocab)),
        "train_bpc_last50": statistics.mean(losses[-50:]) / math.log(2),
        "train_seconds": train_s,
        "train_cpu_seconds": train_cpu,
        "seconds": time.perf_counter() - t0,
    }


# ----------------------------------------------------------------------------- merge
def _ms(values: list[float], digits: int = 2) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f} (n=1)"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _mean(values: list[float]) -> float:
    return statistics.mean(values) if values else float("nan")


def merge(tag: str) -> int:
    pattern = re.compile(rf"^(dg|lm)_.*_s\d+{re.escape(tag)}\.json$")
    parts = [json.loads(p.read_text()) for p in sorted(PARTS.glob("*.json")) if pattern.match(p.name)]
    dg = [p for p in parts if p["kind"] == "dg"]
    lm = [p for p in parts if p["kind"] == "lm"]
    lines = ["# Mixture of experts from hypernetworks: HMOE (domain generalisation) and HyperRouter (character LM)", ""]
    lines += [f"Merged from {len(parts)} files in `benchmarks/results/moe_parts/` by `python benchmarks/moe.py --merge`.", ""]
    rows = []
    for p in dg:
        for m, r in p["methods"].items():
            rows.append({"dataset": p["dataset"], "domain": p["domain"], "seed": p["seed"], "method": m, "steps": p["steps"],
                         "test_acc": r["test_acc"], "val_acc": r["val_acc"], "selected_step": r["selected_step"],
                         "nmi": r.get("nmi", ""), "seconds": round(r["seconds"], 1)})  # fmt: skip
    if rows:
        with (RESULTS / f"moe_dg{tag}.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    for dataset in DATASETS:
        sub = [r for r in rows if r["dataset"] == dataset]
        if not sub:
            continue
        steps = sorted({r["steps"] for r in sub})
        lines += [f"## Domain generalisation: {dataset} (leave one domain out, training-domain validation; steps {steps})", ""]
        angles = [int(a) for a in ANGLES]
        lines += ["| method | " + " | ".join(f"{a}°" for a in angles) + " | avg | NMI (expert, domain) |", "|---" * (len(angles) + 3) + "|"]
        summary: dict[str, dict[Any, float]] = {}
        for m in DG_METHODS:
            cells, means = [], {}
            for a in angles:
                vals = [r["test_acc"] for r in sub if r["method"] == m and r["domain"] == a]
                cells.append(_ms(vals))
                means[a] = _mean(vals)
            seeds = sorted({r["seed"] for r in sub if r["method"] == m})
            per_seed_avg = [_mean([r["test_acc"] for r in sub if r["method"] == m and r["seed"] == s]) for s in seeds]
            nmi = [float(r["nmi"]) for r in sub if r["method"] == m and r["nmi"] != ""]
            means["avg"] = _mean(list(means.values()))
            means["nmi"] = _mean(nmi)
            summary[m] = means
            lines.append(f"| {m} | " + " | ".join(cells) + f" | {_ms(per_seed_avg)} | {_ms(nmi, 3) if nmi else '-'} |")
        if dataset == "rmnist":
            lines.append("| DomainBed ERM (published, MNIST_CNN, 5,000 steps, hyperparameter search) | "
                         + " | ".join(f"{DOMAINBED_ERM[a]}" for a in angles) + f" | {DOMAINBED_ERM['avg']} | - |")  # fmt: skip
        lines.append("")
        e, h, pm = summary["ERM"], summary["HMOE"], summary["plain MoE"]
        hardest = min((0, 75), key=lambda a: e[a] if not math.isnan(e[a]) else 1e9)
        lines += [
            "| target | measured | met |",
            "|---|---|---|",
            f"| HMOE mean over held-out domains ≥ ERM | {h['avg']:.2f} vs {e['avg']:.2f} | {'yes' if h['avg'] >= e['avg'] else 'no'} |",
            f"| HMOE ≥ ERM + 1 on the hardest domain ({hardest}°, ERM's lower of 0°/75°) | {h[hardest]:.2f} vs {e[hardest]:.2f} | "
            f"{'yes' if h[hardest] >= e[hardest] + 1 else 'no'} |",
            f"| HMOE NMI > plain MoE NMI | {h['nmi']:.3f} vs {pm['nmi']:.3f} | {'yes' if h['nmi'] > pm['nmi'] else 'no'} |",
            "",
        ]
    lm_rows = [
        {"method": p["method"], "router": p["router"], "seed": p["seed"], "steps": p["steps"],
         **{f"bpc_k{k}": v for k, v in p["bpc"].items()},
         "train_seconds": round(p["train_seconds"], 1), "train_cpu_seconds": round(p["train_cpu_seconds"], 1)}
        for p in lm
    ]  # fmt: skip
    if lm_rows:
        with (RESULTS / f"moe_lm{tag}.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(lm_rows[0]))
            w.writeheader()
            w.writerows(lm_rows)
        steps = sorted({r["steps"] for r in lm_rows})
        lines += [f"## Character LM, validation bits per character at inference top-k (trained at top-2; steps {steps})", ""]
        ngram = next((p["ngram_bpc"] for p in lm if "ngram_bpc" in p), None)
        dims = sorted({p["settings"].get("router_dim", 16) for p in lm if p["router"] == "hyper"})
        lines += [f"HyperRouter's trainable embedding: {dims} dimensions (`--router-dim`); commands in each part file.", ""]
        if ngram:
            lines += [
                f"Reference points on the same validation split: unigram {ngram['unigram']:.3f}, bigram {ngram['bigram']:.3f} bits/char.",
                "",
            ]
        lines += ["| method | " + " | ".join(f"k={k}" for k in LM_KS) + " | training CPU s |", "|---" * (len(LM_KS) + 2) + "|"]
        means: dict[str, dict[int, float]] = {}
        for m in LM_ROUTERS.values():
            sub = [r for r in lm_rows if r["method"] == m]
            means[m] = {k: _mean([r[f"bpc_k{k}"] for r in sub]) for k in LM_KS}
            lines.append(
                f"| {m} | "
                + " | ".join(_ms([r[f"bpc_k{k}"] for r in sub], 3) for k in LM_KS)
                + f" | {_ms([r['train_cpu_seconds'] for r in sub], 0)} |"
            )
        hr, sm, sd = means["HyperRouter"], means["SMoE"], means["SMoE-Dropout"]
        lines += [
            "",
            "| target | measured | met |",
            "|---|---|---|",
            f"| HyperRouter ≤ SMoE and ≤ SMoE-Dropout at k = 2 | {hr[2]:.3f} vs {sm[2]:.3f}, {sd[2]:.3f} | "
            f"{'yes' if hr[2] <= min(sm[2], sd[2]) else 'no'} |",
            f"| k 2 -> 1: HyperRouter loses less than SMoE-Dropout | +{hr[1] - hr[2]:.3f} vs +{sd[1] - sd[2]:.3f} | "
            f"{'yes' if hr[1] - hr[2] < sd[1] - sd[2] else 'no'} |",
            "",
        ]
    (RESULTS / f"moe{tag}.md").write_text("\n".join(lines) + "\n")
    plot(rows, lm_rows, RESULTS / f"moe{tag}.png")
    print("\n".join(lines))
    return 0


def plot(rows: list[dict[str, Any]], lm_rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    angles = [int(a) for a in ANGLES]
    for ax, dataset in zip(axes[:2], DATASETS, strict=True):
        for m in DG_METHODS:
            pts = [
                (a, _mean([r["test_acc"] for r in rows if r["dataset"] == dataset and r["method"] == m and r["domain"] == a]))
                for a in angles
            ]
            ax.plot(*zip(*pts, strict=True), marker="o", label=m)
        if dataset == "rmnist":
            ax.plot(angles, [DOMAINBED_ERM[a] for a in angles], "k--", label="DomainBed ERM (published)")
        ax.set(xlabel="held-out domain (degrees)", ylabel="test accuracy %", title=f"{dataset}: leave one domain out", xticks=angles)
        ax.legend()
    for m in LM_ROUTERS.values():
        pts = [(k, _mean([r[f"bpc_k{k}"] for r in lm_rows if r["method"] == m])) for k in LM_KS]
        axes[2].plot(*zip(*pts, strict=True), marker="o", label=m)
    axes[2].set(
        xscale="log", xlabel="experts per token at inference (k)", ylabel="validation bits / char", title="char LM, trained at k = 2"
    )
    axes[2].set_xticks(list(LM_KS), [str(k) for k in LM_KS])
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------- main
def plan(tag: str) -> list[str]:
    """Every process of the full benchmark (3 seeds)."""
    cmds = [f"python benchmarks/moe.py dg --dataset {d} --domain {i} --seed {s}{' --tag ' + tag if tag else ''}"
            for d in DATASETS for s in (0, 1, 2) for i in range(len(ANGLES))]  # fmt: skip
    cmds += [f"python benchmarks/moe.py lm --router {r} --seed {s}{' --tag ' + tag if tag else ''}" for s in (0, 1, 2) for r in LM_ROUTERS]
    return cmds


def part_name(args: argparse.Namespace) -> str:
    if args.part == "dg":
        return f"dg_{args.dataset}_d{int(ANGLES[args.domain])}_s{args.seed}{args.tag}.json"
    return f"lm_{args.router}_s{args.seed}{args.tag}.json"


def run_queue(tag: str, jobs: int, only: str | None = None) -> int:
    """Run every process of :func:`plan` whose part file is missing, at most ``jobs`` at a time (logs in moe_parts/logs/).

    ``only="dg"`` or ``"lm"`` keeps that part's processes, so two queues over disjoint parts can run side by side.
    """
    import shlex
    import subprocess
    import sys

    logs = PARTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    todo = []
    for cmd in plan(tag):
        argv = shlex.split(cmd)[2:]
        name = part_name(parse(argv))
        if not (PARTS / name).exists() and only in (None, argv[0]):
            todo.append((argv, name))
    print(f"{len(todo)} of {len(plan(tag))} processes to run, {jobs} at a time", flush=True)
    running: list[tuple[subprocess.Popen[bytes], str]] = []
    failed = 0
    while todo or running:
        while todo and len(running) < jobs:
            argv, name = todo.pop(0)
            log = (logs / name.replace(".json", ".log")).open("wb")
            running.append((subprocess.Popen([sys.executable, __file__, *argv], stdout=log, stderr=subprocess.STDOUT), name))
            print(f"started {name}", flush=True)
        time.sleep(5)
        for proc, name in list(running):
            if proc.poll() is not None:
                running.remove((proc, name))
                failed += proc.returncode != 0
                print(f"finished {name} (exit {proc.returncode})", flush=True)
    return 1 if failed else 0


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", nargs="?", choices=("dg", "lm"))
    p.add_argument("--dataset", choices=tuple(DATASETS), default="rmnist")
    p.add_argument("--domain", type=int, default=0, help="index of the held-out domain (0..5 = 0..75 degrees)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=800, help="dg: optimizer steps per method")
    p.add_argument("--batch", type=int, default=32, help="dg: images per training domain per step")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--checkpoints", type=int, default=8, help="dg: model-selection checkpoints per run (every 100 steps by default)")
    p.add_argument("--experts", type=int, default=6)
    p.add_argument("--top-k", type=int, default=2)
    p.add_argument("--balance", type=float, default=0.01)
    p.add_argument("--gate", choices=("features", "input"), default="features", help="dg: what the MoEs route on (see gate_encoder)")
    p.add_argument("--route-mi", type=float, default=0.0, help="dg: weight of the routing mutual-information loss (both MoEs)")
    p.add_argument("--methods", type=lambda v: v.split(","), default=list(DG_METHODS), help="dg: comma-separated subset of the methods")
    p.add_argument("--router", choices=tuple(LM_ROUTERS), default="hyper")
    p.add_argument("--lm-steps", type=int, default=1600)
    p.add_argument("--lm-batch", type=int, default=8)
    p.add_argument("--lm-context", type=int, default=128)
    p.add_argument("--lm-lr", type=float, default=1e-3)
    p.add_argument("--router-dim", type=int, default=256, help="lm, hyper router: embedding size (d_model as in HyperRouter; 16 at first)")
    p.add_argument("--lm-eval-windows", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tag", default="", help="suffix of the part files and of the merged report (pilots: --tag _pilot)")
    p.add_argument("--merge", action="store_true", help="combine the part files into moe<tag>.{md,png} and moe_dg/moe_lm<tag>.csv")
    p.add_argument("--plan", action="store_true", help="print the processes of the full benchmark")
    p.add_argument("--queue", type=int, metavar="JOBS", help="run the plan's missing parts, JOBS processes at a time")
    p.add_argument("--only", choices=("dg", "lm"), help="with --queue: only this part's processes")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.queue:
        return run_queue(args.tag, args.queue, args.only)
    if args.plan:
        print("\n".join(plan(args.tag)))
        return 0
    if args.merge:
        return merge(args.tag)
    if args.part is None:
        raise SystemExit("expected a part (dg or lm), --merge, --plan or --queue JOBS; see --help")
    torch.set_num_threads(args.threads)
    PARTS.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{(time.perf_counter() - start) / 60:5.1f} min] {msg}", flush=True)

    out = run_dg(args, log) if args.part == "dg" else run_lm(args, log)
    name = part_name(args)
    out["wall_seconds"] = time.perf_counter() - start
    out["cpu_seconds"] = time.process_time()
    out["command"] = "python benchmarks/moe.py " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
    (PARTS / name).write_text(json.dumps(out, indent=1) + "\n")
    log(f"wrote {PARTS / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
