"""HyperTabClassifier against RandomForest, XGBoost, logistic regression, an MLP and kNN on small tabular sets.

Protocol: stratified 5-fold cross-validation repeated with 3 shuffling seeds (15 fits per
model and data set), balanced accuracy on the held-out fold, and fit time. Every model
runs in the same process with one torch / BLAS / XGBoost thread (``torch.set_num_threads(1)``,
``n_jobs=1``), so times are comparable and the shared 2-core machine is not starved.
Models get their library defaults, except: RandomForest 500 trees; logistic regression,
MLP and kNN behind a ``StandardScaler`` (HyperTab standardises internally); MLP and
logistic regression with a larger ``max_iter``. No per-data-set tuning for anyone.

Writes ``benchmarks/results/hypertab_folds.csv`` (one row per fold), ``hypertab.csv``
(mean and std per data set and model), ``hypertab.md`` (the table, with the HyperTab
README's published numbers beside ours) and ``hypertab.png``.

Usage::

    python benchmarks/hypertab.py                        # the full run (about 30 min on one core)
    python benchmarks/hypertab.py --datasets sonar --models hypertab rf --seeds 0 --folds 2   # a quick look

mlbench tables are fetched with ``apt-get download r-cran-mlbench`` on first use
(``--mlbench PATH`` to use your own copy).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shlex
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import LabelEncoder

import hypernet as hn
from hypernet.data.tabular import load_tabular

DATASETS = ["wdbc", "sonar", "glass", "wine", "pima", "vehicle"]
MODELS = ["hypertab", "rf", "xgboost", "logreg", "mlp", "knn"]
EXTRA_MODELS = ["svm"]  # on request (--models svm): not in the list, used in the ablation notes
LABELS = {
    "hypertab": "HyperTab (ours)",
    "rf": "RandomForest",
    "xgboost": "XGBoost",
    "logreg": "LogReg (scaled)",
    "mlp": "MLP (sklearn)",
    "knn": "kNN (scaled)",
    "svm": "RBF SVM (scaled)",
}
# HyperTab README (github.com/wwydmanski/hypertab, "Performance"), the numbers the paper's authors publish.
PUBLISHED = {
    "wdbc": {"hypertab": 97.58, "rf": 95.96, "xgboost": 93.85},
    "sonar": {"hypertab": 87.09, "rf": 83.50, "xgboost": 83.52},
    "glass": {"hypertab": 98.36, "rf": 97.02, "xgboost": 94.74},
}
RESULTS = Path(__file__).resolve().parent / "results"
NOT_COMPARABLE = {"glass"}  # the published Glass numbers are not those of the 6-class set (see NOTES); not drawn
NOTES = [
    "HyperTab defaults throughout (50 members, half the features each, target MLP k-32-32-C, 100 epochs, batch 64, "
    "AdamW lr 3e-3 cosine-annealed, weight decay 1e-4); no tuning per data set, for any model.",
    "Published numbers are the HyperTab README's (its table has no wine, Pima or Vehicle). The protocols differ (their "
    "splits and tuning are not ours), so they are anchors, not a like-for-like comparison. Their Glass row (RF 97.02, "
    "HyperTab 98.36) cannot be the 6-class Glass used here, where the best model averages 74 % balanced accuracy: not comparable.",
    "Pima is used as shipped (zeros stand for missing values); WDBC is scikit-learn's breast cancer set.",
]


def hypertab_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs = {key: tuple(v) if isinstance(v, list) else v for key, v in json.loads(args.hypertab).items()}
    if args.epochs is not None:
        kwargs["epochs"] = args.epochs
    return kwargs


TRANSFORMS = ("none", "quantile", "power")


def make_model(name: str, seed: int, hypertab_kwargs: dict[str, Any], transform: str = "none") -> BaseEstimator:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PowerTransformer, QuantileTransformer, StandardScaler

    if name == "hypertab":
        model = hn.HyperTabClassifier(random_state=seed, **hypertab_kwargs)
        if transform == "quantile":
            return make_pipeline(QuantileTransformer(output_distribution="normal", random_state=0), model)
        if transform == "power":
            return make_pipeline(PowerTransformer(), model)
        return model
    if name == "rf":
        return RandomForestClassifier(n_estimators=500, random_state=seed, n_jobs=1)
    if name == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(random_state=seed, n_jobs=1, verbosity=0)
    if name == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    if name == "mlp":
        return make_pipeline(StandardScaler(), MLPClassifier(max_iter=2000, random_state=seed))
    if name == "knn":
        return make_pipeline(StandardScaler(), KNeighborsClassifier())
    if name == "svm":
        from sklearn.svm import SVC

        return make_pipeline(StandardScaler(), SVC())
    raise SystemExit(f"unknown model {name!r}; expected one of {MODELS + EXTRA_MODELS}")


def available(models: list[str]) -> list[str]:
    out = []
    for m in models:
        if m == "xgboost":
            try:
                import xgboost  # noqa: F401
            except ImportError:
                print("xgboost is not installed (pip install 'hypernet[bench]'); leaving it out", file=sys.stderr)
                continue
        out.append(m)
    return out


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    kwargs = hypertab_kwargs(args)
    for ds in args.datasets:
        data = load_tabular(ds, path=args.mlbench if ds not in ("wdbc", "wine", "iris", "digits") else None)
        X = data.X.to_numpy(dtype=np.float64)
        y = LabelEncoder().fit_transform(data.y)
        for seed in args.seeds:
            folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=seed)
            for fold, (tr, te) in enumerate(folds.split(X, y)):
                for name in args.models:
                    model = make_model(name, seed * 100 + fold, kwargs, args.transform)
                    started, cpu = time.perf_counter(), time.process_time()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        warnings.filterwarnings("ignore", message="n_quantiles")  # more quantiles than rows: clamped to the rows
                        model.fit(X[tr], y[tr])
                    fit_s, fit_cpu_s = time.perf_counter() - started, time.process_time() - cpu
                    started = time.perf_counter()
                    pred = model.predict(X[te])
                    pred_s = time.perf_counter() - started
                    score = 100 * balanced_accuracy_score(y[te], pred)
                    rows.append(
                        dict(
                            dataset=ds,
                            model=name,
                            seed=seed,
                            fold=fold,
                            bacc=round(score, 4),
                            fit_s=round(fit_s, 4),
                            fit_cpu_s=round(fit_cpu_s, 4),
                            predict_s=round(pred_s, 4),
                        )
                    )
                    print(f"{ds:8s} seed {seed} fold {fold} {name:9s} bacc {score:6.2f}  fit {fit_s:7.2f}s", flush=True)
    return rows


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The per-fold rows of an earlier run's ``*_folds.csv``."""
    with open(path, newline="") as f:
        rows: list[dict[str, Any]] = list(csv.DictReader(f))
    for r in rows:
        r.update(
            seed=int(r["seed"]), fold=int(r["fold"]), **{k: float(r[k]) for k in ("bacc", "fit_s", "fit_cpu_s", "predict_s") if k in r}
        )
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, float]]:
    out: dict[tuple[str, str], dict[str, float]] = {}
    for key in sorted({(r["dataset"], r["model"]) for r in rows}):
        sel = [r for r in rows if (r["dataset"], r["model"]) == key]
        scores = np.array([r["bacc"] for r in sel])
        per_seed = [np.mean([r["bacc"] for r in sel if r["seed"] == s]) for s in sorted({r["seed"] for r in sel})]
        out[key] = {
            "bacc_mean": float(scores.mean()),
            "bacc_std": float(scores.std(ddof=1)) if len(scores) > 1 else 0.0,
            "bacc_seed_std": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else 0.0,
            "fit_s_mean": float(np.mean([r["fit_s"] for r in sel])),
            "fit_cpu_s_mean": float(np.mean([r.get("fit_cpu_s", np.nan) for r in sel])),
            "n": len(sel),
        }
    return out


