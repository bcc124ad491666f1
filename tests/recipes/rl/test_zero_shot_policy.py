"""ZeroShotPolicy: generated policies equal the hypernetwork's functional call; experts are cached and reloaded untrained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import hypernet as hn
from hypernet.recipes.rl import PENDULUM
from hypernet.recipes.rl._experts import expert_key

TINY_SAC = {"learning_starts": 40, "batch_size": 32, "policy_kwargs": {"net_arch": [16, 16]}}
CONTEXTS = [[1.0, 1.0], [1.4, 0.7]]


def _tiny(**kw: object) -> hn.ZeroShotPolicy:
    args = {"hidden": (16,), "embedding_dim": 8, "steps": 20, "batch_size": 64, "expert_steps": 60, "transitions": 60}
    return hn.ZeroShotPolicy(PENDULUM, sac_kwargs=TINY_SAC, **{**args, **kw})  # type: ignore[arg-type]


def test_policy_equals_the_hypernetworks_functional_call() -> None:
    torch.manual_seed(0)
    zs = hn.ZeroShotPolicy(PENDULUM, hidden=(32, 16), embedding_dim=8).build(obs_dim=3, act_dim=1)
    assert zs.model is not None
    context = [1.3, 0.6]
    net = zs.policy(context)
    assert isinstance(net, torch.nn.Sequential) and not any(isinstance(m, hn.HyperModel) for m in net.modules())
    obs, act = torch.randn(7, 3), torch.rand(7, 1) * 2 - 1
    cond = zs.normalize(context)
    expected_pi, expected_q = zs.model.call(zs.model.weights(cond), obs, act)
    torch.testing.assert_close(net(obs), expected_pi, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(zs.q_function(context)(torch.cat([obs, act], -1)).squeeze(-1), expected_q, rtol=1e-5, atol=1e-6)
    # a per-sample batch of contexts gives each sample its own context's policy
    pi, _ = zs.solve(torch.stack([cond, zs.normalize([0.5, 1.9])]), obs[:2], act[:2])
    torch.testing.assert_close(pi[0], net(obs[:1])[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(pi[1], zs.policy([0.5, 1.9])(obs[1:2])[0], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(pi[1], net(obs[1:2])[0])


def test_fit_caches_experts_and_a_second_fit_loads_them_without_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.set_num_threads(1)
    cache = tmp_path / "experts"
    first = _tiny().fit(PENDULUM, CONTEXTS, experts=cache)
    stems = sorted(p.stem for p in cache.glob("*.safetensors"))
    assert stems == sorted(expert_key("pendulum", np.asarray(c), 60, 0) for c in CONTEXTS)
    assert all(not e.meta["loaded"] for e in first.experts_)
    assert len(first.losses_) == 20 and all(np.isfinite(first.losses_))

    from stable_baselines3 import SAC

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached expert was trained again")

    monkeypatch.setattr(SAC, "learn", no_training)
    second = _tiny().fit(PENDULUM, CONTEXTS, experts=cache)
    assert all(e.meta["loaded"] for e in second.experts_)
    obs = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    for a, b in zip(first.experts_, second.experts_, strict=True):
        np.testing.assert_array_equal(a.act(obs), b.act(obs))
        np.testing.assert_array_equal(a.q(obs, a.act(obs)), b.q(obs, b.act(obs)))
    # same data, same seed: the same hypernetwork
    assert first.losses_ == second.losses_
    returns = second.evaluate(PENDULUM, [[1.2, 0.9]], episodes=1)
    assert len(returns) == 1 and -2000 < returns[0] < 0


def test_an_expert_cache_under_the_home_folder_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hypernet.recipes.rl._experts import get_expert

    torch.set_num_threads(1)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    get_expert(PENDULUM, CONTEXTS[0], name="pendulum", steps=60, cache="~/experts", sac_kwargs=TINY_SAC, eval_episodes=1)
    assert len(list((tmp_path / "home" / "experts").glob("*.safetensors"))) == 1
    assert not (tmp_path / "work" / "~").exists()


def test_unfitted_policy_and_discrete_actions_are_refused() -> None:
    with pytest.raises(hn.HypernetError, match="call fit"):
        hn.ZeroShotPolicy(PENDULUM).policy([1.0, 1.0])
    from hypernet.recipes.rl import CARTPOLE

    with pytest.raises(hn.ConfigError, match="continuous"):
        hn.ZeroShotPolicy(CARTPOLE).fit(CARTPOLE, [[9.8, 0.1, 0.5]])
