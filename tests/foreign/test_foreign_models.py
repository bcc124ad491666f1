"""Hugging Face and PEFT targets: per-sample inputs travel with their samples, outputs keep their types.

Every check compares with a reference: the plain target holding the same weights, or the
per-sample loop (one call per sample with a single condition).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch.utils._pytree import tree_flatten

import hypernet as hn

from ..conftest import small_generator
from .models import CASES, Case

IDS = torch.tensor([2, 0, 2, 1, 0])


def _model(case: Case, generator: str = "chunked", **kw: Any) -> hn.HyperModel:
    torch.manual_seed(0)
    return hn.HyperModel(case.build(), condition=hn.Embedding(3, 8), generator=small_generator(generator), generate=case.generate, **kw)


def _rows(batch: dict[str, Any], i: int) -> dict[str, Any]:
    n = len(IDS)
    return {k: v[i : i + 1] if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] == n else v for k, v in batch.items()}


def _loop(model: hn.HyperModel, batch: dict[str, Any], ids: torch.Tensor) -> Any:
    outs = [model(_rows(batch, i), int(ids[i])) for i in range(len(ids))]
    leaves = [tree_flatten(o)[0] for o in outs]
    spec = tree_flatten(outs[0])[1]
    return spec, [torch.cat([lv[j] for lv in leaves]) for j in range(len(leaves[0]))]


def _assert_same(out: Any, ref: Any, atol: float = 1e-5) -> None:
    assert type(out) is type(ref)
    out_leaves, out_spec = tree_flatten(out)
    ref_leaves, ref_spec = tree_flatten(ref)
    assert out_spec == ref_spec
    for a, b in zip(out_leaves, ref_leaves, strict=True):
        torch.testing.assert_close(a, b, atol=atol, rtol=1e-5)


def _state(model: hn.HyperModel) -> dict[str, Any]:
    return {
        "tensors": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "grad": {k: p.requires_grad for k, p in model.named_parameters()},
        "training": [m.training for m in model.modules()],
        "params": {k: id(p) for k, p in model.target.named_parameters()},
    }


def _assert_state(model: hn.HyperModel, before: dict[str, Any]) -> None:
    after = _state(model)
    assert after["grad"] == before["grad"] and after["training"] == before["training"] and after["params"] == before["params"]
    assert all(torch.equal(before["tensors"][k], v) for k, v in after["tensors"].items())


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]


def test_single_condition_equals_the_plain_target_with_the_same_weights(case: Case) -> None:
    model = _model(case)
    batch = case.batch(len(IDS))
    plain = copy.deepcopy(model.target)
    with torch.no_grad():
        for name, value in model.generate(1).items():
            plain.get_parameter(name).copy_(value)
    _assert_same(model(batch, 1), plain(**batch))


def test_per_sample_conditions_with_per_sample_inputs_equal_the_loop(case: Case) -> None:
    model = _model(case)
    batch = case.batch(len(IDS))
    out = model(batch, IDS)
    spec, leaves = _loop(model, batch, IDS)
    assert tree_flatten(out)[1] == spec
    for a, b in zip(tree_flatten(out)[0], leaves, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_per_sample_loop_path_equals_vmap_path(case: Case) -> None:
    fast, slow = _model(case, per_sample="auto"), _model(case, per_sample="loop")
    batch = case.batch(len(IDS))
    _assert_same(fast(batch, IDS), slow(batch, IDS))


def test_materialize_parity(case: Case) -> None:
    model = _model(case)
    batch = case.batch(len(IDS))
    net = model.materialize(2)
    _assert_same(net(**batch), model(batch, 2))


def test_generator_gets_finite_gradients_from_a_per_sample_call(case: Case) -> None:
    model = _model(case)
    out = model(case.batch(len(IDS)), IDS)
    loss = sum(t.float().square().mean() for t in tree_flatten(out)[0])
    assert isinstance(loss, torch.Tensor)
    loss.backward()
    grads = [p.grad for p in model.generator.parameters()]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads if g is not None)
    assert model.condition.table.grad is not None and bool(torch.isfinite(model.condition.table.grad).all())


def test_a_call_that_raises_leaves_the_model_unchanged(case: Case) -> None:
    model = _model(case).train()
    before = _state(model)
    last = [m for m in model.target.modules() if isinstance(m, torch.nn.Linear | torch.nn.LayerNorm)][-1]

    def fail(*_: Any) -> None:
        raise RuntimeError("injected failure deep in the target")

    handle = last.register_forward_hook(fail)
    try:
        with pytest.raises(RuntimeError, match="injected"):
            model(case.batch(len(IDS)), IDS)
        with pytest.raises(RuntimeError, match="injected"):
            model(case.batch(len(IDS)), 1)
    finally:
        handle.remove()
    _assert_state(model, before)


def test_tokenizer_style_mapping_and_keywords_give_the_same_result() -> None:
    model = _model(CASES["bert"])
    batch = CASES["bert"].batch(len(IDS))
    by_mapping = model(batch, IDS)
    by_keywords = model(batch["input_ids"], IDS, attention_mask=batch["attention_mask"])
    _assert_same(by_keywords, by_mapping, atol=0.0)


def test_minilm_style_attention_mask_per_sample_equals_the_loop() -> None:
    """The reported case: lowrank generator on BERT's query weights, task ids and padding masks per sample."""
    case = CASES["bert"]
    torch.manual_seed(0)
    model = hn.HyperModel(case.build(), condition=hn.Embedding(3, 8), generator="lowrank", generate="*attention.self.query.weight")
    batch = case.batch(8)
    ids = torch.tensor([0, 1, 2, 0, 1, 2, 2, 0])
    out = model(batch["input_ids"], ids, attention_mask=batch["attention_mask"])
    for i in range(len(ids)):
        one = model(batch["input_ids"][i : i + 1], int(ids[i]), attention_mask=batch["attention_mask"][i : i + 1])
        torch.testing.assert_close(out.last_hidden_state[i : i + 1], one.last_hidden_state, atol=1e-5, rtol=1e-5)


def test_a_key_value_cache_in_the_output_raises_a_clear_error() -> None:
    case = CASES["gpt2"]
    model = _model(case)
    batch = case.batch(len(IDS))
    batch.pop("use_cache")
    before = _state(model)
    with pytest.raises(hn.HypernetError, match=r"Cache at output .*(cache|past_key_values).*use_cache=False"):
        model(batch, IDS)
    _assert_state(model, before)
    single = model(batch, 1)  # one weight set: the cache is returned as the model made it
    assert any("cache" in key or "past" in key for key in single.keys())


def test_tied_alias_generates_the_shared_tensor_once() -> None:
    model = _model(CASES["gpt2"])
    assert "transformer.wte.weight" in model.spec.names and "lm_head.weight" not in model.spec.names
    w = model.generate(1)
    net = model.materialize(1)
    assert net.lm_head.weight is net.transformer.wte.weight
    torch.testing.assert_close(net.lm_head.weight, w["transformer.wte.weight"])
