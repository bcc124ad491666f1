"""Function-space diversity of noise hypernetworks: contrast inputs, the disagreement term, NoiseStep(contrast=...)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import hypernet as hn
from hypernet.recipes.uncertainty.contrast import contrast_inputs, draw_disagreement
from hypernet.training import fit, make_loader


def noise_model() -> hn.HyperModel:
    target = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
    return hn.HyperModel(target, condition=hn.Noise(dim=6), generator=hn.create_generator("chunked", chunk_size=20, hidden=(16,)))


def test_shuffle_keeps_each_rows_values_in_a_new_order_per_row() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 1, 6, 6)
    out = contrast_inputs(x, "shuffle")
    assert out.shape == x.shape
    flat, shuffled = x.flatten(1), out.flatten(1)
    torch.testing.assert_close(shuffled.sort(1).values, flat.sort(1).values)
    assert not torch.equal(shuffled, flat)
    orders = [tuple(flat[i].tolist().index(v) for v in shuffled[i].tolist()) for i in range(4)]
    assert len(set(orders)) == 4  # every sample gets its own permutation


def test_gaussian_adds_noise_scaled_by_the_batch_std_and_callables_are_checked() -> None:
    torch.manual_seed(0)
    x = 3.0 * torch.randn(500, 40)
    noise = contrast_inputs(x, "gaussian", scale=0.5) - x
    assert abs(float(noise.std()) - 0.5 * float(x.std())) < 0.05
    torch.testing.assert_close(contrast_inputs(x, lambda t: -t), -x)
    with pytest.raises(hn.ConfigError, match=r"shape \(500, 40\)"):
        contrast_inputs(x, lambda t: t[:1])
    with pytest.raises(hn.ConfigError, match="contrast in"):
        contrast_inputs(x, "rotate")


def test_draw_disagreement_is_the_mutual_information_and_has_finite_gradients() -> None:
    torch.manual_seed(0)
    logits = torch.randn(5, 7, 4, dtype=torch.float64)
    p = torch.softmax(logits, -1).numpy()
    mean = p.mean(0)
    reference = -(mean * np.log(mean)).sum(-1) + (p * np.log(p)).sum(-1).mean(0)
    np.testing.assert_allclose(draw_disagreement(logits).numpy(), reference, rtol=1e-10, atol=1e-12)
    assert float(draw_disagreement(logits[:1].expand(3, -1, -1)).abs().max()) < 1e-12  # identical draws: 0
    extreme = torch.tensor([[[1000.0, 0.0, -1000.0]], [[-1000.0, 0.0, 1000.0]]], requires_grad=True)
    draw_disagreement(extreme).sum().backward()
    assert extreme.grad is not None and bool(torch.isfinite(extreme.grad).all())
    with pytest.raises(hn.ConfigError, match="K >= 2"):
        draw_disagreement(logits[:1])


def test_noise_step_subtracts_the_weighted_disagreement_on_contrast_inputs() -> None:
    model, x, y = noise_model(), torch.randn(8, 5), torch.randint(0, 3, (8,))
    torch.manual_seed(3)
    loss, metrics = hn.NoiseStep(samples=3, likelihood="mixture", contrast="shuffle", contrast_weight=0.7)(model, (x, y))
    torch.manual_seed(3)
    draws = model.condition.split(None, 3).values
    logits = model(torch.cat([x, contrast_inputs(x, "shuffle")]), draws)
    log_p = logits[:, :8].log_softmax(-1).gather(-1, y.expand(3, -1)[..., None]).squeeze(-1)
    nll = np.log(3) - torch.logsumexp(log_p, 0).mean()
    mi = draw_disagreement(logits[:, 8:]).mean()
    torch.testing.assert_close(loss, nll - 0.7 * mi)
    torch.testing.assert_close(metrics["contrast_mi"], mi.detach())


def test_contrast_makes_draws_disagree_off_the_data_not_on_it() -> None:
    torch.manual_seed(0)
    x = torch.randn(256, 5)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    data = torch.utils.data.TensorDataset(x, y)
    far = 6.0 * torch.randn(256, 5)  # inputs well outside the training data
    on, off = {}, {}
    for contrast in (None, "gaussian"):
        torch.manual_seed(0)
        model = noise_model()
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        step = hn.NoiseStep(samples=4, diversity_weight=0.1, contrast=contrast, contrast_weight=1.0, contrast_scale=3.0)
        result = fit(model, step, make_loader(data, 64), opt, epochs=10, progress=False)
        assert result.metrics["train/acc"] > 0.7
        with torch.no_grad():
            on[contrast] = float(hn.predictive(model, x, samples=16).mutual_information.mean())
            off[contrast] = float(hn.predictive(model, far, samples=16).mutual_information.mean())
    # the draws disagree more far from the data, and the margin over the training data grows too (~2.8x both, seeded)
    assert off["gaussian"] > 2 * off[None]
    assert off["gaussian"] - on["gaussian"] > 2 * (off[None] - on[None])


def test_contrast_arguments_are_checked() -> None:
    with pytest.raises(hn.ConfigError, match="contrast in"):
        hn.NoiseStep(contrast="mixup")
    with pytest.raises(hn.ConfigError, match="contrast_weight"):
        hn.NoiseStep(contrast="shuffle", contrast_weight=-0.1)
    with pytest.raises(hn.ConfigError, match="contrast_scale"):
        hn.NoiseStep(contrast="gaussian", contrast_scale=-1)
    with pytest.raises(hn.ConfigError, match="samples >= 2 with a contrast"):
        hn.NoiseStep(samples=1, contrast="shuffle")
