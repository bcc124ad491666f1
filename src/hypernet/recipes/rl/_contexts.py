"""Families of environments indexed by a context vector (physics or reward parameters), each with its declared range.

A :class:`ContextFamily` makes a gymnasium environment for a context (``family(context)``),
setting the physics on the new instance (Pendulum mass and length, CartPole gravity / pole
mass / pole length with its derived constants recomputed, HalfCheetah torso mass) or the
reward (HalfCheetah target speed, Pendulum target angle, InvertedPendulum target cart position);
InvertedDoublePendulum's gravity and InvertedPendulum's pole mass are cheaper MuJoCo dynamics families.
A context outside the declared box raises :class:`~hypernet.ConfigError`.

Example:
    >>> env = PENDULUM([1.5, 0.8])
    >>> env.unwrapped.m, env.unwrapped.l
    (1.5, 0.8)
    >>> PENDULUM.normalize([1.5, 0.8]).round(3).tolist()
    [0.706, 0.294]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from ..._boundary import guarded_function
from ..._validation import check_float, check_int
from ...errors import ConfigError, describe

__all__ = [
    "CARTPOLE",
    "CHEETAH_SPEED",
    "CHEETAH_TORSO",
    "FAMILIES",
    "IDP_GRAVITY",
    "IP_POLE_MASS",
    "IP_TARGET",
    "PENDULUM",
    "PENDULUM_TARGET",
    "ContextFamily",
    "TargetAngle",
    "TargetPosition",
    "TargetSpeed",
    "family",
]


def _to_vector(context: Any, dim: int, owner: str) -> np.ndarray:
    try:
        vec = np.asarray(context, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        vec = None
    if vec is None or vec.shape != (dim,) or not np.isfinite(vec).all():
        raise ConfigError(f"expected a context of {dim} finite numbers for {owner}, got {describe(context)}; pass a list of {dim} floats")
    return vec


@dataclass(frozen=True)
class ContextFamily:
    """Environments ``env_id`` whose parameters ``names`` are set from a context in ``[low, high]``.

    Attributes:
        name: short name (cache keys, reports).
        env_id: the gymnasium id.
        names: one name per context coordinate.
        low, high: the declared box; a context outside raises :class:`~hypernet.ConfigError`.
        default: the environment's own parameters.
        apply: sets a context on a fresh environment (returns the environment to use, possibly wrapped).
        make_kwargs: extra arguments of ``gym.make``.
    """

    name: str
    env_id: str
    names: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    default: tuple[float, ...]
    apply: Callable[[gym.Env, np.ndarray], gym.Env]
    make_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return len(self.names)

    def check(self, context: Any) -> np.ndarray:
        """``context`` as a float64 vector, or :class:`~hypernet.ConfigError` if it lies outside the declared box."""
        vec = _to_vector(context, self.dim, f"family {self.name!r} ({', '.join(self.names)})")
        low, high = np.asarray(self.low), np.asarray(self.high)
        bad = [f"{n}={v:g} not in [{lo:g}, {hi:g}]" for n, v, lo, hi in zip(self.names, vec, low, high, strict=True) if not lo <= v <= hi]
        if bad:
            raise ConfigError(
                f"expected a context inside the declared space of {self.name!r}, got {'; '.join(bad)}; "
                f"pick values in low={list(self.low)}, high={list(self.high)}"
            )
        return vec

    def normalize(self, context: Any) -> np.ndarray:
        """The context mapped to ``[0, 1]`` per coordinate (the hypernetwork's input)."""
        vec = self.check(context)
        low, high = np.asarray(self.low), np.asarray(self.high)
        return (vec - low) / (high - low)

    def sample(self, n: int, seed: int, low: Sequence[float] | None = None, high: Sequence[float] | None = None) -> np.ndarray:
        """``n`` contexts drawn uniformly from ``[low, high]`` (default: the declared box), reproducibly from ``seed``."""
        check_int(n, "n", low=0, high=1 << 24, owner="ContextFamily.sample")
        check_int(seed, "seed", low=0, owner="ContextFamily.sample")
        lo = self.check(self.low if low is None else low)
        hi = self.check(self.high if high is None else high)
        if not (lo <= hi).all():
            raise ConfigError(f"expected low <= high, got low={lo.tolist()}, high={hi.tolist()}; swap them")
        out = np.random.default_rng(seed).uniform(lo, hi, size=(n, self.dim))
        for row in out:
            self.check(row)
        return out

    def __call__(self, context: Any) -> gym.Env:
        """A new environment with ``context`` applied."""
        vec = self.check(context)
        env = gym.make(self.env_id, **self.make_kwargs)
        return self.apply(env, vec)


def _pendulum(env: gym.Env, c: np.ndarray) -> gym.Env:
    u: Any = env.unwrapped
    u.m, u.l = float(c[0]), float(c[1])
    return env


def _cartpole(env: gym.Env, c: np.ndarray) -> gym.Env:
    u: Any = env.unwrapped
    u.gravity, u.masspole, u.length = float(c[0]), float(c[1]), float(c[2])
    u.total_mass = u.masspole + u.masscart  # derived once in CartPoleEnv.__init__
    u.polemass_length = u.masspole * u.length
    return env


def _body_mass(body: str) -> Callable[[gym.Env, np.ndarray], gym.Env]:
    def apply(env: gym.Env, c: np.ndarray) -> gym.Env:
        import mujoco

        model: Any = env.unwrapped.model  # type: ignore[attr-defined]
        model.body_mass[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, body)] = float(c[0])
        return env

    return apply


