"""The smallest PPO that :class:`~hypernet.MultiArchPolicy` needs: GAE and the clipped loss, written like stable-baselines3's.

Why not stable-baselines3 itself: HyperPPO samples a new architecture for every environment
at every rollout and generates its weights, so the "policy" of one rollout is several
networks whose parameters are outputs of the hypernetwork; SB3's ``ActorCriticPolicy`` owns
one fixed network. The update below follows SB3's ``PPO.train`` term by term (a test checks
the gradient against SB3's on a fixed batch).

Example:
    >>> import torch
    >>> adv, ret = gae(torch.ones(3, 1), torch.zeros(3, 1), torch.zeros(3, 1), torch.zeros(1), torch.ones(1), gamma=0.5, lam=1.0)
    >>> adv[:, 0].tolist()
    [1.75, 1.5, 1.0]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["gae", "ppo_loss"]


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    episode_starts: torch.Tensor,
    last_values: torch.Tensor,
    dones: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns of a ``(T, N)`` rollout (SB3's ``compute_returns_and_advantage``).

    ``episode_starts[t]`` is 1 where step ``t`` begins an episode; ``dones`` says whether the
    step after the rollout does; ``last_values`` are the values of the observations after it.
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(last_values)
    for t in reversed(range(steps)):
        if t == steps - 1:
            alive, next_values = 1.0 - dones, last_values
        else:
            alive, next_values = 1.0 - episode_starts[t + 1], values[t + 1]
        delta = rewards[t] + gamma * next_values * alive - values[t]
        running = delta + gamma * lam * alive * running
        advantages[t] = running
    return advantages, advantages + values


def ppo_loss(
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    values: torch.Tensor,
    returns: torch.Tensor,
    entropy: torch.Tensor | None,
    *,
    clip_range: float = 0.2,
    vf_coef: float = 0.5,
    ent_coef: float = 0.0,
    normalize_advantage: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO's clipped surrogate + value + entropy loss of one minibatch, as SB3 computes it (``clip_range_vf=None``)."""
    if normalize_advantage and len(advantages) > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    ratio = torch.exp(log_prob - old_log_prob)
    policy_loss = -torch.min(advantages * ratio, advantages * torch.clamp(ratio, 1 - clip_range, 1 + clip_range)).mean()
    value_loss = F.mse_loss(returns, values)
    entropy_loss = -torch.mean(-log_prob) if entropy is None else -torch.mean(entropy)
    loss = policy_loss + ent_coef * entropy_loss + vf_coef * value_loss
    clipped = (torch.abs(ratio - 1) > clip_range).float().mean().item()
    parts = {"policy": policy_loss.item(), "value": value_loss.item(), "entropy": -entropy_loss.item(), "clip_fraction": clipped}
    return loss, parts
