"""``moe`` section of ``benchmarks/perf.py``: one HyperMoE layer against a hand-written MoE with the same dispatch.

Forward + backward of a mean-squared loss through one mixture-of-experts layer: 16 experts, top-2,
4,096 tokens of width 256, expert MLPs 256-512-256 (GELU), routing by one linear gate whose
weights are the same in every variant (so every variant routes the same tokens to the same experts).

Variants:
    (a) ``hn.HyperMoE(experts="hyper")``: expert weights generated per step by the ``chunked``
        generator (hidden 64) from 16 expert embeddings; (b) a hand-written MoE with plain expert
        tensors ``(E, d, h)``: sort the (token, slot) pairs by expert, scatter into a zero-padded
        ``(E, C, d)`` grid, ``torch.baddbmm`` twice, gather back, weight by the gates, ``index_add``;
    (c) the same hand-written MoE fed by the same generator module called by hand (what the library
        adds around the generator); (d) ``hn.HyperMoE(experts="plain")`` (the library's dispatch alone);
    (e) as (a) with a smaller generator (chunked, hidden 32), for information.

Run alone: ``python benchmarks/perf.py --sections moe --output perf_moe`` (writes results/perf_moe.{csv,md}).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from perf import Row, measure

import hypernet as hn

E, K, TOKENS, D, HIDDEN = 16, 2, 4096, 256, 512
SECTION = "moe one HyperMoE layer (16 experts, top-2, 4096 tokens, d 256, hidden 512)"
VARIANTS = {
    "a": "(a) HyperMoE, generated experts",
    "b": "(b) hand-written MoE, plain experts",
    "c": "(c) generator + hand-written MoE",
    "d": "(d) HyperMoE, plain experts",
    "e": "(e) HyperMoE, generated experts, chunked hidden 32",
}
CLAIMS = [
    ("moe: HyperMoE generated experts / hand-written MoE (plain experts)", "<= 1.3", VARIANTS["a"], VARIANTS["b"]),
    ("moe: HyperMoE generated experts / (same generator + hand-written MoE)", "-", VARIANTS["a"], VARIANTS["c"]),
    ("moe: HyperMoE plain experts / hand-written MoE (plain experts)", "-", VARIANTS["d"], VARIANTS["b"]),
    ("moe: HyperMoE generated experts, generator hidden 32 / hand-written MoE (plain experts)", "-", VARIANTS["e"], VARIANTS["b"]),
]


def hand_moe(
    x: torch.Tensor, gate: torch.nn.Linear, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor
) -> torch.Tensor:
    """Top-k MoE written by hand: w1 ``(E, h, d)``, b1 ``(E, h)``, w2 ``(E, d, h)``, b2 ``(E, d)``."""
    logits = gate(x)
    top, idx = torch.topk(logits, K, dim=-1)
    gates = F.softmax(top, dim=-1)
    flat = idx.reshape(-1)
    order = torch.argsort(flat, stable=True)
    sizes = torch.bincount(flat, minlength=E)
    token = order // K
    group = int(sizes.max())
    starts = torch.cumsum(sizes, 0) - sizes
    expert = flat[order]
    slots = expert * group + (torch.arange(flat.numel()) - starts[expert])
    grid = x.new_zeros(E * group, D).index_copy(0, slots, x.index_select(0, token)).view(E, group, D)
    h = F.gelu(torch.baddbmm(b1.unsqueeze(1), grid, w1.transpose(1, 2)))
    y = torch.baddbmm(b2.unsqueeze(1), h, w2.transpose(1, 2)).view(E * group, D).index_select(0, slots)
    y = y * gates.reshape(-1).index_select(0, order).unsqueeze(1)
    return x.new_zeros(x.shape[0], D).index_add(0, token, y)


def section_moe(reps: int) -> list[Row]:
    torch.manual_seed(0)
    x = torch.randn(TOKENS, D)
    target = torch.randn(TOKENS, D)
    hyper = hn.HyperMoE(D, D, E, K, experts="hyper", router="learned", hidden=HIDDEN, generator="chunked", dispatch="padded")
    plain = hn.HyperMoE(D, D, E, K, experts="plain", router="learned", hidden=HIDDEN, dispatch="padded")
    small = hn.HyperMoE(D, D, E, K, experts="hyper", router="learned", hidden=HIDDEN, generator_kwargs={"hidden": [32]}, dispatch="padded")
    gate = torch.nn.Linear(D, E)
    for layer in (hyper, plain, small):
        layer.router.gate.load_state_dict(gate.state_dict())  # type: ignore[union-attr]
    p = plain.experts.params()
    w1, b1, w2, b2 = (p[n].detach().clone().requires_grad_() for n in ("0.weight", "0.bias", "2.weight", "2.bias"))
    bank = hyper.experts.hyper  # type: ignore[union-attr]
    ids = torch.arange(E)

    def by_hand_generated() -> torch.Tensor:
        flat = torch.addcmul(bank.base, bank.generator(bank.condition(ids)), bank.scale)[:, : bank.spec.numel]
        w = bank.spec.unflatten(flat)
        return hand_moe(x, gate, w["0.weight"], w["0.bias"], w["2.weight"], w["2.bias"])

    def step(fn: object) -> object:
        def run() -> None:
            out = fn()  # type: ignore[operator]
            F.mse_loss(out, target).backward()

        return run

    # the variants compute the same function of their weights: check before timing
    with torch.no_grad():
        torch.testing.assert_close(hand_moe(x, gate, w1, b1, w2, b2), plain(x), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(by_hand_generated(), hyper(x), atol=1e-4, rtol=1e-4)
    fns = {
        VARIANTS["a"]: step(lambda: hyper(x)),
        VARIANTS["b"]: step(lambda: hand_moe(x, gate, w1, b1, w2, b2)),
        VARIANTS["c"]: step(by_hand_generated),
        VARIANTS["d"]: step(lambda: plain(x)),
        VARIANTS["e"]: step(lambda: small(x)),
    }
    small_bank = small.experts.hyper  # type: ignore[union-attr]
    info: dict[str, dict[str, object]] = {
        VARIANTS["a"]: {"generator": "chunked, hidden 64", "generator_params": bank.generator.num_parameters},
        VARIANTS["c"]: {"generator": "chunked, hidden 64", "generator_params": bank.generator.num_parameters},
        VARIANTS["e"]: {"generator": "chunked, hidden 32", "generator_params": small_bank.generator.num_parameters},
    }
    experts = {"expert_params": bank.spec.numel * E}
    return [Row(SECTION, k, *v, {**info.get(k, {}), **experts}) for k, v in measure(fns, reps).items()]  # type: ignore[arg-type]