def predict_timing(hypertab_kwargs: dict[str, Any]) -> dict[str, float]:
    """Fit HyperTab on all of WDBC, then predict 10,000 rows (best of 3); wall-clock and CPU seconds."""
    data = load_tabular("wdbc")
    X, y = data.X.to_numpy(), data.y
    clf = hn.HyperTabClassifier(random_state=0, **hypertab_kwargs)
    fit_s, fit_cpu = _timed(lambda: clf.fit(X, y))
    big = np.random.default_rng(0).normal(X.mean(0), X.std(0), size=(10_000, X.shape[1]))
    runs = [_timed(lambda: clf.predict(big)) for _ in range(3)]
    return {"fit_s": fit_s, "fit_cpu_s": fit_cpu, "predict_s": min(r[0] for r in runs), "predict_cpu_s": min(r[1] for r in runs)}


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - started, time.process_time() - cpu


def write(
    rows: list[dict[str, Any]],
    summary: dict[tuple[str, str], dict[str, float]],
    args: argparse.Namespace,
    timing: dict[str, float] | None,
) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    prefix = args.prefix
    with open(out / f"{prefix}_folds.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with open(out / f"{prefix}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "model", "bacc_mean", "bacc_std", "bacc_seed_std", "fit_s_mean", "fit_cpu_s_mean", "n_fits", "published"])
        for (ds, m), s in summary.items():
            pub = PUBLISHED.get(ds, {}).get(m, "")
            w.writerow(
                [
                    ds,
                    m,
                    f"{s['bacc_mean']:.2f}",
                    f"{s['bacc_std']:.2f}",
                    f"{s['bacc_seed_std']:.2f}",
                    f"{s['fit_s_mean']:.3f}",
                    f"{s['fit_cpu_s_mean']:.3f}",
                    s["n"],
                    pub,
                ]
            )

    datasets = [d for d in args.datasets if any((d, m) in summary for m in args.models)]
    models = [m for m in args.models if any((d, m) in summary for d in datasets)]
    lines = [
        "# HyperTab benchmark",
        "",
        f"Command: `{args.command or shlex.join(['python', 'benchmarks/hypertab.py', *sys.argv[1:]])}`",
        "",
        f"Balanced accuracy (%) on held-out folds: stratified {args.folds}-fold CV x seeds {args.seeds} "
        f"= {args.folds * len(args.seeds)} fits per cell, mean ± std over those fits. "
        "`published` = the HyperTab README's table (github.com/wwydmanski/hypertab) for the same data set, where it has one.",
        "",
        f"Machine: {platform.machine()}, torch {torch.__version__}, one thread per model "
        "(`torch.set_num_threads(1)`, `n_jobs=1`), 2 shared CPU cores, no GPU.",
        "",
        "| data set | " + " | ".join(LABELS[m] for m in models) + " | published HyperTab | published RF | published XGB |",
        "|---|" + "---|" * (len(models) + 3),
    ]
    for ds in datasets:
        best = max(summary[(ds, m)]["bacc_mean"] for m in models if (ds, m) in summary)
        cells = []
        for m in models:
            s = summary.get((ds, m))
            text = f"{s['bacc_mean']:.2f} ± {s['bacc_std']:.2f}" if s else "—"
            cells.append(f"**{text}**" if s and s["bacc_mean"] == best else text)
        pub = PUBLISHED.get(ds, {})
        lines.append(
            f"| {ds} | " + " | ".join(cells) + " | " + " | ".join(str(pub.get(k, "—")) for k in ("hypertab", "rf", "xgboost")) + " |"
        )
    means = {m: np.mean([summary[(d, m)]["bacc_mean"] for d in datasets]) for m in models if all((d, m) in summary for d in datasets)}
    lines.append("| **mean** | " + " | ".join(f"{means[m]:.2f}" if m in means else "—" for m in models) + " | | | |")
    lines += [
        "",
        "Mean fit time per fold, wall-clock / CPU seconds (one thread; on a shared machine the CPU time is the steadier"
        " figure: it is what the fit takes on an idle core):",
        "",
        "| data set | " + " | ".join(LABELS[m] for m in models) + " |",
        "|---|" + "---|" * len(models),
    ]
    for ds in datasets:
        lines.append(
            f"| {ds} | "
            + " | ".join(
                f"{summary[(ds, m)]['fit_s_mean']:.2f} / {summary[(ds, m)]['fit_cpu_s_mean']:.2f}" if (ds, m) in summary else "—"
                for m in models
            )
            + " |"
        )
    if timing is not None:
        lines += [
            "",
            f"HyperTab on all 569 WDBC rows: fit {timing['fit_s']:.1f} s wall / {timing['fit_cpu_s']:.1f} s CPU; "
            f"predict on 10,000 rows: {timing['predict_s']:.3f} s wall / {timing['predict_cpu_s']:.3f} s CPU (best of 3).",
        ]
    notes = [*NOTES, *args.note]
    lines += ["", "Notes:", "", *[f"* {n}" for n in notes]]
    (out / f"{prefix}.md").write_text("\n".join(lines) + "\n")
    plot(summary, datasets, models, out / f"{prefix}.png")
    print("\n".join(lines))


