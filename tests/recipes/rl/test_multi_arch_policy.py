"""MultiArchPolicy: plain policies of the requested architecture, and a PPO loss equal to stable-baselines3's."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

import hypernet as hn
from hypernet.recipes.rl._ppo import gae, ppo_loss


def _cartpole() -> gym.Env:
    return gym.make("CartPole-v1")


@pytest.mark.parametrize("fan_in_scaling", [False, True])
@pytest.mark.parametrize("widths", [(4,), (256,), (8, 64), (256, 4, 32)])
def test_policy_has_the_architectures_parameter_count_and_the_generated_weights(widths: tuple[int, ...], fan_in_scaling: bool) -> None:
    torch.manual_seed(0)
    hp = hn.MultiArchPolicy(embedding_dim=8, fan_in_scaling=fan_in_scaling).build(_cartpole())
    arch = hn.Architecture(widths, ("tanh",) * len(widths))
    net = hp.policy(arch)
    assert sum(p.numel() for p in net.parameters()) == hp.space.num_parameters(arch)
    assert [m.out_features for m in net if isinstance(m, nn.Linear)] == [*widths, 2]
    x = torch.randn(5, 4)
    assert hp.model is not None
    torch.testing.assert_close(net(x), hp.model(x, hp.space.encode(arch), arch), rtol=1e-5, atol=1e-6)


def test_fit_and_rank_tiny_run() -> None:
    torch.set_num_threads(1)
    hp = hn.MultiArchPolicy(widths=(4, 16), depths=(1, 2), embedding_dim=8, n_envs=2, n_steps=32, n_epochs=2, batch_size=32)
    before = {k: v.clone() for k, v in hp.build(_cartpole()).state_dict().items()}
    hp.fit(_cartpole, total_steps=128)
    assert hp.curve_ and all(1 <= r <= 500 for _, r in hp.curve_)
    assert any(not torch.equal(v, hp.state_dict()[k]) for k, v in before.items())
    archs = hp.sample(3, seed=0)
    ranked = hp.rank(archs, _cartpole, episodes=1)
    assert {r.arch for r in ranked} == set(archs)
    assert [r.mean_return for r in ranked] == sorted((r.mean_return for r in ranked), reverse=True)
    with pytest.raises(hn.ConfigError, match="expected widths"):
        hp.policy(hn.Architecture((5,), ("tanh",)))


def test_critic_arch_reads_the_architecture_code_and_trains() -> None:
    torch.set_num_threads(1)
    settings = {"n_envs": 2, "n_steps": 32, "n_epochs": 1, "batch_size": 32}
    hp = hn.MultiArchPolicy(widths=(4, 16), depths=(1, 2), embedding_dim=8, critic_arch=True, **settings)
    hp.build(_cartpole())
    assert hp.critic is not None
    first = next(m for m in hp.critic if isinstance(m, nn.Linear))
    assert first.in_features == 4 + hp.space.code_dim
    obs = torch.randn(3, 4)
    a, b = hn.Architecture((4,), ("tanh",)), hn.Architecture((16, 4), ("tanh", "tanh"))
    va = hp._value(obs, hp.space.encode(a).expand(3, -1))
    vb = hp._value(obs, hp.space.encode(b).expand(3, -1))
    assert va.shape == (3,) and not torch.allclose(va, vb)  # one value function per architecture
    torch.testing.assert_close(va, hp.critic(torch.cat([obs, hp.space.encode(a).expand(3, -1)], -1)).squeeze(-1))
    before = [p.clone() for p in hp.critic.parameters()]
    hp.fit(_cartpole, total_steps=64)
    assert any(not torch.equal(p0, p1) for p0, p1 in zip(before, hp.critic.parameters(), strict=True))
    with pytest.raises(hn.ConfigError, match="critic_arch"):
        hn.MultiArchPolicy(critic_arch="yes")  # type: ignore[arg-type]
    with pytest.raises(hn.ConfigError, match="fan_in_scaling"):
        hn.MultiArchPolicy(fan_in_scaling=1)  # type: ignore[arg-type]


def test_fan_in_scaling_keeps_narrow_policies_from_starting_constant() -> None:
    """At step 0 a 4-4-4 policy's output varies with the observation about as much as a 256-256-256 one's."""
    obs = torch.randn(512, 4)
    spread = {}
    for scaling in (False, True):
        torch.manual_seed(0)
        hp = hn.MultiArchPolicy(embedding_dim=8, fan_in_scaling=scaling).build(_cartpole())
        with torch.no_grad():
            for widths in ((4, 4, 4), (256, 256, 256)):
                spread[scaling, widths] = float(hp.policy(hn.Architecture(widths, ("tanh",) * 3))(obs).std(0).mean())
    assert spread[False, (4, 4, 4)] < 0.1 * spread[False, (256, 256, 256)]
    assert spread[True, (4, 4, 4)] > 0.25 * spread[True, (256, 256, 256)]


def test_gae_matches_stable_baselines3() -> None:
    from stable_baselines3.common.buffers import RolloutBuffer

    rng = np.random.default_rng(0)
    steps, envs = 6, 2
    buf = RolloutBuffer(steps, gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2), device="cpu", gamma=0.9, gae_lambda=0.8, n_envs=envs)
    rewards, values = rng.standard_normal((steps, envs)).astype(np.float32), rng.standard_normal((steps, envs)).astype(np.float32)
    starts = (rng.random((steps, envs)) < 0.3).astype(np.float32)
    for t in range(steps):
        buf.add(np.zeros((envs, 3)), np.zeros((envs, 1)), rewards[t], starts[t], torch.as_tensor(values[t]), torch.zeros(envs))
    last, dones = torch.as_tensor(rng.standard_normal(envs).astype(np.float32)), np.array([1.0, 0.0], dtype=np.float32)
    buf.compute_returns_and_advantage(last, dones)
    adv, ret = gae(*(torch.as_tensor(a) for a in (rewards, values, starts)), last, torch.as_tensor(dones), gamma=0.9, lam=0.8)
    np.testing.assert_allclose(adv.numpy(), buf.advantages, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ret.numpy(), buf.returns, rtol=1e-5, atol=1e-6)


def test_ppo_loss_matches_stable_baselines3_on_a_fixed_batch() -> None:
    """One SB3 PPO update (plain SGD, one full-batch epoch) moves every parameter by -lr * the gradient of ppo_loss."""
    from stable_baselines3 import PPO

    torch.manual_seed(0)
    lr, n_steps = 0.1, 64
    kwargs = {"optimizer_class": torch.optim.SGD, "optimizer_kwargs": {}, "net_arch": {"pi": [16], "vf": [16]}}
    ppo = PPO("MlpPolicy", _cartpole(), n_steps=n_steps, batch_size=n_steps, n_epochs=1, learning_rate=lr, ent_coef=0.03,
              vf_coef=0.7, clip_range=0.2, max_grad_norm=1e9, policy_kwargs=kwargs, seed=0, device="cpu")  # fmt: skip
    ppo._setup_learn(n_steps, callback=None)
    ppo.collect_rollouts(ppo.env, ppo._init_callback(None), ppo.rollout_buffer, n_rollout_steps=n_steps)
    with torch.no_grad():  # move the policy away from the one that collected the data: ratios != 1, clipping active
        for p in ppo.policy.parameters():
            p.add_(0.2 * torch.randn_like(p))
    data = next(ppo.rollout_buffer.get(batch_size=None))
    values, log_prob, entropy = ppo.policy.evaluate_actions(data.observations, data.actions.long().flatten())
    loss, parts = ppo_loss(log_prob, data.old_log_prob, data.advantages, values.flatten(), data.returns, entropy,
                           clip_range=0.2, vf_coef=0.7, ent_coef=0.03)  # fmt: skip
    assert 0 < parts["clip_fraction"] < 1
    params = list(ppo.policy.parameters())
    grads = torch.autograd.grad(loss, params)
    before = [p.detach().clone() for p in params]
    ppo.train()
    for p, b, g in zip(params, before, grads, strict=True):
        torch.testing.assert_close((b - p.detach()) / lr, g, rtol=1e-4, atol=1e-6)
    assert any(g.abs().max() > 1e-3 for g in grads)


def test_residual_starts_every_architecture_at_the_shared_supernet_and_then_learns_a_delta() -> None:
    torch.set_num_threads(1)
    settings = {"n_envs": 2, "n_steps": 32, "n_epochs": 1, "batch_size": 32}
    hp = hn.MultiArchPolicy(widths=(4, 16), depths=(1, 2), embedding_dim=8, residual=True, fan_in_scaling=True, **settings)
    hp.build(_cartpole())
    assert hp.model is not None and hp.model.parametrization == "residual"
    a, b = hn.Architecture((16, 4), ("tanh", "tanh")), hn.Architecture((4,), ("tanh",))
    with torch.no_grad():
        for arch in (a, b):  # the generated delta is exactly zero: the weights are the supernet's own slices
            generated = hp.model.generate(hp.space.encode(arch))
            base = hp.model.spec.unflatten(hp.model.base[: hp.model.spec.numel])
            for name, tensor in generated.items():
                torch.testing.assert_close(tensor, base[name], rtol=0, atol=0)
        obs = torch.randn(64, 4)
        assert float(hp.policy(a)(obs).abs().max()) < 0.05  # near-zero logits / actions at step 0
    head = [p.clone() for p in hp.model.generator.parameters()]
    hp.fit(_cartpole, total_steps=128)
    assert any(not torch.equal(p0, p1) for p0, p1 in zip(head, hp.model.generator.parameters(), strict=True))
    with torch.no_grad():
        generated = hp.model.generate(hp.space.encode(a))
        base = hp.model.spec.unflatten(hp.model.base[: hp.model.spec.numel])
    assert any(not torch.equal(generated[n], base[n]) for n in generated)  # a per-architecture delta now
    with pytest.raises(hn.ConfigError, match="residual"):
        hn.MultiArchPolicy(residual="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("arch_switch", ["rollout", "step"])
def test_arch_switch_decides_which_architecture_acts_and_the_update_scores_that_one(
    arch_switch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rollout's log-probabilities are those of the architecture recorded as acting, whichever mode draws it."""
    torch.set_num_threads(1)
    hp = hn.MultiArchPolicy(
        widths=(4, 16), depths=(1, 2), embedding_dim=8, n_envs=3, n_steps=40, n_epochs=1, batch_size=40, arch_switch=arch_switch
    )
    seen: list[torch.Tensor] = []
    original = hp._update

    def recording_update(archs, codes, acting, obs, acts, logp, *rest):  # type: ignore[no-untyped-def]
        assert hp.model is not None
        with torch.no_grad():
            for step in range(acting.shape[0]):
                for env in range(acting.shape[1]):
                    k = int(acting[step, env])
                    out = hp.model(obs[step, env][None], codes[k], archs[k])
                    expected = hp._log_prob(hp._distribution(out), acts[step, env][None])[0]
                    torch.testing.assert_close(expected[0], logp[step, env], rtol=1e-5, atol=1e-5)
        seen.append(acting.clone())
        return original(archs, codes, acting, obs, acts, logp, *rest)

    monkeypatch.setattr(hp, "_update", recording_update)
    hp.fit(_cartpole, total_steps=120)
    acting = seen[0]
    assert acting.shape == (40, 3)
    if arch_switch == "rollout":
        assert torch.equal(acting, torch.arange(3).expand(40, 3))
    else:
        assert all(len(acting[:, env].unique()) > 1 for env in range(3))  # a new draw at every step
        assert set(acting.flatten().tolist()) == {0, 1, 2}
    with pytest.raises(hn.ConfigError, match=r"arch_switch.*'rollout'"):
        hn.MultiArchPolicy(arch_switch="episode")


def test_step_then_rollout_switches_per_step_for_the_first_half_only() -> None:
    hp = hn.MultiArchPolicy(arch_switch="step_then_rollout")
    assert [hp._switches_per_step(done, 1000) for done in (0, 256, 499, 500, 744)] == [True, True, True, False, False]
    assert all(hn.MultiArchPolicy(arch_switch="step")._switches_per_step(d, 1000) for d in (0, 999))
    assert not any(hn.MultiArchPolicy()._switches_per_step(d, 1000) for d in (0, 999))
