"""Context families change the physics (or the reward) of the environment they make, and refuse contexts outside their space."""

from __future__ import annotations

import numpy as np
import pytest

import hypernet as hn
from hypernet.recipes.rl import (
    CARTPOLE,
    CHEETAH_SPEED,
    CHEETAH_TORSO,
    IDP_GRAVITY,
    IP_POLE_MASS,
    IP_TARGET,
    PENDULUM,
    PENDULUM_TARGET,
    ContextFamily,
)


def _trajectory(family: ContextFamily, context: list[float], steps: int = 30) -> tuple[np.ndarray, np.ndarray]:
    env = family(context)
    obs, _ = env.reset(seed=3)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(steps, *env.action_space.shape)) if env.action_space.shape else None
    states, rewards = [obs], []
    for t in range(steps):
        action = (t % 2) if actions is None else actions[t].astype(np.float32)
        obs, reward, terminated, truncated, _ = env.step(action)
        states.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            break
    return np.stack(states), np.asarray(rewards)


@pytest.mark.parametrize(
    ("family", "a", "b"),
    [
        (PENDULUM, [1.0, 1.0], [1.6, 0.6]),
        (CARTPOLE, [9.8, 0.1, 0.5], [15.0, 0.4, 1.0]),
        (CHEETAH_TORSO, [6.25], [12.0]),
        (IDP_GRAVITY, [9.81], [15.0]),
        (IP_POLE_MASS, [5.0], [15.0]),
    ],
)
def test_two_contexts_give_different_trajectories_under_the_same_actions(family: ContextFamily, a: list[float], b: list[float]) -> None:
    same_a, _ = _trajectory(family, a)
    again_a, _ = _trajectory(family, a)
    other, _ = _trajectory(family, b)
    np.testing.assert_array_equal(same_a, again_a)  # deterministic: the difference below is the context's
    n = min(len(same_a), len(other))
    assert np.abs(same_a[1:n] - other[1:n]).max() > 1e-3
    np.testing.assert_allclose(same_a[0], other[0])  # same reset state


def test_cartpole_recomputes_its_derived_constants() -> None:
    env = CARTPOLE([12.0, 0.3, 0.8]).unwrapped
    assert (env.gravity, env.masspole, env.length) == (12.0, 0.3, 0.8)
    assert env.total_mass == pytest.approx(0.3 + env.masscart)
    assert env.polemass_length == pytest.approx(0.3 * 0.8)


@pytest.mark.parametrize(("family", "a", "b"), [(CHEETAH_SPEED, [1.0], [6.0]), (PENDULUM_TARGET, [0.0], [0.3]), (IP_TARGET, [0.0], [0.5])])
def test_reward_family_changes_rewards_not_dynamics(family: ContextFamily, a: list[float], b: list[float]) -> None:
    states_a, rewards_a = _trajectory(family, a)
    states_b, rewards_b = _trajectory(family, b)
    np.testing.assert_array_equal(states_a, states_b)
    assert np.abs(rewards_a - rewards_b).max() > 0.05


def test_target_position_is_the_alive_reward_minus_the_distance_of_the_cart() -> None:
    states, rewards = _trajectory(IP_TARGET, [0.4], steps=5)
    _, own = _trajectory(IP_POLE_MASS, [5.02], steps=5)  # InvertedPendulum's own reward: 1 per step with the pole up
    np.testing.assert_allclose(rewards, own - np.abs(states[1 : len(rewards) + 1, 0] - 0.4), rtol=1e-6, atol=1e-6)


def test_target_position_refuses_an_environment_without_a_cart() -> None:
    import gymnasium as gym

    from hypernet.recipes.rl import TargetPosition

    with pytest.raises(hn.ConfigError, match=r"first joint is the cart.*got Pendulum-v1.*InvertedPendulum-v5"):
        TargetPosition(gym.make("Pendulum-v1"), 0.2)


def test_target_angle_zero_is_pendulums_own_reward() -> None:
    _, own = _trajectory(PENDULUM, [1.0, 1.0])
    _, shifted = _trajectory(PENDULUM_TARGET, [0.0])
    np.testing.assert_allclose(shifted, own, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("bad", [[5.0, 1.0], [1.0, 0.1], [1.0], "heavy", [float("nan"), 1.0]])
def test_context_outside_the_declared_space_is_a_config_error(bad: object) -> None:
    with pytest.raises(hn.ConfigError, match="expected") as info:
        PENDULUM(bad)
    if isinstance(bad, list) and len(bad) == 2 and all(np.isfinite(bad)):
        assert "declared space" in str(info.value) and "pick values" in str(info.value)


def test_zero_shot_policy_refuses_a_context_outside_its_space_and_stays_unchanged() -> None:
    zs = hn.ZeroShotPolicy(PENDULUM, hidden=(8,), embedding_dim=4).build(3, 1)
    before = {k: v.clone() for k, v in zs.state_dict().items()}
    with pytest.raises(hn.ConfigError, match=r"declared space.*got \[\[?2\.5"):
        zs.policy([2.5, 1.0])
    with pytest.raises(hn.ConfigError, match="declared space"):
        zs.evaluate(PENDULUM, [[1.0, 1.0], [0.1, 1.0]], episodes=1)
    assert all(torch_equal(v, zs.state_dict()[k]) for k, v in before.items())


def torch_equal(a: object, b: object) -> bool:
    import torch

    return bool(torch.equal(a, b))  # type: ignore[arg-type]
