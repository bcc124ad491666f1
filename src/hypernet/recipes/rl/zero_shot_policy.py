"""HyperZero (Rezaei-Shoshtari et al., AAAI 2023): a hypernetwork from task parameters to near-optimal policies.

``fit(env_fn, train_contexts, experts=...)`` trains (or loads from a cache) one SAC expert per
training context, collects its transitions, and trains a :class:`~hypernet.HyperModel`
(``Continuous`` condition over the normalised context) that generates the weights of a policy
*and* a Q-function, with imitation, value and TD losses. ``policy(context)`` is then a plain
``nn.Sequential`` for any context of the declared space, seen or not, with no further training.

Example:
    >>> import torch, hypernet as hn
    >>> from hypernet.recipes.rl import PENDULUM
    >>> zs = hn.ZeroShotPolicy(PENDULUM, hidden=(16,), embedding_dim=8)
    >>> _ = zs.build(obs_dim=3, act_dim=1)
    >>> net = zs.policy([1.2, 0.9])
    >>> net(torch.zeros(1, 3)).shape
    torch.Size([1, 1])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from ..._boundary import guarded
from ..._model import HyperModel
from ..._validation import check_int, is_number
from ...conditions import Continuous
from ...errors import ConfigError, HypernetError, describe
from ._contexts import ContextFamily
from ._experts import Expert, collect, get_expert
from ._rollouts import check_episodes, episode_returns, unscale_action
from ._solver import ActorCritic, stack_data, train_solver

__all__ = ["ZeroShotPolicy", "actor_returns", "expert_data"]

EnvFn = Callable[[Any], gym.Env]


def _name(env_fn: EnvFn) -> str:
    return env_fn.name if isinstance(env_fn, ContextFamily) else getattr(env_fn, "__name__", "env")


def expert_data(
    env_fn: EnvFn,
    contexts: np.ndarray,
    experts: str | Path | Sequence[Expert] | None,
    *,
    expert_steps: int,
    transitions: int,
    seed: int,
    sac_kwargs: dict[str, Any] | None = None,
    gamma: float = 0.99,
    noise: float = 0.1,
) -> tuple[list[Expert], list[dict[str, np.ndarray]]]:
    """Experts of ``contexts`` (given, or trained / loaded from the cache directory ``experts``) and ``transitions`` of each."""
    if experts is not None and not isinstance(experts, (str, Path)):
        found = list(experts)
        if len(found) != len(contexts):
            raise ConfigError(f"expected one expert per training context ({len(contexts)}), got {len(found)}; pass a cache directory")
    else:
        kwargs = {"gamma": gamma, **(sac_kwargs or {})}
        found = [
            get_expert(env_fn, c, name=_name(env_fn), steps=expert_steps, seed=seed, cache=experts, sac_kwargs=kwargs) for c in contexts
        ]
    parts = [
        collect(e, env_fn(c), transitions, seed=seed + 7919 * i, noise=noise, gamma=gamma)
        for i, (e, c) in enumerate(zip(found, contexts, strict=True))
    ]
    return found, parts


def actor_returns(env: gym.Env, actor: nn.Module, episodes: int, seed: int) -> float:
    """Mean return of a plain actor (``obs -> [-1, 1]`` actions) in ``env``."""
    space = env.action_space
    assert isinstance(space, gym.spaces.Box)

    def act(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return unscale_action(space, actor(torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy())

    return float(np.mean(episode_returns(env, act, episodes, seed)))


@guarded()
class ZeroShotPolicy(nn.Module):
    """HyperZero: context -> generated policy and Q-function weights, trained on experts of training contexts.

    Args:
        space: the declared context space: a :class:`~hypernet.recipes.rl.ContextFamily` (or pass ``low`` / ``high``).
        low, high: bounds of the context space when ``space`` is not given.
        hidden: hidden widths of the generated policy and Q-function (ReLU MLPs).
        embedding_dim: size of the context embedding.
        generator: the core generator (name or instance).
        value_weight, td_weight: weights of the Q-value and TD losses (the paper's default 0.01 each; 0 disables).
        steps, batch_size, lr: the hypernetwork's Adam training.
        expert_steps: SAC steps per expert; transitions: expert transitions collected per training context.
        gamma: discount of the experts and the TD loss.
        seed: seed of experts, data and training.
    """

    low: torch.Tensor
    high: torch.Tensor
    q_scale: torch.Tensor

    def __init__(
        self,
        space: ContextFamily | None = None,
        *,
        low: Sequence[float] | None = None,
        high: Sequence[float] | None = None,
        hidden: Sequence[int] = (64, 64),
        embedding_dim: int = 32,
        generator: str = "chunked",
        value_weight: float = 0.01,
        td_weight: float = 0.01,
        steps: int = 3000,
        batch_size: int = 512,
        lr: float = 1e-3,
        expert_steps: int = 5000,
        transitions: int = 2000,
        gamma: float = 0.99,
        seed: int = 0,
        sac_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if space is not None and not isinstance(space, ContextFamily):
            raise ConfigError(
                f"expected space to be a ContextFamily or None, got {describe(space)}; pass e.g. hypernet.recipes.rl.PENDULUM"
            )
        if space is not None:
            low, high = space.low, space.high
        if not _box(low, high):
            raise ConfigError(
                f"expected a context space (a ContextFamily, or low < high per coordinate), got low={low}, high={high}; "
                "pass a ContextFamily or low / high lists of equal length"
            )
        self.space = space
        self.register_buffer("low", torch.tensor(low, dtype=torch.float64))
        self.register_buffer("high", torch.tensor(high, dtype=torch.float64))
        self.register_buffer("q_scale", torch.ones((), dtype=torch.float64))
        self.hidden, self.embedding_dim, self.generator_name = tuple(hidden), embedding_dim, generator
        self.value_weight, self.td_weight = value_weight, td_weight
        self.steps, self.batch_size, self.lr = steps, batch_size, lr
        self.expert_steps, self.transitions, self.gamma, self.seed = expert_steps, transitions, gamma, seed
        self.sac_kwargs = dict(sac_kwargs or {})
        self.model: HyperModel | None = None
        self.losses_: list[float] = []
        self.experts_: list[Expert] = []

    @property
    def ctx_dim(self) -> int:
        return len(self.low)

    def normalize(self, context: Any) -> torch.Tensor:
        """A context (or a batch of them) checked against the declared space and mapped to ``[0, 1]``, float32."""
        try:
            c = torch.as_tensor(np.asarray(context, dtype=np.float64))
        except (TypeError, ValueError):
            c = None
        if c is None or c.shape[-1:] != (self.ctx_dim,) or c.dim() > 2 or not bool(torch.isfinite(c).all()):
            raise ConfigError(
                f"expected a context of {self.ctx_dim} finite numbers (or a batch (N, {self.ctx_dim})), got {context!r}; "
                f"pass a context of {self.ctx_dim} finite numbers (or a batch (N, {self.ctx_dim}))"
            )
        outside = (c < self.low) | (c > self.high)
        if bool(outside.any()):
            raise ConfigError(
                f"expected contexts inside the declared space low={self.low.tolist()}, high={self.high.tolist()}, "
                f"got {c.tolist()}; pick values inside it or declare a wider space"
            )
        return ((c - self.low) / (self.high - self.low)).float()

    def build(self, obs_dim: int, act_dim: int) -> ZeroShotPolicy:
        """Create the hypernetwork for ``obs_dim`` observations and ``act_dim`` actions (``fit`` calls it)."""
        check_int(obs_dim, "obs_dim", low=1, high=1 << 16, owner="ZeroShotPolicy.build")
        check_int(act_dim, "act_dim", low=1, high=1 << 16, owner="ZeroShotPolicy.build")
        target = ActorCritic(obs_dim, act_dim, self.hidden)
        self.model = HyperModel(target, condition=Continuous(self.ctx_dim, self.embedding_dim), generator=self.generator_name)
        self.obs_dim, self.act_dim = obs_dim, act_dim
        return self

    def _model(self) -> HyperModel:
        if self.model is None:
            raise HypernetError("expected a fitted ZeroShotPolicy, got one never fitted or built; call fit(...) (or build(...)) first")
        return self.model

    def solve(self, ctx: torch.Tensor, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Generated policy actions and Q-values for per-sample normalised contexts ``ctx`` (B, D)."""
        return self._model()(obs, ctx, action)

    def fit(
        self,
        env_fn: EnvFn,
        train_contexts: Any,
        experts: str | Path | Sequence[Expert] | None = None,
        progress: Callable[[int, float], None] | None = None,
    ) -> ZeroShotPolicy:
        """Train on ``train_contexts``: ``experts`` is a cache directory (experts trained once, then loaded), a list of
        :class:`~._experts.Expert` (one per context), or ``None`` (trained, not stored)."""
        contexts = np.asarray(train_contexts, dtype=np.float64)
        normalized = self.normalize(contexts)
        if normalized.dim() != 2 or len(normalized) < 1:
            raise ConfigError(
                f"expected a list of training contexts (N, {self.ctx_dim}), got {contexts.shape}; "
                f"pass a list of training contexts (N, {self.ctx_dim})"
            )
        probe = env_fn(contexts[0])
        if not isinstance(probe.action_space, gym.spaces.Box) or probe.observation_space.shape is None:
            raise ConfigError(f"expected a continuous (Box) action space, got {probe.action_space}; HyperZero imitates SAC experts")
        found, parts = expert_data(
            env_fn, contexts, experts, expert_steps=self.expert_steps, transitions=self.transitions, seed=self.seed,
            sac_kwargs=self.sac_kwargs, gamma=self.gamma,
        )  # fmt: skip
        data = stack_data(parts, normalized.numpy())
        self.fit_data(data, int(probe.observation_space.shape[0]), int(probe.action_space.shape[0]), progress)
        self.experts_ = found
        return self

    def fit_data(
        self, data: dict[str, torch.Tensor], obs_dim: int, act_dim: int, progress: Callable[[int, float], None] | None = None
    ) -> ZeroShotPolicy:
        """Train the hypernetwork on collected expert data (``ctx`` column already normalised)."""
        check_int(obs_dim, "obs_dim", low=1, high=1 << 16, owner="ZeroShotPolicy.fit_data")
        check_int(act_dim, "act_dim", low=1, high=1 << 16, owner="ZeroShotPolicy.fit_data")
        _check_data(data, {"ctx": self.ctx_dim, "obs": obs_dim, "next_obs": obs_dim, "action": act_dim, "executed": act_dim})
        torch.manual_seed(self.seed)
        self.build(obs_dim, act_dim)
        self.q_scale.fill_(float(data["q"].abs().mean().clamp_min(1e-6)))
        self.losses_ = train_solver(
            self.solve, list(self._model().parameters()), data, steps=self.steps, batch_size=self.batch_size, lr=self.lr,
            value_weight=self.value_weight, td_weight=self.td_weight, q_scale=float(self.q_scale), seed=self.seed, progress=progress,
        )  # fmt: skip
        return self

    def policy(self, context: Any) -> nn.Sequential:
        """A plain ``nn.Sequential`` policy (``obs -> action in [-1, 1]``) with the weights generated for ``context``."""
        net = self._model().materialize(self.normalize(context))
        assert isinstance(net, ActorCritic)
        return net.actor

    def q_function(self, context: Any) -> nn.Sequential:
        """The generated Q-function of ``context`` as a plain module (``cat(obs, action) -> Q / q_scale``)."""
        net = self._model().materialize(self.normalize(context))
        assert isinstance(net, ActorCritic)
        return net.critic

    def evaluate(self, env_fn: EnvFn, contexts: Any, episodes: int = 5, seed: int = 0) -> list[float]:
        """Mean return over ``episodes`` of the generated policy of each context (no training)."""
        check_episodes(episodes, seed, "ZeroShotPolicy.evaluate")
        if not callable(env_fn):
            raise ConfigError(
                f"expected env_fn to be a function context -> gymnasium.Env, got {describe(env_fn)}; pass e.g. a ContextFamily"
            )
        rows = np.asarray(contexts, dtype=np.float64).reshape(-1, self.ctx_dim)
        self.normalize(rows)  # all contexts checked before any episode runs
        return [actor_returns(env_fn(c), self.policy(c), episodes, seed) for c in rows]


def _box(low: Any, high: Any) -> bool:
    """``low`` and ``high``: equally long non-empty sequences of finite numbers with ``low < high`` per coordinate."""
    seqs = all(isinstance(v, (list, tuple, np.ndarray)) and len(v) > 0 for v in (low, high))
    return seqs and len(low) == len(high) and all(is_number(a) and is_number(b) and a < b for a, b in zip(low, high, strict=True))


def _check_data(data: Any, widths: dict[str, int]) -> None:
    """Expert data: float tensors of N finite rows, ``widths`` columns where given, ``reward`` / ``discount`` / ``q`` of N values."""
    keys = [*widths, "reward", "discount", "q"]
    if not isinstance(data, dict) or not all(isinstance(data.get(k), torch.Tensor) for k in keys):
        raise ConfigError(f"expected data as a dict of tensors {keys}, got {describe(data)}; pass the data fit collects")
    n = len(data["obs"])
    for k in keys:
        t = data[k]
        shape = (n, widths[k]) if k in widths else (n,)
        if tuple(t.shape) != shape or not t.is_floating_point() or not bool(t.isfinite().all()) or n == 0:
            raise ConfigError(f"expected data[{k!r}] as finite floats of shape {shape}, got {describe(t)}; pass the data fit collects")