class _TargetReward(gym.Wrapper):
    """A reward wrapper whose reward depends on one target value (the context)."""

    def __init__(self, env: gym.Env, target: float) -> None:
        _check_wrapped(env, target, type(self).__name__)
        super().__init__(env)
        self.target = float(target)


def _with_target(wrapper: type[_TargetReward]) -> Callable[[gym.Env, np.ndarray], gym.Env]:
    """A family's ``apply``: ``wrapper(env, context[0])``."""

    def apply(env: gym.Env, c: np.ndarray) -> gym.Env:
        return wrapper(env, float(c[0]))

    return apply


class TargetSpeed(_TargetReward):
    """HalfCheetah rewarded for running at ``target`` m/s: ``r = -|v - target| - 0.1 * |a|^2`` (HyperZero's reward family)."""

    def step(self, action: Any) -> Any:
        action = _check_action(self.env, action)
        obs, _, terminated, truncated, info = self.env.step(action)
        reward = -abs(float(info["x_velocity"]) - self.target) - 0.1 * float(np.square(action).sum())
        return obs, reward, terminated, truncated, info


def _check_wrapped(env: Any, target: Any, owner: str) -> None:
    if not isinstance(env, gym.Env):
        raise ConfigError(f"expected env to be a gymnasium.Env, got {describe(env)}; pass gym.make(...)")
    check_float(target, "target", owner=owner)


def _check_action(env: gym.Env, action: Any) -> np.ndarray:
    """``action`` as an array of the action space's shape, finite (out-of-range values are clipped by the env)."""
    shape = env.action_space.shape
    try:
        out = np.asarray(action, dtype=np.float64).reshape(shape)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"expected an action of shape {shape}, got {describe(action)}; pass e.g. np.zeros({shape})") from err
    if not np.isfinite(out).all():
        raise ConfigError(f"expected a finite action, got {out.tolist()}; pass finite values")
    space: Any = env.action_space
    return np.clip(out, space.low, space.high).astype(np.float32)


def _gravity(env: gym.Env, c: np.ndarray) -> gym.Env:
    env.unwrapped.model.opt.gravity[2] = -float(c[0])  # type: ignore[attr-defined]
    return env


