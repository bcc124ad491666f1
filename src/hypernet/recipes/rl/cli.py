"""``recipe: rl`` for ``hypernet train``: a tiny HyperZero and a tiny HyperPPO in one run (``examples/rl.yaml``).

``train`` fits a :class:`~hypernet.ZeroShotPolicy` on SAC experts of a few training contexts of a
family (experts cached under ``<run>/experts``), evaluates it on held-out contexts, then runs
:class:`~hypernet.MultiArchPolicy` on ``multi_arch.env`` and ranks a few sampled architectures.
It writes ``zero_shot.csv`` (context, split, return), ``multi_arch_curve.csv`` (step, episode
return), ``ranking.csv`` and ``returns.png``, and one checkpoint. ``hypernet export --cond
"1.1,0.9"`` writes the plain policy generated for that context.

Example:
    >>> from hypernet.cli.config import validate
    >>> cfg = validate({"recipe": "rl", "name": "doc"})
    >>> RLRecipe().parse_cond(cfg, "1.1, 0.9")
    [1.1, 0.9]
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from pydantic import Field
from torch import nn

from ...cli.config import RunConfig, Section
from ...cli.registry import Recipe, RunContext, register_recipe
from ...training.checkpoint import latest_checkpoint, save_checkpoint
from ...training.errors import UsageError
from ...training.loop import FitResult
from ...training.progress import Progress
from ...training.rng import seed_everything
from ._contexts import family
from .multi_arch_policy import ArchSwitch, MultiArchPolicy
from .zero_shot_policy import ZeroShotPolicy


class ZeroShotSection(Section):
    """``zero_shot:`` HyperZero on a context family."""

    family: Literal["pendulum", "pendulum_target", "ip_pole_mass", "ip_target", "idp_gravity", "cheetah_torso", "cheetah_speed"] = (
        "pendulum"
    )
    train_low: list[float] = Field(default_factory=lambda: [0.8, 0.8])
    train_high: list[float] = Field(default_factory=lambda: [1.2, 1.2])
    train_contexts: int = Field(default=3, ge=1)
    test_contexts: int = Field(default=2, ge=1)
    expert_steps: int = Field(default=300, ge=1)
    expert_hidden: list[int] = Field(default_factory=lambda: [64, 64])
    transitions: int = Field(default=200, ge=1)
    steps: int = Field(default=100, ge=1, description="hypernetwork training steps")
    hidden: list[int] = Field(default_factory=lambda: [32, 32])
    embedding_dim: int = Field(default=16, ge=1)
    episodes: int = Field(default=2, ge=1)


class MultiArchSection(Section):
    """``multi_arch:`` HyperPPO on one environment."""

    env: str = "CartPole-v1"
    total_steps: int = Field(default=2048, ge=1)
    depths: list[int] = Field(default_factory=lambda: [1, 2, 3])
    widths: list[int] = Field(default_factory=lambda: [4, 8, 16, 32, 64, 128, 256])
    n_envs: int = Field(default=4, ge=1)
    n_steps: int = Field(default=128, ge=1)
    n_epochs: int = Field(default=4, ge=1)
    batch_size: int = Field(default=128, ge=1)
    embedding_dim: int = Field(default=16, ge=1)
    arch_switch: ArchSwitch = Field(default="rollout", description="when the acting architecture changes (MultiArchPolicy's arch_switch)")
    fan_in_scaling: bool = False
    residual: bool = False
    candidates: int = Field(default=4, ge=1)
    episodes: int = Field(default=2, ge=1)


class RLConfig(RunConfig):
    """Config of the ``rl`` recipe."""

    recipe: Literal["rl"] = "rl"
    zero_shot: ZeroShotSection = Field(default_factory=ZeroShotSection)
    multi_arch: MultiArchSection = Field(default_factory=MultiArchSection)


class RLRun(nn.Module):
    """The two trained hypernetworks of a run, as one checkpointable module."""

    def __init__(self, zero_shot: ZeroShotPolicy, multi_arch: MultiArchPolicy) -> None:
        super().__init__()
        self.zero_shot = zero_shot
        self.multi_arch = multi_arch


def _contexts(config: RLConfig) -> tuple[np.ndarray, np.ndarray]:
    z = config.zero_shot
    fam = family(z.family)
    train = fam.sample(z.train_contexts, config.seed, z.train_low, z.train_high)
    test = fam.sample(z.test_contexts, config.seed + 1, z.train_low, z.train_high)
    return train, test


def _ma_env(config: RLConfig) -> gym.Env:
    return gym.make(config.multi_arch.env)


@register_recipe("rl")
class RLRecipe(Recipe):
    """HyperZero (:class:`~hypernet.ZeroShotPolicy`) and HyperPPO (:class:`~hypernet.MultiArchPolicy`), tiny."""

    config_class = RLConfig

    def build_model(self, config: RLConfig) -> RLRun:
        z, m = config.zero_shot, config.multi_arch
        fam = family(z.family)
        zs = ZeroShotPolicy(
            fam, hidden=tuple(z.hidden), embedding_dim=z.embedding_dim, steps=z.steps, lr=config.train.lr,
            expert_steps=z.expert_steps, transitions=z.transitions, seed=config.seed,
            sac_kwargs={"learning_starts": min(100, z.expert_steps // 2), "policy_kwargs": {"net_arch": list(z.expert_hidden)}},
        )  # fmt: skip
        probe = fam(fam.default)
        assert probe.observation_space.shape is not None and probe.action_space.shape is not None
        zs.build(int(probe.observation_space.shape[0]), int(probe.action_space.shape[0]))
        hp = MultiArchPolicy(
            tuple(m.depths), tuple(m.widths), embedding_dim=m.embedding_dim, n_envs=m.n_envs, n_steps=m.n_steps,
            n_epochs=m.n_epochs, batch_size=m.batch_size, arch_switch=m.arch_switch, fan_in_scaling=m.fan_in_scaling,
            residual=m.residual, seed=config.seed,
        ).build(_ma_env(config))  # fmt: skip
        return RLRun(zs, hp)

    def train(self, config: RLConfig, ctx: RunContext) -> FitResult:
        started = time.perf_counter()
        directory = ctx.run_dir / "checkpoints"
        done = latest_checkpoint(directory) if ctx.resume else None
        if done is not None:  # one training call: a checkpoint means the run is complete
            return FitResult(done.step, 1, [], {}, time.perf_counter() - started, ctx.run_dir, done.path, done.step)
        seed_everything(config.seed)
        run = self.build_model(config)
        z, m = config.zero_shot, config.multi_arch
        fam = family(z.family)
        train_ctx, test_ctx = _contexts(config)
        bar = Progress(z.steps, ctx.progress, desc="HyperZero")
        bar.write(f"experts: {len(train_ctx)} contexts x {z.expert_steps} SAC steps (cached in {ctx.run_dir / 'experts'})")
        run.zero_shot.fit(fam, train_ctx, experts=ctx.run_dir / "experts", progress=lambda _s, loss: bar.update({"loss": loss}))
        bar.close()
        rows = [("train", c, r) for c, r in zip(train_ctx, run.zero_shot.evaluate(fam, train_ctx, z.episodes, config.seed), strict=True)]
        rows += [("test", c, r) for c, r in zip(test_ctx, run.zero_shot.evaluate(fam, test_ctx, z.episodes, config.seed), strict=True)]
        experts = [("expert", c, e.meta["eval_return"]) for c, e in zip(train_ctx, run.zero_shot.experts_, strict=True)]
        _write_csv(ctx.run_dir / "zero_shot.csv", ["split", *fam.names, "return"], [[s, *c.tolist(), r] for s, c, r in rows + experts])

        bar = Progress(m.total_steps, ctx.progress, desc="HyperPPO")
        seen = [0]

        def tick(step: int, mean_return: float) -> None:
            bar.update({"return": mean_return}, n=step - seen[0])
            seen[0] = step

        run.multi_arch.fit(lambda: _ma_env(config), m.total_steps, progress=tick)
        bar.close()
        ranking = run.multi_arch.rank(run.multi_arch.sample(m.candidates, seed=config.seed + 1), lambda: _ma_env(config), m.episodes)
        _write_csv(ctx.run_dir / "multi_arch_curve.csv", ["step", "return"], [list(r) for r in run.multi_arch.curve_])
        _write_csv(
            ctx.run_dir / "ranking.csv", ["arch", "parameters", "return"], [[str(r.arch), r.parameters, r.mean_return] for r in ranking]
        )
        _plot(ctx.run_dir / "returns.png", rows + experts, run.multi_arch.curve_)
        path = save_checkpoint(directory, step=1, epoch=1, model=run, config=config.model_dump(mode="json"))
        metrics = {
            "eval/zero_shot_train_return": float(np.mean([r for s, _, r in rows if s == "train"])),
            "eval/zero_shot_test_return": float(np.mean([r for s, _, r in rows if s == "test"])),
            "eval/best_arch_return": ranking[0].mean_return,
        }
        losses = run.zero_shot.losses_
        return FitResult(1, 1, losses, metrics, time.perf_counter() - started, ctx.run_dir, path)

    def evaluate(self, config: RLConfig, model: nn.Module) -> dict[str, float]:
        if not isinstance(model, RLRun):
            raise UsageError(f"expected an RLRun, got {type(model).__name__}; pass the run directory of an rl run")
        z, m = config.zero_shot, config.multi_arch
        _, test_ctx = _contexts(config)
        returns = model.zero_shot.evaluate(family(z.family), test_ctx, z.episodes, config.seed)
        ranking = model.multi_arch.rank(model.multi_arch.sample(m.candidates, seed=config.seed + 1), lambda: _ma_env(config), m.episodes)
        return {"zero_shot_test_return": float(np.mean(returns)), "best_arch_return": ranking[0].mean_return}

    def parse_cond(self, config: RLConfig, text: str | None) -> list[float]:
        try:
            values = [float(v) for v in (text or "").split(",")]
        except ValueError:
            values = []
        fam = family(config.zero_shot.family)
        if len(values) != fam.dim:
            raise UsageError(
                f"expected --cond to be a context of {fam.dim} comma-separated numbers ({', '.join(fam.names)}), got {text!r}; "
                f"pass e.g. --cond {','.join(['1.0'] * fam.dim)}"
            )
        return values

    def materialize(self, config: RLConfig, model: nn.Module, cond: Any) -> nn.Module:
        if not isinstance(model, RLRun):
            raise UsageError(f"expected an RLRun, got {type(model).__name__}; pass the run directory of an rl run")
        return model.zero_shot.policy(cond)


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _plot(path: Path, zero_shot: list[tuple[str, np.ndarray, float]], curve: list[tuple[int, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    for split, marker in (("expert", "s"), ("train", "o"), ("test", "^")):
        ys = [r for s, _, r in zero_shot if s == split]
        left.scatter([split] * len(ys), ys, marker=marker)
    left.set_ylabel("return")
    left.set_title("HyperZero: generated policies")
    if curve:
        steps, returns = zip(*curve, strict=True)
        right.plot(steps, returns, ".", alpha=0.4)
    right.set_xlabel("environment steps")
    right.set_title("HyperPPO: training episodes")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
