"""Per-sample conditions: one batched call equals the per-sample loop, and repeated conditions are generated once."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hypernet as hn

from .conftest import build, make_cnn, make_mlp, small_generator


def _loop(model: hn.HyperModel, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    return torch.cat([model(x[i : i + 1], int(ids[i])) for i in range(len(ids))])


def test_batched_equals_loop(target_name: str, generator_name: str) -> None:
    model, inputs = build(target_name, generator_name)
    model.eval()
    x, ids = inputs(9), torch.tensor([4, 0, 2, 2, 1, 4, 0, 3, 2])
    torch.testing.assert_close(model(x, ids), _loop(model, x, ids), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("ids", [[0, 0, 0, 0, 0, 0, 0, 1], [3, 1, 4, 0, 2, 5, 6, 7]])
def test_uneven_and_all_distinct_groups(ids: list[int]) -> None:
    model, inputs = build("mlp", "mlp", num=8)
    x, t = inputs(len(ids)), torch.tensor(ids)
    torch.testing.assert_close(model(x, t), _loop(model, x, t), atol=1e-5, rtol=1e-5)


def test_loop_path_matches_vmap_path() -> None:
    fast, inputs = build("mlp", "chunked", per_sample="vmap")
    slow = hn.HyperModel(make_mlp(), condition=hn.Embedding(5, 8), generator=small_generator("chunked"), per_sample="loop")
    slow.load_state_dict(fast.state_dict())
    x, ids = inputs(10), torch.randint(0, 5, (10,))
    out_fast, out_slow = fast(x, ids), slow(x, ids)
    torch.testing.assert_close(out_fast, out_slow, atol=1e-5, rtol=1e-5)
    g_fast = torch.autograd.grad(out_fast.square().sum(), list(fast.generator.parameters()))
    g_slow = torch.autograd.grad(out_slow.square().sum(), list(slow.generator.parameters()))
    for a, b in zip(g_fast, g_slow, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_dedupe_generates_unique_conditions_only(generator_name: str) -> None:
    model, inputs = build("mlp", generator_name)
    seen: list[int] = []
    model.generator.register_forward_hook(lambda mod, args, out: seen.append(args[0].shape[0]))
    model(inputs(64), torch.tensor([1, 3, 3, 1] * 16))
    assert seen == [2]


def test_batchnorm_train_mode_uses_one_call_per_group() -> None:
    model = hn.HyperModel(make_cnn(), condition=hn.Embedding(3, 8))
    model.train()
    x, ids = torch.randn(6, 1, 6, 6), torch.tensor([0, 1, 0, 2, 1, 0])
    out = model(x, ids)
    for u in range(3):
        rows = (ids == u).nonzero().squeeze(1)
        group = model(x[rows], u)
        torch.testing.assert_close(out[rows], group, atol=1e-5, rtol=1e-5)


def test_continuous_per_sample_and_dedupe() -> None:
    model = hn.HyperModel(make_mlp(), condition=hn.Continuous(2, 8), generator="mlp")
    seen: list[int] = []
    model.generator.register_forward_hook(lambda mod, args, out: seen.append(args[0].shape[0]))
    hp = torch.tensor([[0.1, 0.5], [0.2, 0.5], [0.1, 0.5]])
    x = torch.randn(3, 6)
    out = model(x, hp)
    assert seen[0] == 2
    for i in range(3):
        torch.testing.assert_close(out[i : i + 1], model(x[i : i + 1], hp[i]), atol=1e-5, rtol=1e-5)


def test_noise_draws_come_first() -> None:
    model = hn.HyperModel(make_mlp(), condition=hn.Noise(4), generator="mlp")
    x = torch.randn(5, 6)
    assert model(x, None, samples=7).shape == (7, 5, 3)
    z = torch.randn(3, 4)
    out = model(x, z)
    for k in range(3):
        torch.testing.assert_close(out[k], model(x, z[k : k + 1])[0], atol=1e-6, rtol=0)
    assert not torch.allclose(out[0], out[1])


def test_noise_draws_loop_for_recurrent_target() -> None:
    from .conftest import GRUClassifier

    model = hn.HyperModel(GRUClassifier(), condition=hn.Noise(4), generator="chunked")
    z, x = torch.randn(3, 4), torch.randn(2, 5, 3)
    out = model(x, z)
    assert out.shape == (3, 2, 4)
    torch.testing.assert_close(out[2], model(x, z[2:3])[0])


def test_grouped_support_sets_match_one_at_a_time() -> None:
    enc = hn.SetEncoder(x_dim=6, n_classes=3, dim=8)
    model = hn.HyperModel(make_mlp(), condition=enc, generator="mlp")
    Xs, ys = torch.randn(4, 10, 6), torch.randint(0, 3, (4, 10))
    ys[1, 7:] = -1  # padding rows
    queries = torch.randn(4, 5, 6)
    out = model(queries, (Xs, ys))
    assert out.shape == (4, 5, 3)
    for t in range(4):
        keep = ys[t] >= 0
        torch.testing.assert_close(out[t], model(queries[t], (Xs[t][keep], ys[t][keep])), atol=1e-5, rtol=1e-5)


def test_batch_dim_for_sequence_first_inputs() -> None:
    class SeqFirst(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (T, B, 3)
            return self.lin(x)

    model = hn.HyperModel(SeqFirst(), condition=hn.Embedding(4, 8), generator="mlp", batch_dim=1)
    x, ids = torch.randn(5, 6, 3), torch.tensor([0, 1, 2, 3, 0, 1])
    out = model(x, ids)
    for i in range(6):
        torch.testing.assert_close(out[:, i], model(x[:, i : i + 1], int(ids[i]))[:, 0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("target_name", "generator", "generator_calls"),
    [
        ("mlp", "mlp", [7]),  # generator larger than a block's outputs: one call for all sets, rows split per block
        ("mlp", "chunked", [7]),
        ("gru", "chunked", [3, 3, 1]),  # small generator: one call per block, used while in cache
    ],
)
def test_blocks_of_weight_sets_give_the_same_outputs_and_gradients(target_name: str, generator: str, generator_calls: list[int]) -> None:
    whole, inputs = build(target_name, generator, num=7)
    blocked, _ = build(target_name, generator, num=7, sets_per_block=3)
    blocked.load_state_dict(whole.state_dict())
    assert whole.sets_per_block >= 7 and blocked.sets_per_block == 3
    x, ids = inputs(12), torch.tensor([6, 0, 2, 2, 5, 1, 4, 3, 6, 0, 1, 5])
    seen: list[int] = []
    calls: list[int] = []
    blocked.generator.register_forward_hook(lambda mod, args, out: seen.append(args[0].shape[0]))
    blocked.target.register_forward_hook(lambda mod, args, out: calls.append(1))
    out_whole, out_blocked = whole(x, ids), blocked(x, ids)
    assert seen == generator_calls
    assert len(calls) == (3 if target_name == "mlp" else 7)  # the target runs per block of 3 (vmapped) or per set (loop)
    torch.testing.assert_close(out_blocked, out_whole, atol=1e-5, rtol=1e-5)
    g_whole = torch.autograd.grad(out_whole.square().sum(), [p for p in whole.parameters() if p.requires_grad])
    g_blocked = torch.autograd.grad(out_blocked.square().sum(), [p for p in blocked.parameters() if p.requires_grad])
    assert len(g_whole) > len(list(whole.generator.parameters()))  # the condition's (and any shared) parameters too
    for a, b in zip(g_whole, g_blocked, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_blocks_for_noise_draws_and_grouped_sets() -> None:
    noisy = hn.HyperModel(make_mlp(), condition=hn.Noise(4), generator="mlp", sets_per_block=2)
    z, x = torch.randn(5, 4), torch.randn(3, 6)
    out = noisy(x, z)
    assert out.shape == (5, 3, 3)
    for k in range(5):
        torch.testing.assert_close(out[k], noisy(x, z[k : k + 1])[0], atol=1e-6, rtol=0)
    enc = hn.HyperModel(make_mlp(), condition=hn.SetEncoder(6, 3, 8), generator="mlp", sets_per_block=2)
    Xs, ys, q = torch.randn(3, 4, 6), torch.randint(0, 3, (3, 4)), torch.randn(3, 2, 6)
    grouped = enc(q, (Xs, ys))
    for t in range(3):
        torch.testing.assert_close(grouped[t], enc(q[t], (Xs[t], ys[t])), atol=1e-5, rtol=1e-5)
