"""hn.AdapterHypernet on tiny random-config BERT models (no download): numerics against the frozen base and PEFT."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

import hypernet as hn
from hypernet.recipes.adapters._frozen import mean_pool
from hypernet.recipes.adapters._testing import tiny_tokenizer

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is fastest, and the machine is shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


WORDS = "alpha beta gamma delta eps zeta eta theta iota kappa".split()


def tiny_bert(seed: int = 0, layers: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=32, max_position_embeddings=64
    )
    return transformers.BertModel(config).eval()


def texts_and_labels(n: int = 48, seed: int = 0) -> tuple[list[str], list[int]]:
    rng = random.Random(seed)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7))) for _ in range(n)]
    return texts, [int("alpha" in t.split()) for t in texts]


def flipped_tasks(n: int = 48) -> list[hn.AdapterTask]:
    texts, y = texts_and_labels(n)
    return [
        hn.AdapterTask("has-alpha", texts, y, "Does the text contain alpha?", ["yes", "no"]),
        hn.AdapterTask("lacks-alpha", texts, [1 - v for v in y], "Does the text lack alpha?", ["yes", "no"]),
    ]


def make(base: nn.Module | None = None, **kw) -> hn.AdapterHypernet:
    kw.setdefault("rank", 2)
    kw.setdefault("target_modules", ["query", "value"])
    return hn.AdapterHypernet(base if base is not None else tiny_bert(), tiny_tokenizer(), **kw)


def frozen_pooled(base: nn.Module, texts: list[str]) -> torch.Tensor:
    enc = tiny_tokenizer()(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        hidden = base(**enc).last_hidden_state
    return nn.functional.normalize(mean_pool(hidden, enc["attention_mask"]), dim=-1)


def randomize_(model: hn.AdapterHypernet) -> None:
    """Give every trainable parameter a nonzero random value (so B factors are not zero)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.3)


@pytest.mark.parametrize("kind", ["lora", "adapter"])
@pytest.mark.parametrize("condition", ["task", "text"])
def test_zero_generated_output_gives_the_frozen_base(kind: str, condition: str) -> None:
    base = tiny_bert()
    model = make(base, kind=kind, condition=condition, target_modules=["value", "output.dense"]).build(flipped_tasks())
    texts, _ = texts_and_labels(6)
    reference = frozen_pooled(base, texts)
    with torch.no_grad():
        assert torch.equal(model.embed(texts, "has-alpha"), reference)  # B starts at zero: exactly the base
        for head in model.generator.heads:
            head.weight.normal_()  # factors A now random, B still from a zero output part? no: everything random
            head.bias.normal_()
        assert not torch.allclose(model.embed(texts, "has-alpha"), reference, atol=1e-4)  # the adapters do act
        for head in model.generator.heads:
            head.weight.zero_()
            head.bias.zero_()
        assert torch.equal(model.embed(texts, "has-alpha"), reference)


@pytest.mark.parametrize("options", [{}, {"kind": "adapter"}, {"generator": "per_task", "head": "task"}])
def test_mixed_task_batch_equals_per_task_loop(options: dict) -> None:
    """On the core's one per-sample path: a HyperModel over the adapted base, one generation per unique task."""
    import importlib.util

    assert importlib.util.find_spec("hypernet.recipes.adapters._slots") is None  # no second mechanism
    for cache in (False, True):
        model = make(condition="task", cache=cache, layers=[1, 2], **options).build(flipped_tasks())
        assert isinstance(model.hyper, hn.HyperModel) and model.hyper.target is model.runner
        randomize_(model)
        texts, _ = texts_and_labels(10, seed=3)
        refs = ["has-alpha", "lacks-alpha", "lacks-alpha", "has-alpha", "lacks-alpha"] * 2
        generated: list[int] = []
        handle = model.hyper.generator.register_forward_hook(lambda m, i, o, seen=generated: seen.append(i[0].shape[0]))
        with torch.no_grad():
            mixed = model.logits(texts, refs)
            assert generated == [2]  # two unique tasks, each generated once, for the whole mixed batch
            for name in ("has-alpha", "lacks-alpha"):
                rows = [k for k, r in enumerate(refs) if r == name]
                alone = model.logits([texts[k] for k in rows], name)
                torch.testing.assert_close(mixed[rows], alone, atol=1e-5, rtol=0)
            assert not torch.allclose(mixed[0], model.logits([texts[0]], "lacks-alpha")[0], atol=1e-4)  # the task matters
        handle.remove()


