"""``python benchmarks/federated.py --merge``: every per-(split, seed, method) file into federated.{md,csv,png}."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

# (file method, key in its results, row name, clients scored, accuracy field)
ROWS = [
    ("pfedhn", "pfedhn", "pFedHN", "training 90 %", "test_acc"),
    ("pefll", "pefll", "PeFLL", "training 90 %", "test_acc"),
    ("baselines", "local", "Local only", "training 90 %", "test_acc"),
    ("baselines", "fedavg", "FedAvg", "training 90 %", "test_acc"),
    ("baselines", "fedavg_ft", "FedAvg + FT", "training 90 %", "test_acc"),
    ("pefll", "pefll", "PeFLL, unseen clients (no training)", "held-out 10 %", "unseen_test_acc"),
    ("baselines", "fedavg", "FedAvg global, unseen clients", "held-out 10 %", "unseen_test_acc"),
]
FIELDS = ["split", "seed", "method", "clients", "val_acc", "test_acc", "best_round", "lr", "steps", "bytes_per_client", "seconds"]


def _fmt(values: list[float]) -> str:
    if not values:
        return ""
    return f"{100 * np.mean(values):.2f} ± {100 * np.std(values):.2f} (n={len(values)})"


def merge(results: Path, splits: dict[str, Any], protocol: dict[str, Any], budget: int) -> None:
    files = sorted(results.glob("federated_*_s*_*.json"))
    runs = [json.loads(f.read_text()) for f in files]
    rows: list[dict[str, Any]] = []
    for run in runs:
        for method, key, name, who, field in ROWS:
            res = run["results"].get(key) if run["method"] == method else None
            if res is None or res.get(field) is None:
                continue
            rows.append({
                "split": run["split"], "seed": run["seed"], "method": name, "clients": who,
                "val_acc": res.get("val_acc") if field == "test_acc" else None, "test_acc": res[field],
                "best_round": res.get("best_round"), "lr": res.get("lr"), "steps": res.get("steps"),
                "bytes_per_client": res.get("bytes_per_client"), "seconds": res.get("seconds"),
            })  # fmt: skip
    with (results / "federated.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    [r[2] for r in ROWS]
    present = [s for s in splits if any(r["split"] == s for r in rows)]

    def picked(split: str, name: str, key: str) -> list[dict[str, Any]]:
        return [r for r in rows if r["split"] == split and r["method"] == name and r[key] is not None]

    def accs(split: str, name: str, key: str = "test_acc") -> list[float]:
        return [float(r[key]) for r in picked(split, name, key)]

    def by_seed(split: str, name: str) -> dict[int, float]:
        return {int(r["seed"]): float(r["test_acc"]) for r in picked(split, name, "test_acc")}

    lines = ["| method | clients scored | " + " | ".join(present) + " | client SGD steps | bytes per client |",
             "|---|---|" + "---|" * (len(present) + 2)]  # fmt: skip
    for _, _, name, who, _ in ROWS:
        if not any(accs(s, name) for s in present):
            continue
        steps = [float(r["steps"]) for r in rows if r["method"] == name and r["steps"] is not None]
        byts = [float(r["bytes_per_client"]) for r in rows if r["method"] == name and r["bytes_per_client"] is not None]
        cells = [_fmt(accs(s, name)) for s in present]
        lines.append(
            f"| {name} | {who} | " + " | ".join(cells) + f" | {np.mean(steps):,.0f} | {np.mean(byts) / 1e6:,.1f} MB |"
            if steps and byts
            else f"| {name} | {who} | " + " | ".join(cells) + " | | |"
        )

    checks = []  # each relation over the seeds that every method in it has (a mean of 2 seeds against 1 is not a comparison)
    for s in present:
        hn_, ft, loc = (by_seed(s, n) for n in ("pFedHN", "FedAvg + FT", "Local only"))
        common = sorted(set(hn_) & set(ft) & set(loc))
        if common:
            a, b, c = (np.mean([d[k] for k in common]) for d in (hn_, ft, loc))
            checks.append(f"* {s}: pFedHN {100 * a:.2f} vs FedAvg + FT {100 * b:.2f} ({'met' if a >= b else 'MISSED'}), "
                          f"vs local-only {100 * c:.2f} ({'met' if a > c else 'MISSED'}); seeds {common}")  # fmt: skip
        seen_, unseen = by_seed(s, "PeFLL"), by_seed(s, "PeFLL, unseen clients (no training)")
        both = sorted(set(seen_) & set(unseen))
        if both:
            gap = 100 * (np.mean([seen_[k] for k in both]) - np.mean([unseen[k] for k in both]))
            checks.append(f"* {s}: PeFLL seen {100 * np.mean([seen_[k] for k in both]):.2f} vs unseen "
                          f"{100 * np.mean([unseen[k] for k in both]):.2f}: gap {gap:.2f} points "
                          f"({'met' if gap <= 3 else 'MISSED'}, target <= 3); seeds {both}")  # fmt: skip
    expected = [f"{s}_s{k}_{m}" for s in splits for k in (0, 1, 2) for m in ("pfedhn", "baselines", "pefll")]
    have = {f"{r['split']}_s{r['seed']}_{r['method']}" for r in runs}
    missing = [e for e in expected if e not in have]
    wall = sum(float(r.get("wall_seconds", 0)) for r in runs)
    perf = results / "perf_federated.md"
    perf_lines = []
    if perf.is_file():
        text = perf.read_text().splitlines()
        perf_lines = [ln for ln in text if ln.startswith("|") or ln.startswith("Command") or ln.startswith("Load")]
    md = [
        "# Personalised federated learning at pFedHN's protocol: pFedHN / PeFLL vs baselines",
        "",
        f"Every method gets the same budget of client SGD steps: {budget:,} (pFedHN's 5,000 server steps x 50 inner steps).",
        "Mean ± std over seeds (n = seeds merged) of the mean over clients of each client's test accuracy (%), tested once:",
        "pFedHN / PeFLL / FedAvg at the best mean validation round (validation every 100 / 20 / 10 rounds), local-only and",
        "fine-tuning at each client's own best validation check. Bytes: tensors both ways over the whole training, per client.",
        "Raw rows: `federated.csv`; validation curves: `federated.png`; per-run files: `federated_<split>_s<seed>_<method>.json`.",
        "",
        *(lines if rows else ["No (split, seed, method) run has finished yet; see Runs below."]),
        "",
        "## The issue's relations (means over the seeds merged so far)",
        "",
        *(checks or ["* not enough runs merged yet"]),
        "",
        "## Runs",
        "",
        f"{len(runs)} of {len(expected)} per-(split, seed, method) files merged; {wall / 3600:.1f} h of wall time in them"
        " (one thread each, on 2 cores shared with other jobs: wall time is 2-5x the CPU time).",
        "",
        "Missing: " + (", ".join(missing) if missing else "none"),
        "",
        "Commands (one process each; `--method all` runs the three in turn; then `python benchmarks/federated.py --merge`):",
        "",
        *sorted({f"    {r['command']}" for r in runs}),
        "    python benchmarks/federated.py --split SPLIT --seed SEED --method {pfedhn,baselines,pefll}   # each missing run",
        "",
        *_in_progress(done={f.stem.removeprefix("federated_") for f in files}),
        "## Protocol",
        "",
        "```",
        json.dumps(protocol, indent=1),
        "```",
        "",
        *_notes(),
    ]
    if perf_lines:
        md += [
            "",
            "## One round of C clients, batched over clients vs one by one (`benchmarks/results/perf_federated.md`)",
            "",
            *perf_lines,
        ]
    (results / "federated.md").write_text("\n".join(md) + "\n")
    print("\n".join([*lines, "", *checks]))
    _plot(runs, present, results / "federated.png")


WORK = Path.home() / ".cache" / "hypernet" / "federated_work"


def _in_progress(done: set[str], work: Path = WORK) -> list[str]:
    """Validation progress of unfinished pFedHN / PeFLL runs (their checkpoints' rows; no test numbers); ``done``: finished runs."""
    out = []
    for rows_file in sorted(work.glob("*/rows.json")):
        if rows_file.parent.name in done:
            continue
        rows = json.loads(rows_file.read_text())
        if rows:
            last, best = rows[-1], max(rows, key=lambda r: r["val_acc"])
            out.append(
                f"* {rows_file.parent.name}: round {int(last['round'])}, mean validation accuracy {100 * last['val_acc']:.2f} % "
                f"(best {100 * best['val_acc']:.2f} % at round {int(best['round'])}), {last['seconds'] / 3600:.1f} h of wall time"
            )
    head = "In progress when this file was written (validation only; resumable from the checkpoints under --work):"
    return [head, "", *out, ""] if out else []


def _notes() -> list[str]:
    path = Path(__file__).with_name("federated_notes.md")
    return path.read_text().splitlines() if path.is_file() else []


def _plot(runs: list[dict[str, Any]], splits: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not splits:
        return
    fig, axes = plt.subplots(1, len(splits), figsize=(4.5 * len(splits), 3.6), squeeze=False)
    colors: dict[str, Any] = {}
    for ax, split in zip(axes[0], splits, strict=True):
        for run in runs:
            if run["split"] != split:
                continue
            for key, res in run["results"].items():
                curve = res.get("curve") or []
                if not curve:
                    continue
                xs, ys = zip(*[(s, 100 * v) for s, v in curve if v is not None and not math.isnan(v)], strict=True)
                c = colors.setdefault(key, f"C{len(colors)}")
                ax.plot(xs, ys, color=c, alpha=0.8, lw=1, label=f"{key} s{run['seed']}")
        ax.set_title(split, fontsize=9)
        ax.set_xlabel("client SGD steps")
        ax.set_ylabel("mean client validation accuracy (%)")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
