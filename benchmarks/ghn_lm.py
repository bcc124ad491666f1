"""Low-rank graph hypernetwork (LoGAH-style) for GPT-2 language models (issue 30, item 3).

Per seed, in one process:

1. **Data**: character-level language modelling on BBC News (2,225 articles) + Debian fortunes (7 pinned
   categories), documents shuffled with a fixed seed and joined; the character stream is split
   90 / 5 / 5 % into train / validation / test. Characters seen fewer than 20 times map to one ``?``.
2. **GHN training**: ``hn.GraphHyperNetwork(lowrank=r)`` on random GPT-2 configs of
   :class:`~hypernet.recipes.graph._gpt2.GPT2Sampler` (2-6 layers, width 64-256, 2-8 heads), each step
   ``--meta-batch`` models on one batch of ``--batch`` windows of ``--context`` characters.
3. **Evaluation** on the 10 held-out configs of ``_gpt2.HELD_OUT`` (four wider / deeper than training), or with
   ``--eval-set val`` on 4 configs drawn from the training ranges (for choosing settings; never the held-out ones):

   * loss of the predicted parameters (no training) on the validation and test streams, against PyTorch/HF default init
     (``--init-mix a`` then adds ``a`` x the default init to every predicted matrix before fine-tuning);
   * AdamW fine-tuning (lr ``--ft-lr``, 50 warm-up steps, weight decay 0.01, clip 1.0, same batches for both
     initialisations): default init for ``--ft-steps`` (1,000) steps gives the target validation loss; the GHN-initialised
     model trains until it reaches that loss (validation loss every ``--eval-every`` steps) or ``--ft-steps`` steps.
     Speed-up = ``ft_steps / steps_to_target``.

Writes ``benchmarks/results/ghn_lm<tag>.csv`` (one row per seed x config) and ``ghn_lm_training<tag>.json``;
``--merge`` combines per-seed tags into ``ghn_lm<tag>.{csv,md,png}``. ``--save`` writes the first seed's GHN to
``src/hypernet/recipes/graph/weights/ghn_gpt2-char.safetensors`` (+ ``.json`` with the vocabulary).

Usage: settings are chosen on the validation configs first (``--eval-set val``; the pilots in
``results/ghn_lm_pilot_val_*``), then the full benchmark runs one process per seed and merges::

    python benchmarks/ghn_lm.py --eval-set val --seeds 0 --tag _val_s0          # optional check of the defaults
    python benchmarks/ghn_lm.py --seeds 0 --tag _s0 --save
    python benchmarks/ghn_lm.py --seeds 1 --tag _s1
    python benchmarks/ghn_lm.py --seeds 2 --tag _s2
    python benchmarks/ghn_lm.py --merge _s0 _s1 _s2
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import torch
from torch import nn

import hypernet as hn
from hypernet.data.text_corpora import load_bbc, load_fortunes
from hypernet.recipes.graph._gpt2 import HELD_OUT, LAYERS, GPT2Sampler, GPT2Spec
from hypernet.recipes.graph.graph_hypernetwork import WEIGHTS

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RESULTS = Path(__file__).parent / "results"
ANCHOR = (
    "LoGAH (Zhou et al., 2024): GPT-2 initialised by LoGAH reaches lower perplexity than random init after the same "
    "fine-tuning budget on WikiText; predicted parameters alone are far from trained (different data, scale and models)"
)


# ----------------------------------------------------------------------------- data
class CharCorpus:
    """Character-level token streams (train / val / test) with a shared vocabulary."""

    def __init__(self, min_count: int = 20) -> None:
        docs = [t for texts in load_bbc().values() for t in texts] + [t for texts in load_fortunes().values() for t in texts]
        order = torch.randperm(len(docs), generator=torch.Generator().manual_seed(0)).tolist()
        text = "\n\n".join(docs[i] for i in order)
        counts = Counter(text)
        self.chars = "?" + "".join(sorted(c for c, n in counts.items() if n >= min_count and c != "?"))
        index = {c: i for i, c in enumerate(self.chars)}
        ids = torch.tensor([index.get(c, 0) for c in text], dtype=torch.long)
        a, b = int(0.9 * len(ids)), int(0.95 * len(ids))
        self.train, self.val, self.test = ids[:a], ids[a:b], ids[b:]

    @property
    def vocab(self) -> int:
        return len(self.chars)


def windows(stream: torch.Tensor, n: int, batch: int, context: int, generator: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``n`` batches of random windows: inputs ``(batch, context)`` and next-character targets."""
    out = []
    for _ in range(n):
        start = torch.randint(len(stream) - context - 1, (batch,), generator=generator)
        idx = start[:, None] + torch.arange(context + 1)
        seq = stream[idx]
        out.append((seq[:, :-1], seq[:, 1:]))
    return out