def test_mixed_batch_of_descriptions_equals_loop_and_dedupes() -> None:
    model = make(condition="text").build(flipped_tasks())
    randomize_(model)
    texts, _ = texts_and_labels(6, seed=4)
    descs = ["Is it about beta?", "Is it about gamma?"] * 3
    calls: list[int] = []
    model.generator.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    with torch.no_grad():
        mixed = model.hidden_states(texts, descs, label_names=["yes", "no"])[0]
        assert calls == [2]  # two unique conditions, generated once each
        for d in set(descs):
            rows = [k for k, x in enumerate(descs) if x == d]
            alone, mask = model.hidden_states([texts[k] for k in rows], d, label_names=["yes", "no"])
            for j, k in enumerate(rows):
                n = int(mask[j].sum())
                torch.testing.assert_close(mixed[k, :n], alone[j, :n], atol=1e-5, rtol=0)


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")
def test_exported_adapter_loads_in_peft_and_matches(tmp_path) -> None:
    base = tiny_bert()
    model = make(base, layers=[1, 2]).build(flipped_tasks())
    randomize_(model)
    texts, _ = texts_and_labels(5, seed=5)
    path = model.adapter("lacks-alpha", tmp_path / "lora")
    assert (path / "adapter_config.json").is_file() and (path / "adapter_model.safetensors").is_file()
    loaded = peft.PeftModel.from_pretrained(tiny_bert(), str(path)).eval()  # a fresh copy of the base
    enc = tiny_tokenizer()(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        ours, _ = model.hidden_states(texts, "lacks-alpha")
        theirs = loaded(**enc).last_hidden_state
        plain = base(**enc).last_hidden_state
    torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=0)
    assert not torch.allclose(plain, ours, atol=1e-3)  # the adapter changes the output
    in_memory = model.adapter("lacks-alpha")
    with torch.no_grad():
        torch.testing.assert_close(in_memory(**enc).last_hidden_state, ours, atol=1e-5, rtol=0)


def test_label_flipped_tasks_need_the_condition() -> None:
    tasks = flipped_tasks(40)
    texts, y = tasks[0].texts, np.array(tasks[0].labels)
    ours = make(layers=[1, 2], cache=True, seed=0).fit(tasks, steps=60, lr=1e-2)
    acc = [(ours.predict(texts, "has-alpha") == y).mean(), (ours.predict(texts, "lacks-alpha") == 1 - y).mean()]
    assert min(acc) >= 0.95, acc
    shared = make(layers=[1, 2], cache=True, generator="shared", seed=0).fit(tasks, steps=20, lr=1e-2)
    shared_acc = [(shared.predict(texts, "has-alpha") == y).mean(), (shared.predict(texts, "lacks-alpha") == 1 - y).mean()]
    assert abs(np.mean(shared_acc) - 0.5) < 1e-9  # the same texts, flipped labels, one shared predictor: exactly 50 %


def test_cache_equals_full_forward_and_every_parameter_learns() -> None:
    tasks = flipped_tasks(8)
    plain, cached = make(layers=[1, 2]).build(tasks), make(layers=[1, 2], cache=True).build(tasks)
    cached.load_state_dict(plain.state_dict())
    randomize_(plain)
    cached.load_state_dict(plain.state_dict())
    texts, _ = texts_and_labels(6, seed=6)
    torch.testing.assert_close(cached.logits(texts, "has-alpha"), plain.logits(texts, "has-alpha"), atol=1e-5, rtol=0)
    loss = plain.logits(texts, ["has-alpha", "lacks-alpha"] * 3).logsumexp(-1).sum()
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in plain.parameters())