class TargetAngle(_TargetReward):
    """Pendulum rewarded for holding the angle ``target`` (radians from upright) instead of upright.

    ``r = -(angle(theta - target)^2 + 0.1 thetadot^2 + 0.001 u^2)``, Pendulum's own cost shifted
    by the target; holding needs a torque of ``m g l sin(target) / 2``, so ``|target| <= 0.4``
    stays reachable with the default mass, length and torque limit.
    """

    def step(self, action: Any) -> Any:
        action = _check_action(self.env, action)
        u: Any = self.env.unwrapped
        theta, thetadot = (float(v) for v in u.state)
        torque = float(np.clip(action, -u.max_torque, u.max_torque)[0])
        obs, _, terminated, truncated, info = self.env.step(action)
        error = (theta - self.target + np.pi) % (2 * np.pi) - np.pi
        return obs, -(error**2 + 0.1 * thetadot**2 + 0.001 * torque**2), terminated, truncated, info


class TargetPosition(_TargetReward):
    """InvertedPendulum rewarded for balancing with the cart at ``target``: ``r = r_alive - |x - target|``.

    ``r_alive`` is the environment's own reward (1 while the pole is up); ``x`` is the cart's
    position after the step (its rail spans [-1, 1]). Balancing at the wrong place loses
    ``|x - target|`` per step, so a policy that ignores the context pays for it.
    """

    def __init__(self, env: gym.Env, target: float) -> None:
        super().__init__(env, target)
        qpos = getattr(getattr(env.unwrapped, "data", None), "qpos", None)
        if qpos is None or len(qpos) < 1:
            got = env.spec.id if env.spec is not None else describe(env)
            raise ConfigError(
                f"expected a MuJoCo environment whose first joint is the cart (InvertedPendulum-v5), got {got}; "
                "pass gym.make('InvertedPendulum-v5')"
            )

    def step(self, action: Any) -> Any:
        action = _check_action(self.env, action)
        obs, reward, terminated, truncated, info = self.env.step(action)
        x = float(self.env.unwrapped.data.qpos[0])  # type: ignore[attr-defined]
        return obs, float(reward) - abs(x - self.target), terminated, truncated, info


PENDULUM = ContextFamily("pendulum", "Pendulum-v1", ("mass", "length"), (0.3, 0.3), (2.0, 2.0), (1.0, 1.0), _pendulum)
CARTPOLE = ContextFamily(
    "cartpole", "CartPole-v1", ("gravity", "masspole", "length"), (4.0, 0.02, 0.2), (20.0, 0.5, 1.2), (9.8, 0.1, 0.5), _cartpole
)
CHEETAH_TORSO = ContextFamily("cheetah_torso", "HalfCheetah-v5", ("torso_mass",), (1.0,), (16.0,), (6.25,), _body_mass("torso"))
CHEETAH_SPEED = ContextFamily("cheetah_speed", "HalfCheetah-v5", ("target_speed",), (0.0,), (10.0,), (5.0,), _with_target(TargetSpeed))
PENDULUM_TARGET = ContextFamily("pendulum_target", "Pendulum-v1", ("target_angle",), (-0.4,), (0.4,), (0.0,), _with_target(TargetAngle))
IDP_GRAVITY = ContextFamily("idp_gravity", "InvertedDoublePendulum-v5", ("gravity",), (2.0,), (20.0,), (9.81,), _gravity)
IP_POLE_MASS = ContextFamily("ip_pole_mass", "InvertedPendulum-v5", ("pole_mass",), (1.0,), (30.0,), (5.02,), _body_mass("pole"))
IP_TARGET = ContextFamily("ip_target", "InvertedPendulum-v5", ("target_x",), (-0.9,), (0.9,), (0.0,), _with_target(TargetPosition))
FAMILIES = {f.name: f for f in (PENDULUM, CARTPOLE, CHEETAH_TORSO, CHEETAH_SPEED, PENDULUM_TARGET, IDP_GRAVITY, IP_POLE_MASS, IP_TARGET)}


@guarded_function
def family(name: str) -> ContextFamily:
    """The built-in family called ``name`` (a key of :data:`FAMILIES`)."""
    if not isinstance(name, str) or name not in FAMILIES:
        raise ConfigError(
            f"expected a context family among {sorted(FAMILIES)}, got {name!r}; pass a context family among {sorted(FAMILIES)}"
        )
    return FAMILIES[name]
