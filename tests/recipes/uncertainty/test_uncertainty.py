"""Noise hypernetworks: draws, batched samples, predictive entropy / mutual information, metrics and the diversity term."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

import hypernet as hn
from hypernet.recipes import uncertainty as unc
from hypernet.training import fit, make_loader


def noise_model(dropout: float = 0.0) -> hn.HyperModel:
    target = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 4))
    return hn.HyperModel(target, condition=hn.Noise(dim=6), generator=hn.create_generator("chunked", chunk_size=20, hidden=(16,)))


def test_different_seeds_give_different_draws_and_the_same_seed_the_same() -> None:
    model, x = noise_model(), torch.randn(7, 5)
    torch.manual_seed(1)
    a = model(x, None, samples=3)
    torch.manual_seed(1)
    b = model(x, None, samples=3)
    torch.manual_seed(2)
    c = model(x, None, samples=3)
    assert a.shape == (3, 7, 4)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)
    assert not torch.allclose(a[0], a[1])  # the draws of one call differ too


def test_batched_samples_equal_separate_calls_with_the_same_draws() -> None:
    model, x = noise_model(), torch.randn(7, 5)
    draws = torch.randn(4, 6)
    batched = model(x, draws)
    separate = torch.stack([model(x, draws[k : k + 1])[0] for k in range(4)])
    torch.testing.assert_close(batched, separate, atol=1e-6, rtol=1e-6)
    torch.manual_seed(3)
    implicit = model(x, None, samples=4)
    torch.manual_seed(3)
    again = model.condition.split(None, 4).values
    torch.testing.assert_close(implicit, model(x, again), atol=1e-6, rtol=1e-6)
    pred = hn.predictive(model, x, draws=draws)
    torch.testing.assert_close(pred.sample_probs, batched.softmax(-1))
    chunked = hn.predictive(model, x, draws=draws, batch_size=3)
    torch.testing.assert_close(chunked.sample_probs, pred.sample_probs, atol=1e-6, rtol=1e-6)


def _np_entropy(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(-1)


def test_entropy_and_mutual_information_match_numpy() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 9, 5)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    probs[0, 0] = [1, 0, 0, 0, 0]  # 0 log 0 = 0
    pred = unc.Predictive(torch.tensor(probs))
    mean = probs.mean(0)
    np.testing.assert_allclose(pred.probs.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(pred.entropy.numpy(), _np_entropy(mean), rtol=1e-10)
    np.testing.assert_allclose(pred.expected_entropy.numpy(), _np_entropy(probs).mean(0), rtol=1e-10)
    np.testing.assert_allclose(pred.mutual_information.numpy(), _np_entropy(mean) - _np_entropy(probs).mean(0), rtol=1e-9, atol=1e-12)
    same = unc.Predictive(torch.tensor(np.repeat(probs[:1], 4, axis=0)))
    assert float(same.mutual_information.abs().max()) < 1e-12  # agreeing draws: no epistemic uncertainty
    from_logits = unc.Predictive.from_logits(torch.tensor(logits))
    np.testing.assert_allclose(from_logits.sample_probs.numpy()[1:], probs[1:], rtol=1e-5)


def test_nll_ece_and_auroc_match_references() -> None:
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(4), size=200)
    labels = rng.integers(0, 4, size=200)
    nll = -np.log(probs[np.arange(200), labels]).mean()
    assert unc.negative_log_likelihood(torch.tensor(probs), torch.tensor(labels)) == pytest.approx(nll)
    conf, correct = probs.max(1), probs.argmax(1) == labels
    ece = 0.0
    for lo, hi in zip(np.linspace(0, 1, 16)[:-1], np.linspace(0, 1, 16)[1:], strict=True):
        in_bin = (conf > lo) & (conf <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    assert unc.expected_calibration_error(torch.tensor(probs), torch.tensor(labels), bins=15) == pytest.approx(ece)
    rel = unc.reliability(torch.tensor(probs), torch.tensor(labels))
    assert int(rel.count.sum()) == 200 and rel.edges.shape == (16,)
    neg, pos = rng.normal(size=50).round(1), (rng.normal(size=30) + 1).round(1)  # rounding makes ties
    expected = roc_auc_score(np.r_[np.zeros(50), np.ones(30)], np.r_[neg, pos])
    assert unc.auroc(torch.tensor(neg), torch.tensor(pos)) == pytest.approx(expected)


def test_metric_inputs_are_checked() -> None:
    with pytest.raises(hn.ConfigError, match="integer labels"):
        unc.negative_log_likelihood(torch.rand(3, 2), torch.rand(3))
    with pytest.raises(hn.ConfigError, match="positive int"):
        unc.reliability(torch.rand(3, 2), torch.zeros(3, dtype=torch.long), bins=0)
    with pytest.raises(hn.ConfigError, match="1-d"):
        unc.auroc(torch.zeros(0), torch.ones(2))
    with pytest.raises(hn.ConfigError, match="float tensor"):
        unc.entropy(torch.ones(3, dtype=torch.long))
    with pytest.raises(hn.ConfigError, match=r"\(K, B, C\)"):
        unc.Predictive.from_logits(torch.zeros(2, 3))


def test_predictive_for_ensembles_mc_dropout_and_plain_modules() -> None:
    x = torch.randn(8, 5)
    members = [nn.Linear(5, 3) for _ in range(3)]
    ens = hn.predictive(members, x)
    torch.testing.assert_close(ens.sample_probs, torch.stack([m(x) for m in members]).detach().softmax(-1))
    net = nn.Sequential(nn.Linear(5, 32), nn.Dropout(0.5), nn.Linear(32, 3)).eval()
    single = hn.predictive(net, x)
    assert single.sample_probs.shape == (1, 8, 3) and float(single.mutual_information.abs().max()) < 1e-6
    mc = hn.predictive(net, x, samples=10)
    assert mc.sample_probs.shape == (10, 8, 3) and float(mc.mutual_information.mean()) > 0
    assert not net[1].training  # dropout switched back off
    with pytest.raises(hn.ConfigError, match="dropout"):
        hn.predictive(nn.Linear(5, 3), x, samples=4)
    with pytest.raises(hn.ConfigError, match="ensemble of 3"):
        hn.predictive(members, x, samples=5)
    with pytest.raises(hn.ConfigError, match="samples=K"):
        hn.predictive(noise_model(), x)
    with pytest.raises(hn.ConfigError, match="draws only"):
        hn.predictive(net, x, draws=torch.randn(2, 6))
    with pytest.raises(hn.ConfigError, match="positive int"):
        hn.predictive(net, x, samples=0)
    with pytest.raises(hn.ConfigError, match=r"sequence of nn\.Modules"):
        hn.predictive([], x)
    with pytest.raises(hn.ConfigError, match=r"HyperModel, an nn\.Module"):
        hn.predictive("net", x)  # type: ignore[arg-type]


def test_weight_diversity_falls_as_draws_spread_and_pushes_them_apart() -> None:
    w = torch.randn(4, 50)
    for kind in ("entropy", "pairwise"):
        assert float(hn.weight_diversity(w, kind)) > float(hn.weight_diversity(3 * w, kind))
        close = (0.01 * w).requires_grad_(True)
        hn.weight_diversity(close, kind).backward()
        moved = close.detach() - 0.1 * close.grad
        assert torch.cdist(moved, moved).sum() > torch.cdist(close.detach(), close.detach()).sum()
    same = torch.zeros(3, 10, requires_grad=True)
    loss = hn.weight_diversity(same)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(same.grad).all()
    with pytest.raises(hn.ConfigError, match="K >= 2"):
        hn.weight_diversity(torch.randn(1, 5))
    with pytest.raises(hn.ConfigError, match="kind"):
        hn.weight_diversity(w, "kernel")


def test_noise_step_trains_and_keeps_draws_apart() -> None:
    x = torch.randn(256, 5)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()  # 3 classes
    data = torch.utils.data.TensorDataset(x, y)
    spread, info = {}, {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        model = noise_model()
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        step = hn.NoiseStep(samples=4, diversity_weight=weight)
        result = fit(model, step, make_loader(data, 64), opt, epochs=5, progress=False)
        assert result.metrics["train/acc"] > 0.65
        assert ("train/diversity" in result.metrics) == (weight > 0)
        with torch.no_grad():
            spread[weight] = float(model.flat_weights(torch.randn(8, 6)).std(0).mean())
            info[weight] = float(hn.predictive(model, x, samples=8).mutual_information.mean())
    assert spread[1.0] > 1.5 * spread[0.0] and info[1.0] > 2 * info[0.0]


def test_mixture_likelihood_is_the_nll_of_the_mean_prediction() -> None:
    model, x, y = noise_model(), torch.randn(9, 5), torch.randint(0, 4, (9,))
    torch.manual_seed(5)
    loss, metrics = hn.NoiseStep(samples=3, likelihood="mixture")(model, (x, y))
    torch.manual_seed(5)
    probs = model(x, model.condition.split(None, 3).values).softmax(-1)
    torch.testing.assert_close(loss, -probs.mean(0).gather(1, y[:, None]).log().mean())
    torch.manual_seed(5)
    mean_loss, _ = hn.NoiseStep(samples=3)(model, (x, y))
    torch.testing.assert_close(mean_loss, -probs.gather(2, y.expand(3, -1)[..., None]).log().mean())
    assert float(loss.detach()) <= float(mean_loss.detach()) and float(metrics["nll"]) == float(
        loss.detach()
    )  # Jensen: log of a mean >= mean of logs


def test_noise_step_arguments_are_checked() -> None:
    with pytest.raises(hn.ConfigError, match="samples >= 2"):
        hn.NoiseStep(samples=1, diversity_weight=0.1)
    with pytest.raises(hn.ConfigError, match="positive int"):
        hn.NoiseStep(samples=0)
    with pytest.raises(hn.ConfigError, match="likelihood in"):
        hn.NoiseStep(likelihood="max")
    with pytest.raises(hn.ConfigError, match="diversity in"):
        hn.NoiseStep(diversity="kl")
    with pytest.raises(hn.ConfigError, match=">= 0"):
        hn.NoiseStep(diversity_weight=-1)
    static = hn.HyperModel(nn.Linear(5, 2), condition=hn.Static(4), generator="mlp")
    with pytest.raises(hn.ConfigError, match="Noise condition"):
        hn.NoiseStep()(static, (torch.randn(2, 5), torch.zeros(2, dtype=torch.long)))
