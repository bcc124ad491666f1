"""Hypernetwork policies (issue 35): zero-shot transfer across task parameters (HyperZero) and many policy sizes (HyperPPO).

Every unit is a separate command that writes its own file, so the benchmark runs as background
processes (one thread each), resumes where it stopped and is merged at the end:

1. **Zero-shot transfer** (``zs-experts`` then ``zs``), per family in ``FAMILIES``:
   * contexts: 16 training contexts on a grid of the training box, 8 held-out contexts drawn
     uniformly inside it (fixed draw, the same for every seed) and 2 outside it;
   * experts: SB3 SAC per training context *and* per held-out context (the oracle), trained once
     (seed 0) and cached under ``--cache`` (safetensors + JSON): ``zs-experts`` trains the missing
     ones, one at a time, and can be stopped and restarted; an expert whose 3 checking episodes
     average below its family's ``min_return`` is retrained once with twice the SAC steps;
   * per seed (``zs --seed S``): expert transitions are collected (seeded), then
     **HyperZero** (:class:`hypernet.ZeroShotPolicy`: imitation + value + TD losses) and the
     **context-conditioned MLP** (state and context concatenated, same data, same losses and
     steps) are trained; both, the **nearest training expert** (nearest in the normalised
     context) and the **oracle** are evaluated on every held-out context (10 episodes each);
     ``--split val`` instead scores 8 other in-range contexts (drawn with seed 2027, no oracle) for
     choosing settings, into ``_val``-tagged files that the merge leaves out;
   * targets (means over in-range held-out contexts and seeds): HyperZero >= 90 % of the
     oracle's return; HyperZero >= context-conditioned + 5 % of the oracle's return on >= 2 of 3
     families. Returns are normalised as ``mean(R - R_random) / mean(R_oracle - R_random)`` over the
     contexts, with ``R_random`` the return of uniformly random actions, so that "90 %" means the
     same for negative-reward tasks (Pendulum) as for positive ones.
2. **Many policy sizes at once** (``ma-baseline`` then ``ma``), per environment in ``ENVS``:
   * 20 architectures (depth 1-3, widths 4-256, tanh) drawn once (seed 0);
   * ``ma-baseline``: SB3 PPO from scratch on each (policy ``net_arch`` = the architecture, value
     net 64x64), 1x the environment steps, one row per architecture (resumable);
   * ``ma --seed S``: :class:`hypernet.MultiArchPolicy` with 4x the steps, then the generated
     policy of each of the 20 architectures is evaluated (10 episodes, deterministic);
   * targets: generated >= 90 % of from-scratch on average; the smallest architecture within
     95 % of the best return, and its size against the default 64x64 policy.

``--merge`` reads every per-unit file in ``benchmarks/results/`` and writes ``rl.md`` with the
tables and ``rl_zero_shot.png`` / ``rl_multi_arch.png``.

Usage (the full run and its measured costs: ``benchmarks/results/rl_plan.md``):
    python benchmarks/rl.py zs-experts --family pendulum          # or two processes: --shard 0/2 and --shard 1/2
    python benchmarks/rl.py zs --family pendulum --seed 0     # and 1, 2
    python benchmarks/rl.py ma-baseline --env CartPole-v1
    python benchmarks/rl.py ma --env CartPole-v1 --seed 0      # and 1, 2
    python benchmarks/rl.py --merge
``--quick`` shrinks every budget (a smoke test of the whole pipeline, results not meaningful).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import hypernet as hn
from hypernet.recipes.rl import ContextFamily, family
from hypernet.recipes.rl._experts import Expert, get_expert
from hypernet.recipes.rl._rollouts import episode_returns, unscale_action
from hypernet.recipes.rl._solver import ContextMLP, stack_data, train_solver
from hypernet.recipes.rl.multi_arch_policy import ARCH_SWITCHES
from hypernet.recipes.rl.zero_shot_policy import actor_returns, expert_data

RESULTS = Path(__file__).parent / "results"
CACHE = Path.home() / ".cache" / "hypernet" / "rl"
EPISODES = 10
EVAL_SEED = 50_000

# The InvertedPendulum families' expert and hypernetwork budgets (ip_pole_mass's; ip_target reuses them untuned):
# HyperZero's 20,000 steps were chosen on ip_pole_mass's validation contexts (results/rl_zs_ip_select.md; 5,000 in round 1)
IP_BUDGETS: dict[str, Any] = {
    "expert_steps": 15_000, "transitions": 4000, "sac": {"policy_kwargs": {"net_arch": [64, 64]}}, "min_return": 900,
    "hyper": {"steps": 20_000},
}  # fmt: skip
# Per family: training box, outside contexts, expert and hypernetwork budgets.
FAMILIES: dict[str, dict[str, Any]] = {
    # Pendulum over (mass, length): dynamics
    "pendulum": {
        "train_low": [0.6, 0.6], "train_high": [1.4, 1.4], "grid": [4, 4], "outside": [[0.4, 0.4], [1.8, 1.8]],
        "expert_steps": 5000, "transitions": 4000, "sac": {}, "min_return": -200,
    },
    # InvertedDoublePendulum-v5 (MuJoCo) over gravity: SAC needs > 10k steps here (584 of ~9350 at 10k): optional
    "idp_gravity": {
        "train_low": [6.0], "train_high": [14.0], "grid": [16], "outside": [[4.0], [17.0]],
        "expert_steps": 10_000, "transitions": 4000, "sac": {"policy_kwargs": {"net_arch": [64, 64]}},
    },
    # InvertedPendulum-v5 (MuJoCo) over the pole's mass: dynamics, the cheapest MuJoCo experts
    "ip_pole_mass": {"train_low": [3.0], "train_high": [12.0], "grid": [16], "outside": [[2.0], [16.0]], **IP_BUDGETS},
    # InvertedPendulum rewarded for balancing with the cart at a target position: a MuJoCo reward family (eleventh
    # session, added because pendulum_target saturates: every method at 100-101 % of its oracle); the sibling
    # family's expert and hypernetwork budgets
    "ip_target": {"train_low": [-0.5], "train_high": [0.5], "grid": [16], "outside": [[-0.7], [0.7]], **IP_BUDGETS},
    # Pendulum rewarded for holding a target angle: a reward family (HyperZero's target-speed idea, affordable)
    "pendulum_target": {
        "train_low": [-0.25], "train_high": [0.25], "grid": [16], "outside": [[-0.35], [0.35]],
        "expert_steps": 5000, "transitions": 4000, "sac": {}, "min_return": -200,
    },
    # HalfCheetah families (the paper's kind): ~450 CPU-s per 30k-step expert, 26 experts per family: optional
    "cheetah_torso": {
        "train_low": [3.0], "train_high": [10.0], "grid": [16], "outside": [[1.5], [14.0]],
        "expert_steps": 30_000, "transitions": 4000, "sac": {"learning_starts": 5000, "policy_kwargs": {"net_arch": [128, 128]}},
    },
    "cheetah_speed": {
        "train_low": [0.5], "train_high": [3.0], "grid": [16], "outside": [[0.1], [4.0]],
        "expert_steps": 30_000, "transitions": 4000, "sac": {"learning_starts": 5000, "policy_kwargs": {"net_arch": [128, 128]}},
    },
}  # fmt: skip
HYPER = {"hidden": (64, 64), "embedding_dim": 32, "steps": 5000, "batch_size": 512, "lr": 1e-3, "value_weight": 0.01, "td_weight": 0.01}
MLP_HIDDEN = (256, 256)  # the context-conditioned baseline: wider than the generated nets (as in HyperZero's baselines)

# Per environment: PPO settings shared by HyperPPO and the from-scratch baselines, and 1x the steps.
ENVS: dict[str, dict[str, Any]] = {
    "CartPole-v1": {"steps": 50_000, "ppo": {"n_envs": 8, "n_steps": 256, "batch_size": 64, "n_epochs": 10, "lr": 3e-4, "gamma": 0.99}},
    "Pendulum-v1": {"steps": 100_000, "ppo": {"n_envs": 8, "n_steps": 512, "batch_size": 64, "n_epochs": 10, "lr": 1e-3, "gamma": 0.9}},
    "InvertedDoublePendulum-v5": {
        "steps": 100_000, "ppo": {"n_envs": 8, "n_steps": 256, "batch_size": 64, "n_epochs": 10, "lr": 3e-4, "gamma": 0.99},
    },
}  # fmt: skip
# HyperPPO's own settings, chosen on validation architectures (--arch-seed 1) of CartPole, 1 seed, 6 architectures,
# 1x = 12.5k steps: lr 3e-4 / 1e-3 / 3e-3 with minibatch 256 -> 30 % (test archs) / 89 % / 102 % of PPO from scratch
HYPER_PPO = {"lr": 3e-3, "batch_size": 256}
N_ARCHS = 20
DEPTHS, WIDTHS = (1, 2, 3), (4, 8, 16, 32, 64, 128, 256)


# ----------------------------------------------------------------------------- contexts
def contexts(name: str) -> dict[str, np.ndarray]:
    """The fixed training grid, held-out (in range), outside and validation (in range, for settings) contexts of a family."""
    s, fam = FAMILIES[name], family(name)
    axes = [np.linspace(lo, hi, n) for lo, hi, n in zip(s["train_low"], s["train_high"], s["grid"], strict=True)]
    train = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, fam.dim)
    held = fam.sample(8, seed=2026, low=s["train_low"], high=s["train_high"])
    outside = np.asarray(s["outside"], dtype=np.float64)
    for c in outside:
        fam.check(c)
    val = fam.sample(8, seed=2027, low=s["train_low"], high=s["train_high"])
    return {"train": train, "in": held, "out": outside, "val": val}


def _expert(name: str, context: np.ndarray, cache: Path, quick: bool) -> Expert:
    s = FAMILIES[name]
    steps = 150 if quick else s["expert_steps"]
    sac = {**s["sac"], **({"learning_starts": 100, "policy_kwargs": {"net_arch": [32, 32]}} if quick else {})}
    where = cache / ("quick" if quick else "experts")
    expert = get_expert(family(name), context, name=name, steps=steps, seed=0, cache=where, sac_kwargs=sac)
    floor = s.get("min_return")
    if not quick and floor is not None and expert.meta["eval_return"] < floor:
        # a weak expert (its 3 checking episodes below the family's floor): one retry with twice the SAC steps,
        # cached under its own key, so every later call makes the same choice
        expert = get_expert(family(name), context, name=name, steps=2 * steps, seed=0, cache=where, sac_kwargs=sac)
    return expert


def _shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``."""
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N such as 0/2, got {text!r}") from None
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"expected 0 <= I < N in I/N, got {text!r}")
    return index, count