def test_base_is_copied_and_never_changed() -> None:
    base = tiny_bert()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    model = make(base).fit(flipped_tasks(8), steps=3)
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    assert not base._forward_hooks and all(not m._forward_hooks for m in base.modules())
    assert model.num_parameters == sum(p.numel() for p in model.parameters())
    assert all(not p.requires_grad for p in model.frozen.base.parameters())


def test_unseen_description_zero_shot_and_head_task(tmp_path) -> None:
    tasks = flipped_tasks(8)
    model = make(condition="text").fit(tasks, steps=2)
    proba = model.predict_proba(["alpha beta"], "Does it mention beta?", label_names=["yes", "no", "maybe"])
    assert proba.shape == (1, 3) and np.allclose(proba.sum(-1), 1.0)
    per_task = make(generator="per_task", head="task").fit(tasks, steps=2)
    assert per_task.predict(["alpha"], "lacks-alpha").shape == (1,)
    shared = make(generator="shared", head="task").fit(tasks, steps=2)
    assert shared.predict_proba(["alpha", "beta"], "has-alpha").shape == (2, 2)


def test_checkpoint_resume_equals_uninterrupted(tmp_path) -> None:
    tasks = flipped_tasks(16)
    whole = make(seed=3).fit(tasks, steps=6, lr=1e-2)
    part = make(seed=3).fit(tasks, steps=3, lr=1e-2, checkpoint_dir=tmp_path, checkpoint_every=3)
    assert (tmp_path / "step-00000003.json").is_file()
    resumed = make(seed=3).fit(tasks, steps=6, lr=1e-2, checkpoint_dir=tmp_path, checkpoint_every=3, resume=True)
    del part
    for (k, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=k)


def test_bad_inputs_give_clear_errors() -> None:
    model = make().fit(flipped_tasks(8), steps=1)
    with pytest.raises(hn.ConditionError, match=r"expected a task the model was fitted on.*has-alpha.*got 'nope'"):
        model.predict(["alpha"], "nope")
    text_model = make(condition="text").fit(flipped_tasks(8), steps=1)
    with pytest.raises(hn.ConditionError, match="non-empty task description"):
        text_model.predict(["alpha"], "   ", label_names=["yes", "no"])
    with pytest.raises(hn.ConditionError, match="was fitted with them"):
        text_model.predict(["alpha"], "has-alpha", label_names=["no", "yes"])
    assert text_model.predict(["alpha"], "has-alpha", label_names=["yes", "no"]).shape == (1,)
    with pytest.raises(hn.ConditionError, match=r"expected label_names .* for the new task description"):
        text_model.predict(["alpha"], "Is it about beta?")
    with pytest.raises(hn.ConfigError, match=r"expected target_modules naming nn.Linear.*matching none; pass names"):
        make(target_modules=["no_such_module"])
    with pytest.raises(hn.ConfigError, match="expected a base with floating-point parameters"):
        hn.AdapterHypernet(nn.ReLU(), tiny_tokenizer())
    with pytest.raises(hn.ConfigError, match=r"expected the base to be a torch nn\.Module"):
        hn.AdapterHypernet("bert-base-uncased", tiny_tokenizer())  # type: ignore[arg-type]
    with pytest.raises(hn.ConfigError, match="expected a description with condition='text'"):
        make(condition="text").fit([hn.AdapterTask("t", ["a", "b"], [0, 1], label_names=["x", "y"])], steps=1)
    with pytest.raises(hn.ConfigError, match="expected condition in"):
        make(condition="task-id")
    with pytest.raises(hn.ConfigError, match="layer indices"):
        make(layers=[7])
    with pytest.raises(hn.ConfigError, match="a BertSelfAttention; pass names"):
        make(target_modules=["self"])
    with pytest.raises(hn.ConfigError, match="PEFT has no bottleneck adapters"):
        make(kind="adapter").fit(flipped_tasks(8), steps=1).adapter("has-alpha")
    with pytest.raises(hn.ConfigError, match="call fit"):
        make().predict(["a"], "has-alpha")


