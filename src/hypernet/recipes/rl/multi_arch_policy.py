"""HyperPPO (Hegde et al., 2023): one PPO training of a hypernetwork that generates policies of many architectures.

At every rollout each of the ``n_envs`` environments gets a freshly sampled MLP architecture
(depth 1-3, widths 4-256, from an :class:`~hypernet.MLPSpace`); the
:class:`~hypernet.HyperModel` (a ``Continuous`` condition over the architecture code, the
largest MLP of the space as its target, sliced per architecture as in SMASH) generates that
policy, which acts for the rollout. The PPO update (:mod:`._ppo`) back-propagates through the
generated weights; the value function is one plain MLP shared by every architecture (with
``critic_arch=True`` it also reads the acting architecture's code, as HyperPPO's own code does), and
a Gaussian policy's log-std is one shared vector. ``policy(arch)`` is a plain ``nn.Sequential`` of exactly that
architecture; ``rank(archs, env_fn)`` evaluates several.

Example:
    >>> import gymnasium as gym, hypernet as hn
    >>> hp = hn.MultiArchPolicy(widths=(4, 16), depths=(1, 2), embedding_dim=8).build(gym.make("CartPole-v1"))
    >>> arch = hn.Architecture((16, 4), ("tanh", "tanh"))
    >>> sum(p.numel() for p in hp.policy(arch).parameters()) == hp.space.num_parameters(arch)
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Normal

from ..._boundary import guarded
from ..._model import HyperModel
from ..._validation import check_bool, check_int
from ...conditions import Continuous
from ...errors import ConfigError, HypernetError, describe
from ...training.loop import check_finite_gradients
from ..architecture.space import Architecture, MLPSpace
from ..architecture.supernet import MLPSupernet, plain_weights
from ._ppo import gae, ppo_loss
from ._rollouts import check_episodes, episode_returns
from ._solver import actor_layers

__all__ = ["MultiArchPolicy", "Ranked"]

EnvFn = Callable[[], gym.Env]
ArchSwitch = Literal["rollout", "step", "step_then_rollout"]
ARCH_SWITCHES: tuple[str, ...] = get_args(ArchSwitch)


@dataclass(frozen=True)
class Ranked:
    """One row of :meth:`MultiArchPolicy.rank`."""

    arch: Architecture
    parameters: int
    mean_return: float


@guarded(mutating=("fit",))
class MultiArchPolicy(nn.Module):
    """HyperPPO: PPO over a hypernetwork that generates MLP policies of sampled architectures.

    Args:
        depths, widths, activation: the architecture space (one activation for every layer).
        embedding_dim: size of the architecture-code embedding; generator: the core generator.
        n_envs: environments per rollout, each with its own sampled architecture; n_steps: steps per environment per rollout.
        batch_size, n_epochs, lr, gamma, gae_lambda, clip_range, ent_coef, vf_coef, max_grad_norm: PPO's settings
            (stable-baselines3's names and defaults, except ``lr=3e-3`` and ``batch_size=256``: chosen on validation
            architectures of CartPole in a 1-seed pilot, where SB3's 3e-4 / 64 learned far more slowly through the
            hypernetwork; see ``benchmarks/results/rl_plan.md``).
        critic_hidden: the shared value MLP; critic_arch: feed it the acting architecture's code as well as the
            observation (a value function per policy, as in HyperPPO's code; default ``False``, one value for all).
        fan_in_scaling: multiply a weight sliced to ``k`` of the supernet's ``K`` inputs by ``sqrt(K / k)``
            (:class:`~hypernet.recipes.architecture.supernet.MLPSupernet`), so narrow policies do not start near-constant.
        residual: every architecture starts as a slice of one trainable supernet whose output layer starts at 1/100 of
            PyTorch's init with a zero bias (near-zero actions, as stable-baselines3's policies start), and the
            hypernetwork adds a per-architecture delta that is zero at step 0 (``HyperModel(parametrization="residual")``).
        arch_switch: when the acting architecture changes. ``"rollout"`` (default): each environment keeps its sampled
            architecture for the whole rollout. ``"step"``: each rollout still samples ``n_envs`` architectures, and at
            every environment step each environment draws one of them at random, as HyperPPO's code does (it changes the
            graph after every step), so every architecture acts in states spread over the whole rollout.
            ``"step_then_rollout"``: ``"step"`` for the first half of ``fit``'s ``total_steps``, then ``"rollout"``
            (the mixture learns the task fast; each architecture then trains on the states it reaches alone).
        seed: seeds sampling, environments and initialisation.
    """

    log_std: nn.Parameter | None

    def __init__(
        self,
        depths: Sequence[int] = (1, 2, 3),
        widths: Sequence[int] = (4, 8, 16, 32, 64, 128, 256),
        activation: str = "tanh",
        *,
        embedding_dim: int = 32,
        generator: str = "chunked",
        n_envs: int = 8,
        n_steps: int = 256,
        batch_size: int = 256,
        n_epochs: int = 10,
        lr: float = 3e-3,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float = 0.2,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        critic_hidden: Sequence[int] = (64, 64),
        critic_arch: bool = False,
        fan_in_scaling: bool = False,
        residual: bool = False,
        arch_switch: ArchSwitch = "rollout",
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.depths, self.widths, self.activation = tuple(depths), tuple(widths), activation
        MLPSpace(1, 1, self.depths, self.widths, (activation,))  # validates the space now
        self.embedding_dim, self.generator_name = embedding_dim, generator
        self.n_envs, self.n_steps, self.batch_size, self.n_epochs = n_envs, n_steps, batch_size, n_epochs
        self.lr, self.gamma, self.gae_lambda, self.clip_range = lr, gamma, gae_lambda, clip_range
        self.ent_coef, self.vf_coef, self.max_grad_norm = ent_coef, vf_coef, max_grad_norm
        for name, flag in (("critic_arch", critic_arch), ("fan_in_scaling", fan_in_scaling), ("residual", residual)):
            check_bool(flag, name, owner="MultiArchPolicy")
        self.critic_hidden, self.critic_arch, self.seed = tuple(critic_hidden), critic_arch, seed
        self.fan_in_scaling, self.residual = fan_in_scaling, residual
        if arch_switch not in ARCH_SWITCHES:
            raise ConfigError(
                f"expected arch_switch to be one of {ARCH_SWITCHES}, got {describe(arch_switch)}; "
                "pass 'rollout' (one architecture per environment per rollout), 'step' (a new draw every step) "
                "or 'step_then_rollout'"
            )
        self.arch_switch = arch_switch
        self.model: HyperModel | None = None
        self.critic: nn.Module | None = None
        self.log_std = None
        self.curve_: list[tuple[int, float]] = []

    # ----------------------------------------------------------------- building
    def build(self, env: gym.Env) -> MultiArchPolicy:
        """Create the hypernetwork, value function (and log-std) for ``env``'s spaces (``fit`` calls it)."""
        obs_shape, action_space = env.observation_space.shape, env.action_space
        if obs_shape is None or len(obs_shape) != 1:
            raise ConfigError(f"expected a flat Box observation space, got {env.observation_space}; pass a flat Box observation space")
        if isinstance(action_space, gym.spaces.Discrete):
            out, self.discrete = int(action_space.n), True
        elif isinstance(action_space, gym.spaces.Box) and action_space.shape is not None and len(action_space.shape) == 1:
            out, self.discrete = int(action_space.shape[0]), False
        else:
            raise ConfigError(f"expected a Discrete or flat Box action space, got {action_space}; pass a Discrete or flat Box action space")
        torch.manual_seed(self.seed)
        self.space = MLPSpace(int(obs_shape[0]), out, self.depths, self.widths, (self.activation,))
        supernet = MLPSupernet(self.space, self.fan_in_scaling)
        if self.residual:
            _small_head(supernet)
        self.model = HyperModel(
            supernet,
            condition=Continuous(self.space.code_dim, self.embedding_dim),
            generator=self.generator_name,
            parametrization="residual" if self.residual else None,
        )
        if self.residual:
            with torch.no_grad():
                self.model.generator.zero_output_()
        critic_in = self.space.in_features + (self.space.code_dim if self.critic_arch else 0)
        critic = actor_layers([critic_in, *self.critic_hidden, 1], None)
        for i, layer in enumerate(critic):  # tanh hidden layers like SB3's default value net
            if isinstance(layer, nn.ReLU):
                critic[i] = nn.Tanh()
        self.critic = critic
        self.log_std = None if self.discrete else nn.Parameter(torch.zeros(out))
        return self

    def _value(self, obs: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """``(N,)`` values of observations ``(N, obs_dim)`` acted on by architectures with codes ``(N, code_dim)``."""
        assert self.critic is not None
        return self.critic(torch.cat([obs, codes], -1) if self.critic_arch else obs).squeeze(-1)

    def _model(self) -> HyperModel:
        if self.model is None:
            raise HypernetError("expected a built MultiArchPolicy, got one never fitted or built; call fit(env_fn, ...) or build(env)")
        return self.model

    def sample(self, n: int, seed: int) -> list[Architecture]:
        """``n`` architectures drawn uniformly (depth, then each width) from the space."""
        self._model()
        return self.space.sample(n, generator=torch.Generator().manual_seed(seed))

    def policy(self, arch: Architecture) -> nn.Sequential:
        """The plain ``nn.Sequential`` of ``arch`` holding its generated weights (outputs logits, or the Gaussian's mean)."""
        model = self._model()
        arch = self.space.validate(arch)
        with torch.no_grad():
            params = model.generate(self.space.encode(arch))
        net = self.space.build(arch)
        net.load_state_dict(
            {k: v.detach().clone() for k, v in plain_weights(params, self.space, arch, fan_in_scaling=self.fan_in_scaling).items()}
        )
        return net

    def _distribution(self, out: torch.Tensor) -> Distribution:
        if self.discrete:
            return Categorical(logits=out)
        assert self.log_std is not None
        return Normal(out, self.log_std.exp().expand_as(out))

    def _log_prob(self, dist: Distribution, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.discrete:
            return dist.log_prob(actions.long()), dist.entropy()
        return dist.log_prob(actions).sum(-1), dist.entropy().sum(-1)

    def _act(self, net: nn.Module, obs: np.ndarray) -> np.ndarray:
        """The deterministic action of ``net`` (argmax, or the Gaussian's mean)."""
        with torch.no_grad():
            out = net(torch.as_tensor(obs, dtype=torch.float32)[None])[0]
        return out.argmax().numpy() if self.discrete else out.numpy()

    def _sample(self, net: nn.Module, obs: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A stochastic action of ``net`` for one observation ``(1, obs_dim)`` and its log-probability."""
        out = net(obs)[0]
        if self.discrete:
            logits = torch.log_softmax(out, -1)
            action = torch.multinomial(logits.exp(), 1, generator=gen)[0]
            return action, logits[action]
        assert self.log_std is not None
        action = out + self.log_std.exp() * torch.randn(out.shape, generator=gen)
        return action, Normal(out, self.log_std.exp()).log_prob(action).sum()

    def _switches_per_step(self, done_steps: int, total_steps: int) -> bool:
        """Whether the rollout starting after ``done_steps`` of ``total_steps`` draws a new architecture at every step."""
        return self.arch_switch == "step" or (self.arch_switch == "step_then_rollout" and 2 * done_steps < total_steps)

    def _acting(self, per_step: bool, gen: torch.Generator) -> torch.Tensor:
        """``(n_envs,)`` indices of the rollout's architectures acting at this step in each environment."""
        if per_step:
            return torch.randint(self.n_envs, (self.n_envs,), generator=gen)
        return torch.arange(self.n_envs)

    def _env_action(self, env: gym.Env, action: np.ndarray) -> Any:
        if self.discrete:
            return int(action)
        space = env.action_space
        assert isinstance(space, gym.spaces.Box)
        return np.clip(action, space.low, space.high)

    # ----------------------------------------------------------------- training
    def fit(self, env_fn: EnvFn, total_steps: int, progress: Callable[[int, float], None] | None = None) -> MultiArchPolicy:
        """PPO for ``total_steps`` environment steps; every rollout samples one architecture per environment.

        ``curve_`` holds ``(steps so far, episode return)`` of every finished training episode.
        """
        check_int(total_steps, "total_steps", low=1, owner="MultiArchPolicy.fit")
        _check_env_fn(env_fn)
        envs = [env_fn() for _ in range(self.n_envs)]
        if self.model is None:
            self.build(envs[0])
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=self.lr, eps=1e-5)
        gen = torch.Generator().manual_seed(self.seed)
        obs = [env.reset(seed=self.seed + 1000 * i)[0] for i, env in enumerate(envs)]
        starts = np.ones(self.n_envs, dtype=np.float32)
        totals = np.zeros(self.n_envs)
        done_steps, rollout = 0, 0
        while done_steps < total_steps:
            archs = self.sample(self.n_envs, seed=self.seed * 100_003 + rollout)
            nets = [self.policy(a) for a in archs]
            codes = torch.stack([self.space.encode(a) for a in archs])
            buf: dict[str, list[Any]] = {k: [] for k in ("obs", "act", "rew", "start", "logp", "val", "arch")}
            per_step = self._switches_per_step(done_steps, total_steps)
            for _ in range(self.n_steps):
                acting = self._acting(per_step, gen)
                o = np.stack(obs).astype(np.float32)
                with torch.no_grad():
                    ot = torch.as_tensor(o)
                    values = self._value(ot, codes[acting])
                    drawn = [self._sample(nets[k], ot[i : i + 1], gen) for i, k in enumerate(acting.tolist())]
                acts = np.stack([a.numpy() for a, _ in drawn])
                logp = torch.stack([lp for _, lp in drawn])
                rewards = np.zeros(self.n_envs, dtype=np.float32)
                new_starts = np.zeros(self.n_envs, dtype=np.float32)
                for i, env in enumerate(envs):
                    nxt, r, terminated, truncated, _ = env.step(self._env_action(env, acts[i]))
                    rewards[i] = r
                    totals[i] += r
                    if truncated and not terminated:  # bootstrap the time limit, as SB3 does
                        with torch.no_grad():
                            nxt_t = torch.as_tensor(nxt, dtype=torch.float32)[None]
                            rewards[i] += self.gamma * float(self._value(nxt_t, codes[acting[i : i + 1]])[0])
                    if terminated or truncated:
                        self.curve_.append((done_steps + 1, float(totals[i])))
                        totals[i] = 0.0
                        nxt, _ = env.reset()
                        new_starts[i] = 1.0
                    obs[i] = nxt
                columns = {"obs": o, "act": acts, "rew": rewards, "start": starts, "logp": logp, "val": values, "arch": acting}
                for k, v in columns.items():
                    buf[k].append(torch.as_tensor(v))
                starts = new_starts
                done_steps += self.n_envs
            with torch.no_grad():
                last = self._value(torch.as_tensor(np.stack(obs), dtype=torch.float32), codes[acting])
            adv, ret = gae(
                torch.stack(buf["rew"]), torch.stack(buf["val"]), torch.stack(buf["start"]), last, torch.as_tensor(starts),
                self.gamma, self.gae_lambda,
            )  # fmt: skip
            self._update(
                archs,
                codes,
                torch.stack(buf["arch"]),
                torch.stack(buf["obs"]),
                torch.stack(buf["act"]),
                torch.stack(buf["logp"]),
                adv,
                ret,
                optimizer,
                gen,
                params,
            )
            rollout += 1
            if progress is not None and self.curve_:
                progress(done_steps, float(np.mean([r for _, r in self.curve_[-20:]])))
        return self

    def _update(
        self,
        archs: list[Architecture],
        codes: torch.Tensor,
        acting: torch.Tensor,
        obs: torch.Tensor,
        acts: torch.Tensor,
        logp: torch.Tensor,
        adv: torch.Tensor,
        ret: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        gen: torch.Generator,
        params: list[nn.Parameter],
    ) -> None:
        model = self._model()
        steps, n = obs.shape[:2]
        arch_of = acting.flatten()  # the architecture (index into archs) that acted at each flattened step
        flat = {"obs": obs.flatten(0, 1), "act": acts.flatten(0, 1), "logp": logp.flatten(), "adv": adv.flatten(), "ret": ret.flatten()}
        for _ in range(self.n_epochs):
            order = torch.randperm(steps * n, generator=gen)
            for begin in range(0, steps * n, self.batch_size):
                idx = order[begin : begin + self.batch_size]
                log_prob = torch.empty(len(idx))
                entropy = torch.empty(len(idx))
                for k in arch_of[idx].unique().tolist():  # one generated policy per architecture in the minibatch
                    rows = (arch_of[idx] == k).nonzero().squeeze(-1)
                    out = model(flat["obs"][idx[rows]], codes[k], archs[k])
                    lp, ent = self._log_prob(self._distribution(out), flat["act"][idx[rows]])
                    log_prob = log_prob.index_put((rows,), lp)
                    entropy = entropy.index_put((rows,), ent)
                values = self._value(flat["obs"][idx], codes[arch_of[idx]])
                loss, _ = ppo_loss(
                    log_prob, flat["logp"][idx], flat["adv"][idx], values, flat["ret"][idx], entropy,
                    clip_range=self.clip_range, vf_coef=self.vf_coef, ent_coef=self.ent_coef,
                )  # fmt: skip
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                check_finite_gradients(params, "a PPO update of MultiArchPolicy.fit", "lower lr", clip=self.max_grad_norm)
                optimizer.step()

    # --------------------------------------------------------------- evaluation
    def evaluate(self, env_fn: EnvFn, arch: Architecture, episodes: int = 5, seed: int = 0) -> float:
        """Mean return of the generated (deterministic) policy of ``arch``."""
        check_episodes(episodes, seed, "MultiArchPolicy.evaluate")
        _check_env_fn(env_fn)
        net, env = self.policy(arch), env_fn()
        return float(np.mean(episode_returns(env, lambda o: self._env_action(env, self._act(net, o)), episodes, seed)))

    def rank(self, archs: Sequence[Architecture], env_fn: EnvFn, episodes: int = 5, seed: int = 0) -> list[Ranked]:
        """``archs`` evaluated with generated weights only, best mean return first."""
        check_episodes(episodes, seed, "MultiArchPolicy.rank")
        if not isinstance(archs, (list, tuple)) or not archs:
            raise ConfigError(f"expected a non-empty list of hn.Architecture, got {describe(archs)}; pass e.g. policy.sample(4, seed=0)")
        checked = [self.space.validate(a) for a in archs] if self.model is not None else list(archs)
        rows = [Ranked(a, self.space.num_parameters(a), self.evaluate(env_fn, a, episodes, seed)) for a in checked]
        return sorted(rows, key=lambda r: -r.mean_return)


def _small_head(supernet: MLPSupernet) -> None:
    """The output layer at 1/100 of its init and a zero bias: a policy that starts near zero, as stable-baselines3's do."""
    with torch.no_grad():
        supernet.head.weight.mul_(0.01)
        supernet.head.bias.zero_()


def _check_env_fn(env_fn: Any) -> None:
    if not callable(env_fn):
        raise ConfigError(
            f"expected env_fn to be a function returning a gymnasium.Env, got {describe(env_fn)}; pass e.g. lambda: gym.make('CartPole-v1')"
        )