def _widths(text: str) -> tuple[int, ...]:
    """``"256,256"`` -> ``(256, 256)``."""
    return tuple(int(w) for w in text.split(","))


def zs_experts(args: argparse.Namespace) -> int:
    """Train (or find cached) every expert of a family: training contexts, then oracles."""
    ctx = contexts(args.family)
    todo = [*ctx["train"], *ctx["in"], *ctx["out"]]
    index, count = args.shard
    started = time.perf_counter()
    for i, c in enumerate(todo):
        if i % count != index:  # another shard's expert (two processes split a family's experts)
            continue
        t = time.perf_counter()
        e = _expert(args.family, c, args.cache, args.quick)
        print(f"[{i + 1}/{len(todo)}] {args.family} {np.round(c, 3).tolist()}: return {e.meta['eval_return']:.1f} "
              f"({e.meta['steps']} steps), "
              f"{'cached' if e.meta['loaded'] else f'trained in {time.perf_counter() - t:.0f}s'}", flush=True)  # fmt: skip
    print(f"done in {time.perf_counter() - started:.0f}s", flush=True)
    return 0


def _random_return(fam: ContextFamily, c: np.ndarray, seed: int) -> float:
    env = fam(c)
    rng = np.random.default_rng(seed)
    space = env.action_space
    assert isinstance(space, gym.spaces.Box)
    return float(np.mean(episode_returns(env, lambda _o: unscale_action(space, rng.uniform(-1, 1, space.shape)), EPISODES, EVAL_SEED)))