def test_text_encoder_share_cache_and_more_errors() -> None:
    calls: list[list[str]] = []

    def encoder(texts: list[str]) -> torch.Tensor:
        calls.append(texts)
        return torch.stack([torch.full((5,), float(len(t))) for t in texts])

    model = make(condition="text", text_encoder=encoder).fit(flipped_tasks(8), steps=1)
    assert model.condition.in_dim == 5 and calls
    task = hn.AdapterTask("new", [], [], "Is it about beta?", ["yes", "no"])
    assert model.predict(["beta"], task).shape == (1,)  # an AdapterTask as the condition
    bad = make(condition="text", text_encoder=lambda texts: torch.zeros(3))
    with pytest.raises(hn.ConfigError, match=r"expected text_encoder to return a \(n, d\) tensor"):
        bad.build(flipped_tasks(8))
    with pytest.raises(hn.ConditionError, match="expected one task per text"):
        model.logits(["a", "b"], ["has-alpha"])
    with pytest.raises(hn.ConditionError, match="expected a task name or description"):
        model.predict(["a"], 3)
    with pytest.raises(hn.ConfigError, match="expected labelled texts for every task"):
        model.fit([hn.AdapterTask("t", [], [], "d", ["x", "y"])], steps=1)
    cached, other = make(cache=True, layers=[1, 2]), make(cache=True, layers=[2])
    with pytest.raises(hn.ConfigError, match="same layer and max_length"):
        cached.share_cache(other)
    twin = make(cache=True, layers=[1, 2])
    twin.share_cache(cached)
    cached.frozen.lower(["alpha beta"])
    assert "alpha beta" in twin.frozen._lower
    with pytest.raises(hn.ConfigError, match="expected a positive integer rank"):
        make(rank=0)
    with pytest.raises(hn.ConfigError, match="expected every adapted module inside"):
        make(cache=True, target_modules=["pooler.dense"])


class _Uncopyable(nn.Linear):
    def __deepcopy__(self, memo: dict) -> None:
        raise TypeError("no copies")


