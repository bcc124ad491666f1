"""Per-context experts: stable-baselines3 SAC trained on one context, cached on disk (safetensors + JSON).

An expert is trained once per (family, context, budget, seed) and written as
``<cache>/<key>.safetensors`` (the SB3 policy's state dict) beside ``<key>.json`` (context,
budget, training seconds, evaluation return). :func:`get_expert` loads a cached expert
without training. :func:`collect` runs an expert (with Gaussian exploration noise on the
executed action) and records what HyperZero learns from: the context, the state, the
expert's deterministic action, the executed action, reward, next state, discount and the
expert's Q-value of the executed action.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ..._io import atomic_write_bytes
from ...errors import ConfigError
from ._rollouts import episode_returns, unscale_action

__all__ = ["Expert", "collect", "expert_key", "get_expert"]

EnvFn = Callable[[Any], gym.Env]


@dataclass
class Expert:
    """A trained SB3 SAC model for one context; actions are in ``[-1, 1]`` (scaled like SB3's own buffers)."""

    context: np.ndarray
    model: Any  # stable_baselines3.SAC
    meta: dict[str, Any]

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic scaled actions ``(B, act_dim)`` for observations ``(B, obs_dim)``."""
        with torch.no_grad():
            o = torch.as_tensor(obs, dtype=torch.float32)
            return self.model.policy.actor(o, deterministic=True).numpy()

    def q(self, obs: np.ndarray, action: np.ndarray) -> np.ndarray:
        """``min(Q1, Q2)`` of scaled actions, shape ``(B,)``."""
        with torch.no_grad():
            o, a = torch.as_tensor(obs, dtype=torch.float32), torch.as_tensor(action, dtype=torch.float32)
            return torch.min(*self.model.policy.critic(o, a)).squeeze(-1).numpy()

    def env_act(self, space: gym.spaces.Box) -> Callable[[np.ndarray], np.ndarray]:
        """Observation -> environment action (for :func:`episode_returns`)."""
        return lambda obs: unscale_action(space, self.act(obs[None])[0])


def expert_key(name: str, context: np.ndarray, steps: int, seed: int) -> str:
    """The cache file stem of an expert."""
    values = "_".join(f"{v:.6g}" for v in np.asarray(context, dtype=np.float64).reshape(-1))
    return f"{name}-{values}-sac{steps}-seed{seed}"


def _new_sac(env: gym.Env, seed: int, sac_kwargs: dict[str, Any]) -> Any:
    from stable_baselines3 import SAC

    if not isinstance(env.action_space, gym.spaces.Box):
        raise ConfigError(
            f"expected a continuous (Box) action space for SAC experts, got {env.action_space}; use a continuous-control family"
        )
    return SAC("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **sac_kwargs)


def get_expert(
    env_fn: EnvFn,
    context: Any,
    *,
    name: str,
    steps: int,
    seed: int = 0,
    cache: str | Path | None = None,
    sac_kwargs: dict[str, Any] | None = None,
    eval_episodes: int = 3,
) -> Expert:
    """The expert of ``context``: loaded from ``cache`` if there, else trained for ``steps`` SAC steps (and stored).

    ``cache`` may start with ``~`` (the user's home).
    """
    kwargs = dict(sac_kwargs or {})
    cache = None if cache is None else Path(cache).expanduser()
    context = np.asarray(context, dtype=np.float64).reshape(-1)
    key = expert_key(name, context, steps, seed)
    env = env_fn(context)
    model = _new_sac(env, seed, kwargs)
    if cache is not None and (cache / f"{key}.json").exists():
        from safetensors.torch import load_file

        model.policy.load_state_dict(load_file(str(cache / f"{key}.safetensors")))
        meta = json.loads((cache / f"{key}.json").read_text())
        meta["loaded"] = True
        return Expert(context, model, meta)
    started = time.perf_counter()
    model.learn(total_timesteps=steps)
    seconds = time.perf_counter() - started
    expert = Expert(context, model, {})
    space = env.action_space
    assert isinstance(space, gym.spaces.Box)
    returns = episode_returns(env_fn(context), expert.env_act(space), eval_episodes, seed=10_000 + seed)
    expert.meta = {
        "name": name,
        "context": context.tolist(),
        "steps": steps,
        "seed": seed,
        "sac_kwargs": kwargs,
        "train_seconds": seconds,
        "eval_return": float(np.mean(returns)),
        "eval_returns": returns,
        "loaded": False,
    }
    if cache is not None:
        from safetensors.torch import save

        cache.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous().clone() for k, v in model.policy.state_dict().items()}
        atomic_write_bytes(cache / f"{key}.safetensors", save(state))
        atomic_write_bytes(cache / f"{key}.json", json.dumps({**expert.meta, "loaded": False}, indent=1).encode())
    return expert


def collect(expert: Expert, env: gym.Env, steps: int, seed: int, noise: float = 0.1, gamma: float = 0.99) -> dict[str, np.ndarray]:
    """``steps`` transitions of ``expert`` in ``env``: arrays ``obs, action, executed, reward, next_obs, discount, q``."""
    space = env.action_space
    assert isinstance(space, gym.spaces.Box)
    rng = np.random.default_rng(seed)
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "action", "executed", "reward", "next_obs", "discount")}
    obs, _ = env.reset(seed=seed)
    episode = 0
    for _ in range(steps):
        action = expert.act(obs[None])[0]
        executed = np.clip(action + noise * rng.standard_normal(action.shape), -1.0, 1.0)
        next_obs, reward, terminated, truncated, _ = env.step(unscale_action(space, executed))
        for k, v in (("obs", obs), ("action", action), ("executed", executed), ("reward", reward), ("next_obs", next_obs)):
            rows[k].append(np.asarray(v, dtype=np.float32))
        rows["discount"].append(np.asarray(0.0 if terminated else gamma, dtype=np.float32))
        obs = next_obs
        if terminated or truncated:
            episode += 1
            obs, _ = env.reset(seed=seed + episode)
    out = {k: np.stack(v) for k, v in rows.items()}
    out["q"] = expert.q(out["obs"], out["executed"]).astype(np.float32)
    return out