def _random_env_return(env_id: str) -> float:
    """Mean return of uniformly random actions in ``env_id`` (the 0 % of the many-sizes table)."""
    env = gym.make(env_id)
    env.action_space.seed(EVAL_SEED)
    return float(np.mean(episode_returns(env, lambda _o: env.action_space.sample(), EPISODES, EVAL_SEED)))


def _normalised(value: float, reference: float, random: float) -> float:
    """``value`` as a share of ``reference``'s improvement over random actions (1.0: as good as the reference)."""
    return (value - random) / (reference - random)


def zs_seed(args: argparse.Namespace) -> int:
    """HyperZero, the context-conditioned MLP, nearest expert and oracle on one family, one seed."""
    out = RESULTS / f"rl_zs_{args.family}_s{args.seed}{args.tag}.csv"
    if args.split == "val" and not args.tag.startswith("_val"):
        raise SystemExit("--split val writes validation files: give a --tag starting with _val (kept out of the merge)")
    if out.exists():
        print(f"{out} exists: nothing to do")
        return 0
    torch.manual_seed(args.seed)
    fam, s, ctx = family(args.family), FAMILIES[args.family], contexts(args.family)
    train_experts = [_expert(args.family, c, args.cache, args.quick) for c in ctx["train"]]
    started = time.perf_counter()
    overrides = {k: v for k, v in (("steps", args.hyper_steps), ("hidden", args.hyper_hidden)) if v is not None}
    hyper = {**HYPER, **s.get("hyper", {}), **overrides, **({"steps": 50} if args.quick else {})}
    transitions = 200 if args.quick else s["transitions"]
    _, parts = expert_data(fam, ctx["train"], train_experts, expert_steps=0, transitions=transitions, seed=args.seed)
    zs = hn.ZeroShotPolicy(fam, seed=args.seed, **hyper)
    data = stack_data(parts, zs.normalize(ctx["train"]).numpy())
    obs_dim, act_dim = data["obs"].shape[1], data["action"].shape[1]
    zs.fit_data(data, obs_dim, act_dim)
    hz_seconds = time.perf_counter() - started
    torch.manual_seed(args.seed)
    mlp = ContextMLP(obs_dim, act_dim, fam.dim, MLP_HIDDEN)
    t = time.perf_counter()
    train_solver(
        mlp, list(mlp.parameters()), data, steps=hyper["steps"], batch_size=hyper["batch_size"], lr=hyper["lr"],
        value_weight=hyper["value_weight"], td_weight=hyper["td_weight"], q_scale=float(zs.q_scale), seed=args.seed,
    )  # fmt: skip
    mlp_seconds = time.perf_counter() - t

    class MLPActor(torch.nn.Module):
        def __init__(self, c: torch.Tensor) -> None:
            super().__init__()
            self.c = c

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return mlp.net.actor(torch.cat([obs, self.c.expand(len(obs), -1)], -1))

    train_norm = zs.normalize(ctx["train"])
    rows: list[dict[str, Any]] = []
    for split in ("val",) if args.split == "val" else ("in", "out"):
        for c in ctx[split]:
            norm = zs.normalize(c)
            nearest = train_experts[int(torch.cdist(norm[None], train_norm)[0].argmin())]
            space = fam(c).action_space
            assert isinstance(space, gym.spaces.Box)
            returns = {
                "hyperzero": actor_returns(fam(c), zs.policy(c), EPISODES, EVAL_SEED),
                "context_mlp": actor_returns(fam(c), MLPActor(norm), EPISODES, EVAL_SEED),
                "nearest_expert": float(np.mean(episode_returns(fam(c), nearest.env_act(space), EPISODES, EVAL_SEED))),
                "random": _random_return(fam, c, args.seed),
            }
            if split != "val":  # validation contexts have no oracle expert (none is trained for them)
                oracle = _expert(args.family, c, args.cache, args.quick)
                returns["oracle"] = float(np.mean(episode_returns(fam(c), oracle.env_act(space), EPISODES, EVAL_SEED)))
            for method, value in returns.items():
                rows.append({"family": args.family, "seed": args.seed, "split": split, "context": json.dumps(np.round(c, 4).tolist()),
                             "method": method, "return": value})  # fmt: skip
            print(args.family, split, np.round(c, 3).tolist(), {k: round(v, 1) for k, v in returns.items()}, flush=True)
    rows.append(
        {"family": args.family, "seed": args.seed, "split": "cost", "context": "", "method": "hyperzero_seconds", "return": hz_seconds}
    )
    rows.append(
        {"family": args.family, "seed": args.seed, "split": "cost", "context": "", "method": "context_mlp_seconds", "return": mlp_seconds}
    )
    _write(out, rows)
    print(f"wrote {out}")
    return 0


