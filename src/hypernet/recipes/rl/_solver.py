"""What HyperZero learns from solved tasks, and how: actor-critic targets, the losses, the training loop.

A *solver* maps (context, state, action) to (policy action, Q-value). HyperZero's solver is a
:class:`~hypernet.HyperModel` whose target is :class:`ActorCritic`; the context-conditioned
baseline (:class:`ContextMLP`) concatenates the context to the inputs. Both are trained by
:func:`train_solver` on the same expert data with the paper's loss (Rezaei-Shoshtari et al.,
2023): ``|pi(s) - a*|^2 + w_v |Q(s, a) - Q*(s, a)|^2 + w_td |Q*(s, a) - (r + g Q(s', pi(s')))|^2``
(the next action is not differentiated; rewards and Q-values are divided by one scale so the
weights do not depend on the reward's units).

Example:
    >>> import torch
    >>> net = ActorCritic(3, 1, (8,))
    >>> pi, q = net(torch.zeros(5, 3), torch.zeros(5, 1))
    >>> pi.shape, q.shape
    (torch.Size([5, 1]), torch.Size([5]))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...training.loop import checked_step

__all__ = ["ActorCritic", "ContextMLP", "Solver", "actor_layers", "solver_losses", "train_solver"]

Solver = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def actor_layers(sizes: Sequence[int], out_activation: nn.Module | None) -> nn.Sequential:
    """``Linear, ReLU, ..., Linear`` (+ ``out_activation``)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    if out_activation is not None:
        layers.append(out_activation)
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """A deterministic policy ``obs -> tanh(.)`` in ``[-1, 1]`` and a Q-function ``(obs, action) -> R``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        self.actor = actor_layers([obs_dim, *hidden, act_dim], nn.Tanh())
        self.critic = actor_layers([obs_dim + act_dim, *hidden, 1], None)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.actor(obs), self.critic(torch.cat([obs, action], dim=-1)).squeeze(-1)


class ContextMLP(nn.Module):
    """The context-conditioned baseline: an :class:`ActorCritic` reading ``[state, context]``."""

    def __init__(self, obs_dim: int, act_dim: int, ctx_dim: int, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        self.net = ActorCritic(obs_dim + ctx_dim, act_dim, hidden)
        self.ctx_dim = ctx_dim

    def forward(self, ctx: torch.Tensor, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(torch.cat([obs, ctx], dim=-1), action)


def solver_losses(
    solver: Solver, batch: dict[str, torch.Tensor], value_weight: float, td_weight: float, q_scale: float = 1.0
) -> dict[str, torch.Tensor]:
    """Imitation, value and TD losses of ``solver`` on ``batch`` (keys of :func:`~._experts.collect` plus ``ctx``)."""
    ctx, obs, nxt = batch["ctx"], batch["obs"], batch["next_obs"]
    q_star = batch["q"] / q_scale
    pi, q = solver(ctx, obs, batch["executed"])
    with torch.no_grad():
        next_action = solver(ctx, nxt, batch["executed"])[0]
    next_q = solver(ctx, nxt, next_action)[1]
    target = batch["reward"] / q_scale + batch["discount"] * next_q
    action_loss = F.mse_loss(pi, batch["action"])
    value_loss = F.mse_loss(q, q_star)
    td_loss = F.mse_loss(q_star, target)
    total = action_loss + value_weight * value_loss + td_weight * td_loss
    return {"loss": total, "action": action_loss, "value": value_loss, "td": td_loss}


def train_solver(
    solver: Solver,
    parameters: list[nn.Parameter],
    data: dict[str, torch.Tensor],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    value_weight: float,
    td_weight: float,
    q_scale: float,
    seed: int,
    progress: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Adam on :func:`solver_losses` over random minibatches of ``data``; returns the loss of every step."""
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(parameters, lr=lr)
    n = len(data["obs"])
    losses: list[float] = []
    for step in range(steps):
        idx = torch.randint(n, (min(batch_size, n),), generator=gen)
        batch = {k: v[idx] for k, v in data.items()}
        loss = solver_losses(solver, batch, value_weight, td_weight, q_scale)["loss"]
        losses.append(
            checked_step(loss, optimizer, parameters, where=f"step {step + 1} of the zero-shot policy's training", fix="lower lr")
        )
        if progress is not None:
            progress(step, losses[-1])
    return losses


def stack_data(parts: list[dict[str, np.ndarray]], contexts: np.ndarray) -> dict[str, torch.Tensor]:
    """Concatenate per-context transitions into one float32 data set with a ``ctx`` column (normalised contexts)."""
    out: dict[str, list[np.ndarray]] = {}
    for part, ctx in zip(parts, contexts, strict=True):
        n = len(part["obs"])
        for k, v in part.items():
            out.setdefault(k, []).append(v)
        out.setdefault("ctx", []).append(np.repeat(np.asarray(ctx, dtype=np.float32)[None], n, axis=0))
    return {k: torch.as_tensor(np.concatenate(v), dtype=torch.float32) for k, v in out.items()}
