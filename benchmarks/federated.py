"""Personalised federated learning at pFedHN's protocol: pFedHN and PeFLL (hn.FederatedHypernet) against
local-only, FedAvg and FedAvg + fine-tuning, every method with the same budget of client SGD steps.

One process runs one (split, seed, method) and writes ``benchmarks/results/federated_<split>_s<seed>_<method>.json``;
``--merge`` reads every such file and writes ``benchmarks/results/federated.{md,csv,png}``. Protocol (pFedHN's code,
AvivSham/pFedHN, experiments/pfedhn/trainer.py) and the budget are in ``PROTOCOL`` below and in the merged report.

Run (needs `hypernet data fetch fashion-mnist` and `mnist`; one thread each; checkpoints under --work let a killed
pFedHN / PeFLL run resume where it stopped):
    python benchmarks/federated.py --split fmnist-path-50x2 --seed 0 --method pfedhn
    python benchmarks/federated.py --split fmnist-path-50x2 --seed 0 --method baselines
    python benchmarks/federated.py --merge
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from federated_report import merge

import hypernet as hn
from hypernet.recipes.federated import (
    ClientData,
    SmallCNN,
    dirichlet_partition,
    fedavg,
    local_only,
    pathological_partition,
    tensor_bytes,
    train_personal,
)

RESULTS = Path(__file__).parent / "results"
# The fifth split was declared before any run of it: Fashion-MNIST pathological 50 x 2 where every client keeps
# only the first 100 of its (shuffled) training images and the first 20 of its validation images; test unchanged.
SPLITS = {
    "fmnist-path-50x2": ("fashion-mnist", "pathological", 50, 2, None),
    "fmnist-path-100x2": ("fashion-mnist", "pathological", 100, 2, None),
    "fmnist-dir0.3-50": ("fashion-mnist", "dirichlet", 50, 0.3, None),
    "mnist-path-50x2": ("mnist", "pathological", 50, 2, None),
    "fmnist-path-50x2-n100": ("fashion-mnist", "pathological", 50, 2, 100),
}
METHODS = ("pfedhn", "baselines", "pefll")
BUDGET = 5000 * 50  # client SGD steps of every method: pFedHN's 5,000 server steps x 50 inner steps
PROTOCOL: dict[str, Any] = {
    "target": "LeNet: conv5 16 - pool - conv5 32 - pool - fc 120 - fc 84 - 10 (pFedHN's CNNTarget, 1 input channel)",
    "pfedhn": {
        "rounds": 5000, "clients_per_round": 1, "inner_steps": 50, "inner_lr": 5e-3, "inner_momentum": 0.9,
        "inner_weight_decay": 5e-5, "batch_size": 64, "inner_grad_clip": 50.0, "optimizer": "sgd", "lr": 1e-2,
        "momentum": 0.9, "weight_decay": 1e-3, "grad_clip": 50.0, "embedding_dim": "1 + N/4", "hidden": [100, 100, 100, 100],
        "init": "default", "eval_every": 100,
    },
    "pefll": {
        "rounds": 1000, "clients_per_round": 5, "inner_steps": 50, "inner_lr": 2e-3, "batch_size": 32, "optimizer": "adam",
        "lr": 2e-4, "weight_decay": 0.0, "embed_samples": 128, "eval_every": 20,
    },
    "local": {"max_steps_per_client": "budget / clients", "eval_every": 50, "patience": 10, "lr_grid": [5e-3, 5e-2]},
    "fedavg": {"clients_per_round": 10, "local_steps": 50, "rounds": "budget / 500", "eval_every": 10, "lr_grid": [5e-3, 5e-2],
               "pilot": "10 % of the rounds per lr", "finetune_steps": 500, "finetune_eval_every": 25, "finetune_patience": 4,
               "finetune_lr_grid": [5e-3, 5e-2]},
}  # fmt: skip


def load(name: str) -> tuple[torch.Tensor, ...]:
    if name == "mnist":
        m = hn.data.load_mnist()
        return torch.cat([m.x_train, m.x_valid]), torch.cat([m.y_train, m.y_valid]), m.x_test, m.y_test
    from hypernet.data.fashion_mnist import load_fashion_mnist

    f = load_fashion_mnist()
    return f.x_train, f.y_train, f.x_test, f.y_test


def partition(split: str, seed: int) -> list[ClientData]:
    data, kind, n, param, cap = SPLITS[split]
    x, y, xt, yt = load(data)
    if kind == "pathological":
        clients = pathological_partition(x, y, xt, yt, n, int(param), seed=seed)
    else:
        clients = dirichlet_partition(x, y, xt, yt, n, float(param), seed=seed)
    if cap is None:
        return clients
    return [
        ClientData.from_arrays(c.x_train[:cap], c.y_train[:cap], c.x_test, c.y_test, x_val=c.x_val[: cap // 5], y_val=c.y_val[: cap // 5])
        for c in clients
    ]


def target() -> torch.nn.Module:
    return SmallCNN(n_kernels=16, hidden=(120, 84))


def held_out(n: int, seed: int) -> list[int]:
    """10 % of the clients (seeded), never trained on: PeFLL's unseen clients, FedAvg's global model's too."""
    return sorted(int(i) for i in np.random.default_rng([seed, 4242]).choice(n, size=max(1, n // 10), replace=False))


def model_bytes() -> int:
    return tensor_bytes(dict(target().named_parameters()))


def run_hypernet(method: str, clients: list[ClientData], seen: list[int], held: list[int], seed: int, work: Path) -> dict[str, Any]:
    """pFedHN or PeFLL: fit with checkpoints (resumable), validation curve, test once at the best validation round."""
    p = PROTOCOL[method]
    n = len(clients)
    torch.manual_seed(seed)
    common = {k: p[k] for k in ("inner_steps", "inner_lr", "batch_size", "optimizer", "lr", "weight_decay", "clients_per_round")}
    if method == "pfedhn":
        extra = {"embedding": "learned", "inner_momentum": p["inner_momentum"], "inner_weight_decay": p["inner_weight_decay"],
                 "momentum": p["momentum"], "init": p["init"], "generator_kwargs": {"hidden": tuple(p["hidden"])}}  # fmt: skip
    else:
        extra = {"embedding": "data", "x_dim": 784, "n_classes": 10, "embed_samples": p["embed_samples"]}
    fed = hn.FederatedHypernet(target(), num_clients=n, seed=seed, **common, **extra)
    work.mkdir(parents=True, exist_ok=True)
    rows_file, best_file = work / "rows.json", work / "best.pt"
    resumed = fed.resume(work / "ckpt")
    rows: list[dict[str, float]] = json.loads(rows_file.read_text()) if resumed and rows_file.is_file() else []
    rows = [r for r in rows if r["round"] <= fed.round]
    t0 = time.perf_counter()
    seconds_before = rows[-1].get("seconds", 0.0) if rows else 0.0

    def keep(row: dict[str, float]) -> None:
        row = {
            **row,
            "steps": row["round"] * p["clients_per_round"] * p["inner_steps"],
            "seconds": seconds_before + time.perf_counter() - t0,
        }
        if all(row["val_acc"] > r["val_acc"] for r in rows):
            torch.save(fed.model.state_dict(), best_file)
        rows.append(row)
        rows_file.write_text(json.dumps(rows))
        print(f"{method} round {int(row['round'])} val {row['val_acc']:.4f} ({row['seconds']:.0f}s)", flush=True)

    fed.fit(clients, p["rounds"], train_clients=seen, eval_every=p["eval_every"], test=False, callback=keep,
            checkpoint_dir=work / "ckpt", checkpoint_every=p["eval_every"], keep_last=1)  # fmt: skip
    best = max(rows, key=lambda r: (r["val_acc"], -r["round"]))
    fed.model.load_state_dict(torch.load(best_file, weights_only=True))
    out: dict[str, Any] = {
        "val_acc": best["val_acc"], "test_acc": fed.evaluate(clients, "test", seen), "best_round": best["round"],
        "steps": p["rounds"] * p["clients_per_round"] * p["inner_steps"], "curve": [(r["steps"], r["val_acc"]) for r in rows],
        "seconds": rows[-1]["seconds"],
    }  # fmt: skip
    per_round = 2 * model_bytes() if method == "pfedhn" else None
    if method == "pefll":
        # the encoder goes down twice and its gradient comes back, plus the weights down, the delta and two vectors
        enc = tensor_bytes(dict(fed.model.condition.named_parameters()))
        per_round = 2 * model_bytes() + 3 * enc + 2 * 4 * fed.model.condition.dim
        out["unseen_test_acc"] = float(
            np.mean([hn.recipes.federated.accuracy(fed.personalize(clients[i]), clients[i].x_test, clients[i].y_test) for i in held])
        )
        out["seen_test_acc_same_clients_count"] = len(seen)
    assert per_round is not None
    out["bytes_per_round"] = per_round
    out["bytes_per_client"] = per_round * p["rounds"] * p["clients_per_round"] / len(seen)
    return out


def _stage(path: Path, run: Any) -> Any:
    """``run()``'s JSON result, cached in ``path``: a killed baselines process redoes only its unfinished stage."""
    if path.is_file():
        return json.loads(path.read_text())
    value = run()
    path.write_text(json.dumps(value))
    return value


def run_baselines(clients: list[ClientData], seen: list[int], held: list[int], seed: int, work: Path) -> dict[str, Any]:
    """Local-only (lr on validation), FedAvg (lr on validation in a 10 % pilot), FedAvg + FT (lr on validation)."""
    work.mkdir(parents=True, exist_ok=True)
    seen_clients = [clients[i] for i in seen]
    n = len(seen)
    out: dict[str, Any] = {}
    lp = PROTOCOL["local"]

    def local(lr: float) -> dict[str, Any]:
        t = time.perf_counter()
        res = local_only(
            target(), seen_clients, steps=BUDGET // len(clients), eval_every=lp["eval_every"], patience=lp["patience"], lr=lr, seed=seed
        )
        print(f"local lr {lr}: val {res.best['val_acc']:.4f} steps {res.best['steps']:.0f}", flush=True)
        curve = [(r["steps"], r["val_acc"]) for r in res.rounds]
        return {"val_acc": res.best["val_acc"], "test_acc": res.best["test_acc"], "lr": lr, "steps": res.best["steps"],
                "bytes_per_client": 0, "curve": curve, "seconds": time.perf_counter() - t}  # fmt: skip

    grid = [_stage(work / f"local_lr{lr}.json", lambda lr=lr: local(lr)) for lr in lp["lr_grid"]]
    out["local"] = {**max(grid, key=lambda g: g["val_acc"]), "grid_val": {g["lr"]: g["val_acc"] for g in grid}}
    out["local"]["steps_all_lrs"] = sum(g["steps"] for g in grid)
    fp = PROTOCOL["fedavg"]
    rounds = BUDGET // (fp["clients_per_round"] * fp["local_steps"])
    common = {"clients_per_round": fp["clients_per_round"], "local_steps": fp["local_steps"], "seed": seed, "train_clients": seen}

    def pilot_run(lr: float) -> dict[str, Any]:
        r = fedavg(target(), clients, max(1, rounds // 10), eval_every=fp["eval_every"], lr=lr, **common)
        print(f"fedavg pilot lr {lr}: val {r.best['val_acc']:.4f}", flush=True)
        return {"lr": lr, "val_acc": r.best["val_acc"]}

    pilot = {
        g["lr"]: g["val_acc"] for g in (_stage(work / f"fedavg_pilot_lr{lr}.json", lambda lr=lr: pilot_run(lr)) for lr in fp["lr_grid"])
    }
    lr = max(pilot, key=lambda k: pilot[k])
    pilot_steps = len(fp["lr_grid"]) * max(1, rounds // 10) * fp["clients_per_round"] * fp["local_steps"]
    state_file, done_file = work / "fedavg_state.pt", work / "fedavg_done.pt"
    if done_file.is_file():
        done = torch.load(done_file, weights_only=True)
    else:
        t = time.perf_counter()
        resume = torch.load(state_file, weights_only=True) if state_file.is_file() else None
        before = resume.pop("seconds", 0.0) if resume else 0.0

        def save(state: dict[str, Any]) -> None:
            torch.save({**state, "seconds": before + time.perf_counter() - t}, state_file)
            if state["round"] % 100 == 0:
                print(f"fedavg round {state['round']} val {state['rows'][-1]['val_acc']:.4f}", flush=True)

        res = fedavg(target(), clients, rounds, eval_every=fp["eval_every"], lr=lr, on_eval=save, resume=resume, **common)
        done = {"best": res.best, "rows": res.rounds, "steps": res.extra["steps"], "unseen": res.extra.get("unseen_test_acc"),
                "weights": res.best_weights, "seconds": before + time.perf_counter() - t}  # fmt: skip
        torch.save(done, done_file)
    bytes_per_client = 2 * model_bytes() * rounds * fp["clients_per_round"] / n
    out["fedavg"] = {
        "val_acc": done["best"]["val_acc"], "test_acc": done["best"]["test_acc"], "best_round": done["best"]["round"], "lr": lr,
        "pilot_val": pilot, "steps": done["steps"], "pilot_steps": pilot_steps, "bytes_per_client": bytes_per_client,
        "unseen_test_acc": done["unseen"], "curve": [(r["steps"], r["val_acc"]) for r in done["rows"]], "seconds": done["seconds"],
    }  # fmt: skip

    def finetune(ft_lr: float) -> dict[str, Any]:  # every client fine-tunes the best global model, stopping on its validation
        t = time.perf_counter()
        start = {k: v.expand(n, *v.shape) for k, v in done["weights"].items()}
        sgd = {"lr": ft_lr, "momentum": 0.9, "weight_decay": 5e-5, "batch_size": 64, "grad_clip": 50.0}
        rows, summary = train_personal(target(), start, seen_clients, steps=fp["finetune_steps"], eval_every=fp["finetune_eval_every"],
                                       patience=fp["finetune_patience"], sgd=sgd, seed=seed + 7)  # fmt: skip
        print(f"finetune lr {ft_lr}: val {summary['val_acc']:.4f} steps {summary['steps']:.0f}", flush=True)
        return {
            **summary,
            "lr": ft_lr,
            "curve": [(done["steps"] + r["steps"], r["val_acc"]) for r in rows],
            "seconds": time.perf_counter() - t,
        }

    fts = [_stage(work / f"finetune_lr{ft_lr}.json", lambda ft_lr=ft_lr: finetune(ft_lr)) for ft_lr in fp["finetune_lr_grid"]]
    ft = max(fts, key=lambda g: g["val_acc"])
    out["fedavg_ft"] = {**ft, "steps": done["steps"] + ft["steps"], "finetune_steps": ft["steps"], "bytes_per_client": bytes_per_client,
                        "grid_val": {g["lr"]: g["val_acc"] for g in fts}}  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", choices=list(SPLITS))
    p.add_argument("--seed", type=int)
    p.add_argument("--method", choices=[*METHODS, "all"], default="all")
    p.add_argument("--work", type=Path, default=Path.home() / ".cache" / "hypernet" / "federated_work", help="checkpoints (resume)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--merge", action="store_true", help="write federated.{md,csv,png} from every per-run file")
    p.add_argument("--smoke", action="store_true", help="a tiny run to check the script (writes under /tmp, not results/)")
    args = p.parse_args(argv)
    global RESULTS, BUDGET
    if args.smoke:  # 1/500 of every length: a check that everything runs, never a result
        RESULTS, BUDGET = Path("/tmp/federated_smoke"), BUDGET // 500
        RESULTS.mkdir(exist_ok=True)
        for k in ("pfedhn", "pefll"):
            PROTOCOL[k] = {**PROTOCOL[k], "rounds": PROTOCOL[k]["rounds"] // 500, "eval_every": 5}
        PROTOCOL["local"] = {**PROTOCOL["local"], "eval_every": 10, "patience": 2}
        PROTOCOL["fedavg"] = {**PROTOCOL["fedavg"], "eval_every": 2, "finetune_steps": 20, "finetune_eval_every": 10}
    if args.merge:
        merge(RESULTS, SPLITS, PROTOCOL, BUDGET)
        return
    if args.split is None or args.seed is None:
        p.error("--split and --seed are required (or --merge)")
    torch.set_num_threads(args.threads)
    clients = partition(args.split, args.seed)
    held = held_out(len(clients), args.seed)
    seen = [i for i in range(len(clients)) if i not in held]
    for method in METHODS if args.method == "all" else (args.method,):
        path = RESULTS / f"federated_{args.split}_s{args.seed}_{method}.json"
        if path.is_file():
            print(f"{path} exists: skipped", flush=True)
            continue
        start = time.perf_counter()
        if method == "baselines":
            result = run_baselines(clients, seen, held, args.seed, args.work / f"{args.split}_s{args.seed}_baselines")
        else:
            result = {method: run_hypernet(method, clients, seen, held, args.seed, args.work / f"{args.split}_s{args.seed}_{method}")}
        info = {"split": args.split, "seed": args.seed, "method": method, "clients": len(clients), "seen": len(seen), "held_out": held,
                "command": "python " + " ".join(sys.argv), "wall_seconds": time.perf_counter() - start, "threads": args.threads,
                "budget_steps": BUDGET, "results": result}  # fmt: skip
        path.write_text(json.dumps(info, indent=1, default=lambda o: None if isinstance(o, float) and math.isnan(o) else str(o)))
        print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