# ----------------------------------------------------------------------------- many policy sizes
def architectures(env: gym.Env, n: int = N_ARCHS, seed: int = 0) -> tuple[hn.MLPSpace, list[hn.Architecture]]:
    """The fixed ``n`` architectures of an environment (drawn once, distinct; ``seed`` 0: test, 1: validation for settings)."""
    obs = env.observation_space.shape
    assert obs is not None
    space = env.action_space
    out = int(space.n) if isinstance(space, gym.spaces.Discrete) else int(space.shape[0])  # type: ignore[index]
    mlp = hn.MLPSpace(int(obs[0]), out, DEPTHS, WIDTHS, ("tanh",))
    return mlp, mlp.sample(n, generator=torch.Generator().manual_seed(seed), distinct=True)


def _steps(args: argparse.Namespace) -> int:
    return 2048 if args.quick else (args.steps or ENVS[args.env]["steps"])


def ma_baseline(args: argparse.Namespace) -> int:
    """SB3 PPO from scratch on each of the 20 architectures, 1x the steps (one appended row per architecture)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    out = RESULTS / f"rl_ma_baseline_{args.env}{args.tag}.csv"
    done = {r["arch"] for r in _read(out)} if out.exists() else set()
    mlp, archs = architectures(gym.make(args.env), args.archs, args.arch_seed)
    p = ENVS[args.env]["ppo"]
    for i, arch in enumerate(archs):
        if str(arch) in done:
            continue
        t = time.perf_counter()
        vec = make_vec_env(args.env, n_envs=p["n_envs"], seed=i)
        model = PPO("MlpPolicy", vec, n_steps=p["n_steps"], batch_size=p["batch_size"], n_epochs=p["n_epochs"], learning_rate=p["lr"],
                    gamma=p["gamma"], seed=i, device="cpu", verbose=0,
                    policy_kwargs={"net_arch": {"pi": list(arch.widths), "vf": [64, 64]}, "activation_fn": torch.nn.Tanh})  # fmt: skip
        model.learn(total_timesteps=_steps(args))
        ret = _sb3_return(model, gym.make(args.env))
        row = {"env": args.env, "arch": str(arch), "parameters": mlp.num_parameters(arch), "method": "ppo_scratch", "seed": i,
               "steps": _steps(args), "return": ret, "seconds": time.perf_counter() - t}  # fmt: skip
        _write(out, [row], append=True)
        print(f"[{i + 1}/{len(archs)}] {arch}: {ret:.1f} ({row['seconds']:.0f}s)", flush=True)
    return 0


def _sb3_return(model: Any, env: gym.Env) -> float:
    """Mean deterministic return of an SB3 model over the evaluation episodes."""
    return float(np.mean(episode_returns(env, lambda o: _clip(env, model.predict(o, deterministic=True)[0]), EPISODES, EVAL_SEED)))


def _clip(env: gym.Env, action: Any) -> Any:
    space = env.action_space
    return np.clip(action, space.low, space.high) if isinstance(space, gym.spaces.Box) else int(action)


def ma_seed(args: argparse.Namespace) -> int:
    """HyperPPO (4x the steps) on one environment, one seed; the 20 architectures' generated policies evaluated."""
    out = RESULTS / f"rl_ma_{args.env}_s{args.seed}{args.tag}.csv"
    if out.exists():
        print(f"{out} exists: nothing to do")
        return 0
    p = dict(ENVS[args.env]["ppo"])
    p.pop("lr")
    lr = args.hyper_lr or HYPER_PPO["lr"]
    p["batch_size"] = args.hyper_batch or HYPER_PPO["batch_size"]
    torch.manual_seed(args.seed)
    hp = hn.MultiArchPolicy(
        DEPTHS,
        WIDTHS,
        "tanh",
        lr=lr,
        seed=args.seed,
        critic_arch=args.critic_arch,
        fan_in_scaling=args.fan_in_scaling,
        residual=args.residual,
        arch_switch=args.arch_switch,
        **p,
    )
    t = time.perf_counter()
    last = [0.0]

    def progress(step: int, ret: float) -> None:
        if time.perf_counter() - last[0] > 60:
            last[0] = time.perf_counter()
            print(f"step {step}: mean return {ret:.1f} ({time.perf_counter() - t:.0f}s)", flush=True)

    hp.fit(lambda: gym.make(args.env), 4 * _steps(args), progress=progress)
    seconds = time.perf_counter() - t
    _, archs = architectures(gym.make(args.env), args.archs, args.arch_seed)
    rows = [{"env": args.env, "arch": str(r.arch), "parameters": r.parameters, "method": "hyperppo", "seed": args.seed,
             "steps": 4 * _steps(args), "return": r.mean_return, "seconds": seconds}
            for r in hp.rank(archs, lambda: gym.make(args.env), EPISODES, EVAL_SEED)]  # fmt: skip
    _write(out, rows)
    curve = RESULTS / f"rl_ma_curve_{args.env}_s{args.seed}{args.tag}.csv"
    _write(curve, [{"step": s, "return": r} for s, r in hp.curve_])
    print(f"wrote {out} ({seconds:.0f}s)")
    return 0