def lm_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = model(x).logits
    return nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())


@torch.no_grad()
def mean_loss(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    model.eval()
    return statistics.mean(float(lm_loss(model, x, y)) for x, y in batches)


def finetune(
    model: nn.Module,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    val: list[tuple[torch.Tensor, torch.Tensor]],
    args: argparse.Namespace,
    target: float | None = None,
) -> tuple[list[tuple[int, float]], int | None]:
    """AdamW with linear warm-up; validation loss every ``eval_every`` steps. Stops at ``target`` if given."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.ft_lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 50))
    curve = [(0, mean_loss(model, val))]
    if target is not None and curve[0][1] <= target:
        return curve, 0
    for step in range(1, args.ft_steps + 1):
        model.train()
        x, y = batches[step - 1]
        loss = lm_loss(model, x, y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % args.eval_every == 0:
            curve.append((step, mean_loss(model, val)))
            if target is not None and curve[-1][1] <= target:
                return curve, step
    return curve, None


def eval_specs(args: argparse.Namespace) -> list[GPT2Spec]:
    if args.eval_set == "held-out":
        return list(HELD_OUT)
    sampler = GPT2Sampler(vocab=2, context=1)
    g = torch.Generator().manual_seed(99)
    return [sampler.spec(g) for _ in range(4)]


# ----------------------------------------------------------------------------- one seed
class DepthCurriculum:
    """``GPT2Sampler`` whose deepest allowed model grows linearly from 2 layers to 6 over the first ``samples`` draws.

    Draws deeper than the current ceiling are rejected and redrawn, so at each depth ceiling the
    configs keep the sampler's own distribution.
    """

    def __init__(self, base: GPT2Sampler, samples: int) -> None:
        self.base, self.samples, self.drawn = base, max(1, samples), 0

    def ceiling(self) -> int:
        """The deepest number of layers allowed for the next draw."""
        frac = min(1.0, self.drawn / self.samples)
        return LAYERS[0] + int(frac * (LAYERS[-1] - LAYERS[0]) + 0.5)

    def sample(self, generator: torch.Generator) -> nn.Module:
        top = self.ceiling()
        self.drawn += 1
        while True:
            spec = self.base.spec(generator)
            if spec.layers <= top:
                return spec.build(self.base.vocab, self.base.context)


def run_seed(
    seed: int, args: argparse.Namespace, corpus: CharCorpus, log: Callable[[str], None]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    train = windows(corpus.train, args.steps, args.batch, args.context, g)
    ghn = hn.GraphHyperNetwork(
        hidden=args.hidden, block=(args.rows, 4, 1, 1), virtual_edges=args.virtual_edges, lowrank=args.rank, lowrank_rows=args.rows,
        encoder=args.encoder, layers=args.layers, heads=args.heads, weight_scale=args.weight_scale, bias_scale=args.bias_scale,
        positions=args.positions, residual=args.residual,
    )  # fmt: skip
    curve: list[float] = []
    ghn_file = Path(args.ghn_file.format(seed=seed)) if args.ghn_file else None
    if ghn_file is not None and ghn_file.exists():  # trained earlier by the same command with --train-only
        loaded = hn.GraphHyperNetwork.load(ghn_file)
        if loaded.config() != ghn.config():
            raise SystemExit(f"{ghn_file} holds a GHN built with {loaded.config()}, not this command's {ghn.config()}; "
                             "give the command that trained it, or another --ghn-file")  # fmt: skip
        ghn = loaded
        saved = json.loads(ghn_file.with_suffix(".json").read_text())
        curve, train_minutes = saved["train_loss"], saved["train_minutes"]
        log(f"seed {seed}: GHN loaded from {ghn_file} (trained {args.steps} steps in {train_minutes:.1f} min)")
    else:
        t0 = time.perf_counter()
        sampler: GPT2Sampler | DepthCurriculum = GPT2Sampler(corpus.vocab, args.context)
        if args.depth_curriculum > 0:  # the deepest allowed config grows over this fraction of the GHN's steps
            sampler = DepthCurriculum(sampler, int(args.depth_curriculum * args.steps * args.meta_batch))
        ghn.fit(sampler, train, steps=args.steps, meta_batch=args.meta_batch, lr=args.lr, seed=seed,
                callback=lambda s, loss, acc: curve.append(loss))  # fmt: skip
        train_minutes = (time.perf_counter() - t0) / 60
        if ghn_file is not None:
            ghn.save(ghn_file, info={"train_loss": curve, "train_minutes": train_minutes, "seed": seed,
                                     "command": "python benchmarks/ghn_lm.py " + " ".join(sys.argv[1:])})  # fmt: skip
    log(f"seed {seed}: GHN trained {args.steps} steps in {train_minutes:.1f} min; loss (last 50 steps) {statistics.mean(curve[-50:]):.3f}")
    if args.train_only:
        return [], {"seed": seed, "train_minutes": round(train_minutes, 2)}
    gv = torch.Generator().manual_seed(12345)  # the same validation / test windows for every seed
    val = windows(corpus.val, args.n_val, 16, args.context, gv)
    test = windows(corpus.test, args.n_val, 16, args.context, gv)
    ft_batches = windows(corpus.train, args.ft_steps, args.batch, args.context, g)
    rows: list[dict[str, Any]] = []
    for i, spec in enumerate(eval_specs(args)):
        torch.manual_seed(1000 * seed + i)
        model = spec.build(corpus.vocab, args.context)
        default = copy.deepcopy(model)
        t = time.perf_counter()
        ghn.initialize_(model)
        predict_ms = 1000 * (time.perf_counter() - t)
        row: dict[str, Any] = {
            "seed": seed, "net": str(spec), "layers": spec.layers, "width": spec.width, "heads": spec.heads,
            "params": sum(p.numel() for p in model.parameters()), "predict_ms": round(predict_ms, 1),
            "ghn_val0": mean_loss(model, val), "ghn_test0": mean_loss(model, test),
            "default_val0": mean_loss(default, val), "default_test0": mean_loss(default, test),
        }  # fmt: skip
        if args.init_mix:  # predicted + a share of the default init: full-rank, symmetry-breaking start
            with torch.no_grad():
                for p, p0 in zip(model.parameters(), default.parameters(), strict=True):
                    if p.dim() >= 2:
                        p.add_(args.init_mix * p0)
            row["init_val0"] = mean_loss(model, val)
        d_curve, _ = finetune(default, ft_batches, val, args)
        target = d_curve[-1][1]
        g_curve, reached = finetune(model, ft_batches, val, args, target=target)
        row.update(
            default_val_final=target,
            default_test_final=mean_loss(default, test),
            ghn_steps_to_target=reached if reached is not None else "",
            ghn_val_last=g_curve[-1][1],
            default_curve=json.dumps(d_curve),
            ghn_curve=json.dumps(g_curve),
        )
        rows.append(row)
        log(
            f"seed {seed}: {spec} ({row['params']:,} params): predicted val loss {row['ghn_val0']:.3f} (default init "
            f"{row['default_val0']:.3f}); default after {args.ft_steps} steps {target:.3f}; GHN init reaches it after "
            f"{reached if reached is not None else '>' + str(args.ft_steps)} steps"
        )
    info = {"seed": seed, "train_minutes": round(train_minutes, 2), "vocab": corpus.vocab,
            "train_curve": [round(statistics.mean(curve[i : i + 50]), 4) for i in range(0, len(curve), 50)]}  # fmt: skip
    if args.save and seed == args.seeds[0]:
        path = ghn.save(WEIGHTS / "ghn_gpt2-char.safetensors", info={
            "data": "BBC News + fortunes, character level (first 90 % of the shuffled stream)", "vocabulary": corpus.chars,
            "context": args.context, "sampler": "GPT2Sampler (2-6 layers, width 64-256, 2-8 heads)", "steps": args.steps,
            "meta_batch": args.meta_batch, "lr": args.lr, "batch": args.batch, "seed": seed,
            "command": "python benchmarks/ghn_lm.py " + " ".join(sys.argv[1:]),
        })  # fmt: skip
        log(f"saved {path}")
    return rows, info


# ----------------------------------------------------------------------------- reporting
def ms(values: list[float], digits: int = 2) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"


def write_markdown(rows: list[dict[str, Any]], infos: list[dict[str, Any]], args: argparse.Namespace) -> None:
    seeds = sorted({r["seed"] for r in rows})
    nets = list(dict.fromkeys(r["net"] for r in rows))
    lines = [
        "# Low-rank graph hypernetwork (LoGAH-style) on character-level GPT-2 language models",
        "",
        f"Commands: {args.ran}. Seeds {seeds}; mean ± std over seeds.",
        f"GHN: hidden {args.hidden}, {args.encoder} encoder, low-rank decoder r = {args.rank} with {args.rows}-row factor blocks, "
        f"weights × {args.weight_scale}, biases × {args.bias_scale}{', node positions' if args.positions else ''}; "
        f"trained {args.steps} steps × "
        f"{args.meta_batch} GPT-2 configs × {args.batch} windows of {args.context} characters, Adam lr {args.lr} "
        f"({statistics.mean(i['train_minutes'] for i in infos):.1f} min per seed). Vocabulary {infos[0]['vocab']} characters.",
        "GHN init: predicted parameters" + (f" + {args.init_mix} × default init (matrices)" if args.init_mix else "") + ". "
        f"Fine-tuning: AdamW lr {args.ft_lr}, 50 warm-up steps, weight decay 0.01, batch {args.batch}; validation loss every "
        f"{args.eval_every} steps on {args.n_val} × 16 windows.",
        "",
        f"| config | params | default init val loss | predicted params val loss | default + {args.ft_steps} steps (target) | "
        "GHN init steps to target | speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    met, speedups = 0, []
    for net in nets:
        sub = [r for r in rows if r["net"] == net]
        reached = [int(r["ghn_steps_to_target"]) for r in sub if r["ghn_steps_to_target"] not in ("", None)]
        steps = [s if s else args.eval_every for s in reached]
        per = [args.ft_steps / s for s in steps]
        speedups += per
        within = sum(1 for s in reached if s <= args.ft_steps // 2)
        met += within * 2 > len(sub)  # a config counts when most seeds reach the target within half the steps
        lines.append(
            f"| {net} | {sub[0]['params']:,} | {ms([float(r['default_val0']) for r in sub])} | {ms([float(r['ghn_val0']) for r in sub])} | "
            f"{ms([float(r['default_val_final']) for r in sub])} | "
            f"{', '.join(str(r['ghn_steps_to_target']) or f'>{args.ft_steps}' for r in sub)} | "
            f"{ms(per, 1) if per else '-'} |"
        )
    lines += [
        "",
        "## Target (issue 30)",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        f"| GHN init reaches default init's {args.ft_steps}-step validation loss in ≤ {args.ft_steps // 2} steps on ≥ 8 of 10 held-out "
        f"configs | {met}/{len(nets)} configs (majority of seeds); mean speed-up {statistics.mean(speedups) if speedups else 0:.1f}× "
        "(over runs that reached it) | " + ("yes" if met >= 8 else "no") + " |",
        "",
        f"Anchor (different data and scale): {ANCHOR}.",
        "",
    ]
    (RESULTS / f"ghn_lm{args.tag}.md").write_text("\n".join(lines))


def plot(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    nets = list(dict.fromkeys(r["net"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for k, (key, label, color) in enumerate((("default_val0", "default init", "tab:grey"), ("ghn_val0", "predicted (GHN)", "tab:orange"))):
        vals = [statistics.mean(float(r[key]) for r in rows if r["net"] == n) for n in nets]
        axes[0].bar([p + (k - 0.5) * 0.38 for p in range(len(nets))], vals, 0.38, label=label, color=color)
    axes[0].set_xticks(range(len(nets)), nets, rotation=45, ha="right")
    axes[0].set_ylabel("validation loss, no training")
    axes[0].legend()
    for r in rows:
        if r["seed"] != rows[0]["seed"]:
            continue
        d = json.loads(r["default_curve"])
        gcurve = json.loads(r["ghn_curve"])
        line = axes[1].plot([s for s, _ in d], [v for _, v in d], lw=0.8, color="tab:grey")[0]
        axes[1].plot([s for s, _ in gcurve], [v for _, v in gcurve], lw=0.8, color="tab:orange")
        del line
    axes[1].set_xlabel("AdamW steps")
    axes[1].set_ylabel("validation loss")
    axes[1].set_title(f"grey: default init, orange: GHN init (seed {rows[0]['seed']}; GHN stops at the target)")
    fig.tight_layout()
    fig.savefig(RESULTS / f"ghn_lm{args.tag}.png", dpi=110)


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def merge(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    infos: list[dict[str, Any]] = []
    for tag in args.merge:
        with open(RESULTS / f"ghn_lm{tag}.csv", newline="") as f:
            rows += [{**r, "seed": int(r["seed"]), "params": int(r["params"])} for r in csv.DictReader(f)]
        infos += json.loads((RESULTS / f"ghn_lm_training{tag}.json").read_text())
    common = " ".join(a for a in sys.argv[1 : sys.argv.index("--merge")])
    args.ran = "; ".join(
        f"`python benchmarks/ghn_lm.py {common} --seeds {i['seed']} --tag {t}`" for t, i in zip(args.merge, infos, strict=True)
    )
    args.ran += f"; merged by `python benchmarks/ghn_lm.py {common} --merge {' '.join(args.merge)}`"
    write_rows(rows, RESULTS / f"ghn_lm{args.tag}.csv")
    write_markdown(rows, infos, args)
    plot(rows, args)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--steps", type=int, default=800, help="GHN training steps")
    p.add_argument("--meta-batch", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--context", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--rank", type=int, default=64, help="low-rank decoder rank (chosen on a validation config, see the pilot)")
    p.add_argument("--positions", action="store_true", help="GraphHyperNetwork(positions=True): node-order sinusoids")
    p.add_argument("--residual", action="store_true", help="GraphHyperNetwork(residual=True): a correction to the default init")
    p.add_argument("--weight-scale", type=float, default=0.25, help="predicted weights x this (GPT-2 default init is std 0.02)")
    p.add_argument("--bias-scale", type=float, default=1.0, help="predicted biases x this (0: biases stay zero, as GPT-2 initialises them)")
    p.add_argument("--rows", type=int, default=256)
    p.add_argument("--virtual-edges", type=int, default=50)
    p.add_argument("--ft-steps", type=int, default=1000)
    p.add_argument("--ft-lr", type=float, default=1e-3)
    p.add_argument("--eval-every", type=int, default=25)
    p.add_argument("--init-mix", type=float, default=0.0, help="add this share of the default init to predicted matrices")
    p.add_argument("--n-val", type=int, default=8, help="validation / test batches of 16 windows")
    p.add_argument("--eval-set", choices=("held-out", "val"), default="held-out")
    p.add_argument("--encoder", choices=("gated", "graphormer"), default="gated", help="GHN-2 gated GNN or GHN-3 Graphormer")
    p.add_argument("--layers", type=int, default=3, help="Graphormer layers")
    p.add_argument(
        "--depth-curriculum",
        type=float,
        default=0.0,
        help="fraction of the GHN steps over which the deepest sampled config grows from 2 to 6",
    )
    p.add_argument("--heads", type=int, default=8, help="Graphormer heads")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--save", action="store_true")
    p.add_argument("--ghn-file", default="", help="GHN file per seed ('{seed}' replaced): loaded if it exists, else written")
    p.add_argument("--train-only", action="store_true", help="train (and write --ghn-file), evaluate nothing")
    p.add_argument("--tag", default="")
    p.add_argument("--merge", nargs="+", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    RESULTS.mkdir(exist_ok=True)
    start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{(time.perf_counter() - start) / 60:5.1f} min] {msg}", flush=True)

    if args.merge:
        return merge(args)
    corpus = CharCorpus()
    log(f"corpus: vocabulary {corpus.vocab}, {len(corpus.train):,} / {len(corpus.val):,} / {len(corpus.test):,} characters")
    rows: list[dict[str, Any]] = []
    infos = []
    for seed in args.seeds:
        r, info = run_seed(seed, args, corpus, log)
        if args.train_only:
            continue
        rows += r
        infos.append(info)
        write_rows(rows, RESULTS / f"ghn_lm{args.tag}.csv")
        (RESULTS / f"ghn_lm_training{args.tag}.json").write_text(json.dumps(infos, indent=1) + "\n")
    if args.train_only:
        return 0
    args.ran = f"`python benchmarks/ghn_lm.py {' '.join(sys.argv[1:] if argv is None else argv)}`"
    write_markdown(rows, infos, args)
    plot(rows, args)
    log(f"wrote benchmarks/results/ghn_lm{args.tag}.{{csv,md,png}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