def plot(summary: dict[tuple[str, str], dict[str, float]], datasets: list[str], models: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(datasets)), 4))
    width = 0.8 / len(models)
    for i, m in enumerate(models):
        xs = [j + i * width for j, d in enumerate(datasets) if (d, m) in summary]
        ys = [summary[(d, m)]["bacc_mean"] for d in datasets if (d, m) in summary]
        es = [summary[(d, m)]["bacc_std"] for d in datasets if (d, m) in summary]
        ax.bar(xs, ys, width, yerr=es, label=LABELS[m], capsize=2)
    for j, d in enumerate(datasets):
        if "hypertab" in PUBLISHED.get(d, {}) and d not in NOT_COMPARABLE:
            ax.plot([j - width / 2, j + 0.8 - width / 2], [PUBLISHED[d]["hypertab"]] * 2, "k--", lw=1)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(datasets))], datasets)
    ax.set_ylabel("balanced accuracy (%)")
    ax.set_ylim(40, 100)
    ax.set_title("HyperTab vs baselines (dashed: published HyperTab)")
    ax.legend(fontsize=7, ncol=3, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS + EXTRA_MODELS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None, help="HyperTab epochs (default: the estimator's)")
    parser.add_argument("--hypertab", default="{}", help="extra HyperTabClassifier arguments as JSON, e.g. '{\"n_members\": 32}'")
    parser.add_argument("--transform", default="none", choices=TRANSFORMS, help="input transform in front of HyperTab (ablation)")
    parser.add_argument("--mlbench", default=None, help="your copy of r-cran-mlbench (.deb or directory of .rda files)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--prefix", default="hypertab", help="file name stem of the outputs")
    parser.add_argument("--no-timing", action="store_true", help="skip the WDBC fit / 10k-row predict timing")
    parser.add_argument("--from-csv", default=None, help="rebuild the tables and plot from a *_folds.csv of an earlier run")
    parser.add_argument("--command", default=None, help="with --from-csv: the command line of that run, for the table")
    parser.add_argument("--note", action="append", default=[], help="an extra note for the markdown (repeatable)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.models = available(args.models)
    rows = read_rows(Path(args.from_csv)) if args.from_csv else run(args)
    kwargs = hypertab_kwargs(args)
    timing = None if args.no_timing or "hypertab" not in args.models else predict_timing(kwargs)
    write(rows, summarise(rows), args, timing)


if __name__ == "__main__":
    main()