# ----------------------------------------------------------------------------- files, merge
def _write(path: Path, rows: list[dict[str, Any]], append: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not (append and path.exists())
    with path.open("w" if new else "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _ms(values: list[float], digits: int = 1) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"


ZS_METHODS = {"hyperzero": "HyperZero", "context_mlp": "context MLP", "nearest_expert": "nearest expert", "oracle": "oracle"}


def plot_zero_shot(rows: list[dict[str, str]], path: Path) -> None:
    """Return per held-out context (mean over seeds) of each method, one panel per family; outside contexts marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = sorted({r["family"] for r in rows})
    fig, axes = plt.subplots(1, len(families), figsize=(5 * len(families), 3.8), squeeze=False)
    for ax, fam in zip(axes[0], families, strict=True):
        sel = [r for r in rows if r["family"] == fam and r["split"] in ("in", "out")]
        contexts = sorted({r["context"] for r in sel}, key=lambda c: json.loads(c))
        outside = {r["context"] for r in sel if r["split"] == "out"}
        for i, (method, label) in enumerate(ZS_METHODS.items()):
            means = [statistics.mean(float(r["return"]) for r in sel if r["context"] == c and r["method"] == method) for c in contexts]
            ax.plot(range(len(contexts)), means, marker="os^x"[i], linestyle="-" if method == "hyperzero" else ":", label=label)
        for j, c in enumerate(contexts):
            if c in outside:
                ax.axvspan(j - 0.4, j + 0.4, color="0.9")
        ax.set_xticks(range(len(contexts)), [", ".join(f"{v:g}" for v in json.loads(c)) for c in contexts], rotation=60, fontsize=7)
        ax.set_title(f"{fam} (grey: outside the training box)", fontsize=9)
        ax.set_ylabel("return (mean over seeds)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_multi_arch(curves: dict[str, dict[int, list[dict[str, str]]]], path: Path, window: int = 20) -> None:
    """HyperPPO's training-episode returns (moving mean of ``window`` episodes) against environment steps, per env and seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = sorted(curves)
    fig, axes = plt.subplots(1, len(envs), figsize=(5 * len(envs), 3.5), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        for seed, rows in sorted(curves[env].items()):
            steps = np.array([float(r["step"]) for r in rows]) / 1000
            returns = np.array([float(r["return"]) for r in rows])
            if len(returns) >= window:
                smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
                ax.plot(steps[window - 1 :], smooth, label=f"seed {seed}")
        ax.set_title(f"HyperPPO on {env}", fontsize=9)
        ax.set_xlabel("environment steps (thousands)")
        ax.set_ylabel(f"training episode return ({window}-episode mean)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def merge(args: argparse.Namespace) -> int:
    tag = args.tag
    lines = [
        "# Hypernetwork policies for RL (issue 35): merged results",
        "",
        f"Merged by `python benchmarks/rl.py --merge{f' --tag {tag}' if tag else ''}`.",
        "",
    ]
    zs_rows = [r for p in sorted(RESULTS.glob(f"rl_zs_*_s*{tag}.csv")) if tag or p.stem.split("_")[-1].startswith("s") for r in _read(p)]
    if zs_rows:
        lines += ["## Zero-shot transfer", "",
                  "Normalised return: mean over contexts of (R - R_random) / mean over contexts of (R_oracle - R_random) "
                  "(R_random: uniformly random actions); mean ± std over seeds. A stricter reference, since an oracle expert "
                  "can be weaker than a neighbour's: HyperZero against the better of oracle and nearest expert per context.", "",
                  "| family | split | seeds | HyperZero | context MLP | nearest expert | oracle return | HyperZero ≥ 90 % "
                  "| HZ ≥ MLP + 5 % | HyperZero vs better expert |",
                  "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for fam in sorted({r["family"] for r in zs_rows}):
            for split in ("in", "out"):
                per_seed: dict[str, list[float]] = {m: [] for m in ("hyperzero", "context_mlp", "nearest_expert")}
                oracle_returns: list[float] = []
                strict: list[float] = []
                seeds = sorted({r["seed"] for r in zs_rows if r["family"] == fam})
                for seed in seeds:
                    sel = [r for r in zs_rows if r["family"] == fam and r["seed"] == seed and r["split"] == split]
                    by = {(r["context"], r["method"]): float(r["return"]) for r in sel}
                    cs = sorted({r["context"] for r in sel})
                    gap = statistics.mean(by[c, "oracle"] - by[c, "random"] for c in cs)
                    for m in per_seed:  # share of the oracle's improvement over random actions, averaged over contexts
                        per_seed[m].append(statistics.mean(by[c, m] - by[c, "random"] for c in cs) / gap)
                    oracle_returns.append(statistics.mean(by[c, "oracle"] for c in cs))
                    best_gap = statistics.mean(max(by[c, "oracle"], by[c, "nearest_expert"]) - by[c, "random"] for c in cs)
                    strict.append(statistics.mean(by[c, "hyperzero"] - by[c, "random"] for c in cs) / best_gap)
                hz, cm = statistics.mean(per_seed["hyperzero"]), statistics.mean(per_seed["context_mlp"])
                ok90 = ("yes" if hz >= 0.9 else "no") if split == "in" else "n/a"
                ok5 = ("yes" if hz >= cm + 0.05 else "no") if split == "in" else "n/a"
                pct = {m: _ms([100 * v for v in values]) for m, values in per_seed.items()}
                cells = [fam, split, str(len(seeds)), *(f"{pct[m]} %" for m in per_seed), _ms(oracle_returns), ok90, ok5]
                cells.append(f"{_ms([100 * v for v in strict])} %")
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    ma_rows = [
        r for p in sorted(RESULTS.glob(f"rl_ma_*{tag}.csv")) if "curve" not in p.name and (tag or p.stem.count("_") <= 3) for r in _read(p)
    ]
    if ma_rows:
        lines += ["## Many policy sizes at once", "",
                  "| env | archs | random actions | PPO from scratch | HyperPPO generated | HyperPPO seeds | generated, normalised "
                  "| smallest arch within 95 % of best | its parameters vs 64x64 |",
                  "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for env in sorted({r["env"] for r in ma_rows}):
            base = {r["arch"]: float(r["return"]) for r in ma_rows if r["env"] == env and r["method"] == "ppo_scratch"}
            seeds = sorted({r["seed"] for r in ma_rows if r["env"] == env and r["method"] == "hyperppo"})
            ratios, raw, smallest = [], [], ""
            gen: dict[str, list[float]] = {}
            rand = _random_env_return(env)
            params = {r["arch"]: int(r["parameters"]) for r in ma_rows if r["env"] == env}
            for seed in seeds:
                rows = {
                    r["arch"]: float(r["return"]) for r in ma_rows if r["env"] == env and r["method"] == "hyperppo" and r["seed"] == seed
                }
                for a, v in rows.items():
                    gen.setdefault(a, []).append(v)
                shared = [a for a in rows if a in base]
                if shared:
                    mean_gen, mean_base = statistics.mean(rows[a] for a in shared), statistics.mean(base[a] for a in shared)
                    ratios.append(_normalised(mean_gen, mean_base, rand))
                    raw.append(mean_gen)
            if gen:
                means = {a: statistics.mean(v) for a, v in gen.items()}
                best = max(means.values())
                fine = [a for a, v in means.items() if _normalised(v, best, rand) >= 0.95]
                small = min(fine, key=lambda a: params[a])
                env_obj = gym.make(env)
                mlp, _ = architectures(env_obj)
                ref = mlp.num_parameters(hn.Architecture((64, 64), ("tanh", "tanh")))
                smallest = f"{small} ({params[small]} params, return {means[small]:.1f}) | {params[small] / ref:.2f}x of {ref}"
            scratch = f"{statistics.mean(base.values()):.1f}" if base else "-"
            lines.append(
                f"| {env} | {len(base)} | {rand:.1f} | {scratch} | {_ms(raw)} | {len(seeds)} | {_ms([100 * r for r in ratios])} % "
                f"| {smallest or '- | -'} |"
            )
        lines += ["", "Returns are means over the architectures (HyperPPO: ± std over seeds). Normalised: (generated - random) / "
                  "(from scratch - random), per seed, so that 100 % means as good as PPO from scratch on negative-reward tasks "
                  "too; the target is 90 %. \"Within 95 % of best\" is measured the same way, against the best generated "
                  "architecture."]  # fmt: skip
    if zs_rows:
        plot_zero_shot(zs_rows, RESULTS / f"rl_zero_shot{tag}.png")
        lines += ["", f"![returns per held-out context](rl_zero_shot{tag}.png)"]
    curves: dict[str, dict[int, list[dict[str, str]]]] = {}
    for path in sorted(RESULTS.glob(f"rl_ma_curve_*_s*{tag}.csv")):
        match = re.fullmatch(rf"rl_ma_curve_(.+)_s(\d+){re.escape(tag)}", path.stem)
        if match:
            curves.setdefault(match.group(1), {})[int(match.group(2))] = _read(path)
    if curves:
        plot_multi_arch(curves, RESULTS / f"rl_multi_arch{tag}.png")
        lines += ["", f"![HyperPPO training returns](rl_multi_arch{tag}.png)"]
    (RESULTS / f"rl{tag}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / f'rl{tag}.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("unit", nargs="?", choices=["zs-experts", "zs", "ma-baseline", "ma"])
    help_family = "the plan's three: pendulum, ip_pole_mass, pendulum_target"
    p.add_argument("--family", choices=sorted(FAMILIES), default="pendulum", help=help_family)
    p.add_argument(
        "--shard", type=_shard, default=(0, 1), metavar="I/N", help="zs-experts: train only every N-th expert, from the I-th (0-based)"
    )
    p.add_argument("--env", choices=sorted(ENVS), default="CartPole-v1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, default=CACHE)
    p.add_argument("--quick", action="store_true", help="tiny budgets (pipeline check; results not meaningful)")
    p.add_argument("--merge", action="store_true")
    p.add_argument("--tag", default="", help="suffix of every file written / merged (e.g. _pilot); --quick implies _quick")
    p.add_argument("--steps", type=int, default=None, help="override 1x the environment steps of --env (pilots)")
    p.add_argument("--archs", type=int, default=N_ARCHS, help="architectures compared (default 20)")
    p.add_argument("--hyper-batch", type=int, default=None, help="HyperPPO minibatch size (default: HYPER_PPO)")
    p.add_argument("--hyper-lr", type=float, default=None, help="HyperPPO learning rate (default: HYPER_PPO; pick on --arch-seed 1)")
    p.add_argument("--critic-arch", action="store_true", help="HyperPPO's value function also reads the architecture code")
    p.add_argument("--residual", action="store_true", help="HyperPPO: shared supernet (near-zero output) + generated delta, zero at step 0")
    p.add_argument("--fan-in-scaling", action="store_true", help="HyperPPO: scale sliced weights by sqrt(max fan-in / fan-in)")
    p.add_argument(
        "--arch-switch",
        choices=ARCH_SWITCHES,
        default="rollout",
        help="HyperPPO: when the acting architecture changes",
    )
    p.add_argument("--arch-seed", type=int, default=0, help="0: the test architectures; 1: validation architectures (choose settings)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--split", choices=("test", "val"), default="test", help="zs: test (held-out + outside) or val (8 other in-range contexts)"
    )
    p.add_argument(
        "--hyper-steps",
        type=int,
        default=None,
        help="zs: training steps of HyperZero and the context MLP (default: the family's, else HYPER)",
    )
    p.add_argument("--hyper-hidden", type=_widths, default=None, help="zs: HyperZero's generated hidden widths, e.g. 256,256")
    args = p.parse_args(argv)
    if args.quick:
        global EPISODES
        EPISODES = 1
        args.tag = args.tag or "_quick"
    torch.set_num_threads(args.threads)
    if args.merge:
        return merge(args)
    units = {"zs-experts": zs_experts, "zs": zs_seed, "ma-baseline": ma_baseline, "ma": ma_seed}
    if args.unit is None:
        p.error("give a unit (zs-experts, zs, ma-baseline, ma) or --merge")
    return units[args.unit](args)


if __name__ == "__main__":
    sys.exit(main())