def test_task_validation_messages() -> None:
    with pytest.raises(hn.ConfigError, match="can be copied to be frozen"):
        hn.AdapterHypernet(_Uncopyable(2, 2), tiny_tokenizer())
    texts = ["a", "b"]
    cases = [
        ({"name": "t", "texts": texts, "labels": [0]}, "as many labels as texts"),
        ({"name": "", "texts": texts, "labels": [0, 1]}, "non-empty string task name"),
        ({"name": "t", "texts": texts, "labels": [0, 1], "description": " "}, "non-empty description"),
        ({"name": "t", "texts": texts, "labels": [0, 1], "label_names": ["only"]}, "at least 2 non-empty label names"),
        ({"name": "t", "texts": texts, "labels": [0, 5], "label_names": ["x", "y"]}, r"integer labels in \[0, 2\)"),
        ({"name": "t", "texts": texts, "labels": [0, 1], "bogus": 1}, "expected a task mapping"),
    ]
    model = make(head="task")
    for task, message in cases:
        with pytest.raises(hn.ConfigError, match=message):
            model.build([task])
    with pytest.raises(hn.ConfigError, match="expected an AdapterTask or a mapping"):
        model.build(["t"])
    with pytest.raises(hn.ConfigError, match="at least one task"):
        model.build([])
    with pytest.raises(hn.ConfigError, match="unique task names"):
        model.build([{"name": "t", "texts": texts, "labels": [0, 1]}] * 2)
    with pytest.raises(hn.ConfigError, match="at least 2 classes"):
        model.build([{"name": "t", "texts": texts, "labels": [0, 0]}])
    with pytest.raises(hn.ConfigError, match="with head='labels'"):
        make().build([{"name": "t", "texts": texts, "labels": [0, 1]}])
    built = model.build([{"name": "t", "texts": texts, "labels": [0, 1]}])  # no label names: a random head
    assert built.head_weight.shape == (1, 2, 16) and built.predict_proba([], "t").shape == (0, 2)


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")
def test_a_decoder_base_llama_cached_and_exported(tmp_path) -> None:
    def llama() -> nn.Module:
        torch.manual_seed(0)
        config = transformers.LlamaConfig(
            vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=2
        )
        return transformers.LlamaModel(config).eval()

    tasks = flipped_tasks(8)
    plain = hn.AdapterHypernet(llama(), tiny_tokenizer(), rank=2, target_modules=["q_proj", "v_proj"], layers=[1, 2]).build(tasks)
    cached = hn.AdapterHypernet(llama(), tiny_tokenizer(), rank=2, target_modules=["q_proj", "v_proj"], layers=[1, 2], cache=True)
    randomize_(plain)
    cached.build(tasks).load_state_dict(plain.state_dict())
    texts = ["alpha beta gamma", "beta"]
    with torch.no_grad():
        torch.testing.assert_close(cached.logits(texts, "has-alpha"), plain.logits(texts, "has-alpha"), atol=1e-5, rtol=0)
        ours, mask = plain.hidden_states(texts, "lacks-alpha")
    loaded = peft.PeftModel.from_pretrained(llama(), str(plain.adapter("lacks-alpha", tmp_path / "lora"))).eval()
    enc = tiny_tokenizer()(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        theirs = loaded(**enc).last_hidden_state
    keep = mask.bool()
    torch.testing.assert_close(theirs[keep], ours[keep], atol=1e-5, rtol=0)


def test_standardized_descriptions_are_centred_on_the_fitted_tasks() -> None:
    tasks = flipped_tasks(8)
    model = make(condition="text", standardize=True).build(tasks)
    emb = model._describe([str(t.description) for t in tasks])
    torch.testing.assert_close((emb - model.description_mean).mean(0), torch.zeros(emb.shape[-1]), atol=1e-6, rtol=0)
    torch.testing.assert_close(model.description_std, emb.std(0).clamp_min(1e-3))
    raw = make(condition="text").build(tasks)
    assert torch.equal(raw.description_mean, torch.zeros(emb.shape[-1])) and torch.equal(raw.description_std, torch.ones(emb.shape[-1]))


def test_unseen_label_mix_blends_only_tasks_with_unfitted_label_names() -> None:
    tasks = flipped_tasks(8)  # fitted label names: yes / no
    model = make(condition="text")
    model.build(tasks)
    randomize_(model)  # a real adapter, far from the frozen base
    texts = ["alpha beta", "gamma", "delta eta theta"]
    base = tiny_bert()  # the frozen base's similarity, computed independently of the model
    torch.testing.assert_close(model.frozen.pooled(texts), frozen_pooled(base, texts), atol=1e-5, rtol=0)
    seen_desc, new_desc = "Does it mention gamma?", "Is it about gamma or delta?"
    with torch.no_grad():
        adapted_seen = model.logits(texts, seen_desc, label_names=["yes", "no"])
        adapted_new = model.logits(texts, new_desc, label_names=["gamma", "no"])
        model.unseen_label_mix = 0.25
        mixed_seen = model.logits(texts, seen_desc, label_names=["yes", "no"])
        mixed_fitted = model.logits(texts, "has-alpha")
        mixed_new = model.logits(texts, new_desc, label_names=["gamma", "no"])
    # a new description over fitted label names, and a fitted task: untouched
    torch.testing.assert_close(mixed_seen, adapted_seen, atol=0, rtol=0)
    model.unseen_label_mix = 1.0
    torch.testing.assert_close(mixed_fitted, model.logits(texts, "has-alpha").detach(), atol=0, rtol=0)
    # an unseen label name ("gamma"): 0.25 of the adapted logits + 0.75 of the frozen base's zero-shot similarity
    scale = model.log_temperature.exp().detach()
    zero_shot = scale * model.frozen.pooled(texts) @ model.frozen.pooled(["gamma", "no"]).T
    torch.testing.assert_close(mixed_new, 0.25 * adapted_new + 0.75 * zero_shot, atol=1e-5, rtol=0)
    assert not torch.allclose(mixed_new, adapted_new, atol=1e-3)
    with pytest.raises(hn.ConfigError, match="unseen_label_mix"):
        make(unseen_label_mix=1.5)
