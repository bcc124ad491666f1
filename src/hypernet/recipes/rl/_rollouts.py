"""Running a policy in an environment: episode returns, and expert transitions for imitation.

Example:
    >>> import numpy as np

    >>> from hypernet.recipes.rl._contexts import PENDULUM
    >>> returns = episode_returns(PENDULUM([1.0, 1.0]), lambda obs: np.zeros(1), episodes=2, seed=0)
    >>> len(returns), all(r < 0 for r in returns)
    (2, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from ..._validation import check_int

__all__ = ["episode_returns", "scale_action", "unscale_action"]


def scale_action(space: gym.spaces.Box, action: np.ndarray) -> np.ndarray:
    """An environment action in ``[low, high]`` -> ``[-1, 1]`` (what experts and generated policies output)."""
    return 2.0 * (action - space.low) / (space.high - space.low) - 1.0


def unscale_action(space: gym.spaces.Box, scaled: np.ndarray) -> np.ndarray:
    """A ``[-1, 1]`` action -> the environment's ``[low, high]``."""
    return space.low + 0.5 * (np.clip(scaled, -1.0, 1.0) + 1.0) * (space.high - space.low)


def episode_returns(env: gym.Env, act: Callable[[np.ndarray], np.ndarray], episodes: int, seed: int) -> list[float]:
    """Undiscounted returns of ``episodes`` episodes of ``act`` (observation -> environment action); resets seeded ``seed + i``."""
    out: list[float] = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            done = bool(terminated or truncated)
        out.append(total)
    return out


def check_episodes(episodes: Any, seed: Any, owner: str) -> None:
    """``episodes`` >= 1 and a seed gymnasium accepts (an int >= 0)."""
    check_int(episodes, "episodes", low=1, owner=owner)
    check_int(seed, "seed", low=0, owner=owner)
