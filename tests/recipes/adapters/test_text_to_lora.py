"""hn.TextToLoRA on a tiny random LlamaForCausalLM: base parity at init, mixed batches, KV cache, PEFT export, the loss mask."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import hypernet as hn
from hypernet.recipes.adapters._lm_batch import IGNORE, format_prompt, target_loss, target_positions, training_batch
from hypernet.recipes.adapters._tiny_lm import tiny_llama
from hypernet.recipes.adapters.text_to_lora import TextToLoRA

WORDS = ("copy", "the", "words", "give", "first", "word", "say", "last", "reverse", "them", "input", "answer")
TASKS = {
    "copy": (["Copy the words.", "Say the words."], [("a b c", "a b c"), ("d e", "d e")]),
    "first": ("Give the first word.", [("a b c", "a"), ("x y", "x")]),
    "last": ("Say the last word.", [("a b c", "c"), ("x y", "y")]),
}


def _model(condition: str = "text", seed: int = 0) -> tuple[TextToLoRA, object, object]:
    base, tok = tiny_llama(seed=seed, words=WORDS)
    model = TextToLoRA(base, tok, condition=condition, rank=2, cond_dim=8, hidden=(16,), layer_dim=4, seed=seed).build(TASKS)
    return model, base, tok


def _perturb(model: TextToLoRA) -> None:
    with torch.no_grad():
        for head in model.hyper.generator.heads:  # type: ignore[union-attr]
            head.weight.normal_(0, 0.5)
            head.bias.normal_(0, 0.5)


def _inputs(tok: object, prompts: list[str], targets: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return training_batch(tok, [format_prompt(tok, p, None) for p in prompts], targets, 32)


@pytest.mark.parametrize("condition", ["text", "task"])
def test_untrained_model_is_exactly_the_base_model(condition: str) -> None:
    model, base, tok = _model(condition)
    ids, mask, _ = _inputs(tok, ["a b c", "x y"], ["c", "y"])
    expected = base(input_ids=ids, attention_mask=mask).logits
    cond, _ = model._conditions(["copy"])
    one = model.hyper({"input_ids": ids, "attention_mask": mask, "use_cache": False}, cond[0]).logits  # type: ignore[misc]
    assert torch.equal(one, expected)
    mixed, _ = model._conditions(["copy", "last"])
    torch.testing.assert_close(model.hyper({"input_ids": ids, "attention_mask": mask, "use_cache": False}, mixed).logits, expected)  # type: ignore[misc]
    assert model.generate(["a b c"], "first", max_new_tokens=4) == model.generate(["a b c"], "last", max_new_tokens=4)


@pytest.mark.parametrize("condition", ["text", "task"])
def test_a_mixed_task_batch_equals_per_task_calls(condition: str) -> None:
    model, _, _ = _model(condition)
    _perturb(model)
    prompts, targets, tasks = ["a b c", "x y", "d e", "a b c"], ["a b c", "x", "e", "c"], ["copy", "first", "last", "last"]
    mixed = model.loss(prompts, targets, tasks)
    alone = [model.loss([p], [t], [k]) for p, t, k in zip(prompts, targets, tasks, strict=True)]
    _, _, labels = _inputs(model.tokenizer, prompts, targets)
    counts = (labels[:, 1:] != IGNORE).sum(1).float()
    torch.testing.assert_close(mixed, (torch.stack(alone) * counts).sum() / counts.sum(), rtol=1e-5, atol=1e-5)
    cond, _ = model._conditions(["copy", "last"])
    copy_lora, last_lora = model.hyper.generate(cond[0]), model.hyper.generate(cond[1])  # type: ignore[union-attr]
    assert not all(torch.allclose(copy_lora[k], last_lora[k]) for k in model.hyper.spec.names)  # type: ignore[union-attr]  # differs by task


def test_generation_with_the_kv_cache_equals_generation_without_it_and_mixed_equals_alone() -> None:
    model, _, _ = _model("text")
    _perturb(model)
    prompts, tasks = ["a b c", "x y", "d e"], ["copy", "Reverse them.", "copy"]
    cached = model.generate(prompts, tasks, max_new_tokens=6)
    assert model.generate(prompts, tasks, max_new_tokens=6, use_cache=False) == cached
    assert [model.generate([p], [t], max_new_tokens=6)[0] for p, t in zip(prompts, tasks, strict=True)] == cached
    assert model.generate("a b c", "copy", max_new_tokens=6) == cached[:1]  # one string is one prompt
    sampled = model.generate(prompts, tasks, max_new_tokens=6, do_sample=True, temperature=0.7, seed=3)
    assert sampled == model.generate(prompts, tasks, max_new_tokens=6, do_sample=True, temperature=0.7, seed=3)


def test_the_exported_adapter_loaded_with_peft_generates_the_same_tokens(tmp_path: Path) -> None:
    from peft import PeftModel

    model, _, tok = _model("text")
    _perturb(model)
    fresh, _ = tiny_llama(seed=0, words=WORDS)
    path = model.adapter("Say the last word.", tmp_path / "last")
    loaded = PeftModel.from_pretrained(fresh, str(path)).eval()
    ids, mask, _ = _inputs(tok, ["a b c", "x y"], ["c", "y"])
    cond, _ = model._conditions(["Say the last word."])
    ours = model.hyper({"input_ids": ids, "attention_mask": mask, "use_cache": False}, cond[0]).logits  # type: ignore[misc]
    torch.testing.assert_close(loaded(input_ids=ids, attention_mask=mask).logits, ours, rtol=1e-5, atol=1e-5)
    prompt = tok([format_prompt(tok, "a b c", "Say the last word.")], add_special_tokens=False, return_tensors="pt")
    out = loaded.generate(**prompt, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    theirs = tok.decode(out[0, prompt["input_ids"].shape[1] :].tolist(), skip_special_tokens=True).strip()
    assert theirs == model.generate(["a b c"], "Say the last word.", max_new_tokens=6)[0]


def test_the_loss_counts_target_tokens_only() -> None:
    _, tok = tiny_llama(words=WORDS)
    ids, mask, labels = training_batch(tok, ["a b c d", "x"], ["e", "y z"], 32)
    assert labels[0].tolist() == [IGNORE] * 4 + [ids[0, 4].item(), tok.eos_token_id] and mask[1].tolist() == [1, 1, 1, 1, 0, 0]
    assert labels[1].tolist() == [IGNORE, *ids[1, 1:3].tolist(), tok.eos_token_id, IGNORE, IGNORE]
    logits = torch.randn(2, ids.shape[1], len(tok))
    changed = logits.clone()
    changed[0, :3] = torch.randn(3, len(tok))  # predictions of prompt tokens
    changed[1, 4:] = torch.randn(2, len(tok))  # predictions after the end (padding)
    assert torch.equal(target_loss(logits, labels), target_loss(changed, labels))
    changed[0, 3, 0] += 5.0  # the prediction of the first target token counts
    assert not torch.equal(target_loss(logits, labels), target_loss(changed, labels))
    long_ids, _, long_labels = training_batch(tok, ["a b c d e f g h"], ["x y"], 6)
    assert long_ids.shape[1] == 6 and (long_labels != IGNORE).sum() == 3  # the prompt is cut from its start, never the target


def test_training_lowers_the_loss_and_bad_input_is_refused() -> None:
    base, tok = tiny_llama(words=WORDS)
    model = TextToLoRA(base, tok, condition="task", rank=2, cond_dim=8, hidden=(16,), layer_dim=4)
    with pytest.raises(hn.ConfigError, match="not fitted"):
        model.generate(["a"], "copy")
    losses: list[float] = []
    model.fit(TASKS, steps=30, batch_size=6, lr=0.01, log=lambda step, loss: losses.append(loss))
    assert sum(losses[-5:]) < sum(losses[:5])
    assert all(torch.equal(a, b) for a, b in zip(base.state_dict().values(), tiny_llama(words=WORDS)[0].state_dict().values(), strict=True))
    with pytest.raises(hn.ConfigError, match=r"known task name.*'Reverse them\.'"):
        model.generate(["a"], "Reverse them.")
    with pytest.raises(hn.ConfigError, match="2 prompts and 1 tasks"):
        model.generate(["a", "b"], ["copy"])
    with pytest.raises(hn.ConfigError, match="positive integer"):
        model.fit(TASKS, steps=0)
    with pytest.raises(hn.ConfigError, match="pairs"):
        TextToLoRA(base, tok, condition="task").fit({"t": ("d", ["not a pair"])}, steps=1)
    with pytest.raises(hn.ConfigError, match="expected a description with condition='text'"):
        TextToLoRA(base, tok).fit({"t": (None, [("a", "b")])}, steps=1)
    with pytest.raises(hn.ConfigError, match="condition in"):
        TextToLoRA(base, tok, condition="id")


def test_lora_on_an_embedding_takes_the_vmap_path_and_mixed_generation_still_equals_alone() -> None:
    base, tok = tiny_llama(seed=0, words=WORDS)
    with pytest.warns(UserWarning, match="tie_word_embeddings"):  # PEFT's warning about LoRA on a tied embedding
        model = TextToLoRA(
            base, tok, condition="task", rank=2, cond_dim=8, hidden=(16,), layer_dim=4, target_modules=("q_proj", "embed_tokens")
        )
    model.build(TASKS)
    assert model.hyper is not None and model.hyper.per_sample == "auto"  # lora_embedding_A / _B are not nn.Linear
    _perturb(model)
    prompts, tasks = ["a b c", "x y", "d e"], ["copy", "last", "copy"]
    mixed = model.generate(prompts, tasks, max_new_tokens=5)
    assert [model.generate([p], [t], max_new_tokens=5)[0] for p, t in zip(prompts, tasks, strict=True)] == mixed


def test_a_new_description_leaves_the_trainable_parameters_as_they_were() -> None:
    model, _, _ = _model("text")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    count = model.num_parameters
    model.generate(["a b"], "Say nothing new.", max_new_tokens=2)  # a new description: encoded with the adapter off
    assert {n for n, p in model.named_parameters() if p.requires_grad} == trainable
    assert model.num_parameters == count


def test_the_loss_on_kept_answer_positions_equals_the_loss_on_all_logits(monkeypatch: pytest.MonkeyPatch) -> None:
    _, tok = tiny_llama(words=WORDS)
    ids, mask, labels = training_batch(tok, ["a b c d", "x y z"], ["e", "y"], 32)
    kept = target_positions(labels)
    assert kept.tolist() == [2, 3, 4] and ids.shape[1] == 6  # row 1's answer is predicted from 2 and 3, row 0's from 3 and 4
    logits = torch.randn(2, ids.shape[1], len(tok))
    torch.testing.assert_close(target_loss(logits[:, kept], labels, kept), target_loss(logits, labels), rtol=0, atol=1e-6)

    model, _, _ = _model("text")
    _perturb(model)
    prompts, targets, tasks = ["a b c", "x y"], ["a b c", "y"], ["copy", "last"]
    cond, shown = model._conditions(tasks)
    texts = [format_prompt(tok, p, s) for p, s in zip(prompts, shown, strict=True)]
    ids, mask, labels = training_batch(tok, texts, targets, model.max_length)
    full = model.hyper({"input_ids": ids, "attention_mask": mask, "use_cache": False}, cond).logits  # type: ignore[misc]
    torch.testing.assert_close(model.loss(prompts, targets, tasks), target_loss(full, labels), rtol=1e-5, atol=1e-6)
    import hypernet.recipes.adapters.text_to_lora as t2l_module

    monkeypatch.setattr(t2l_module, "takes_logits_to_keep", lambda lm: False)  # an LM without logits_to_keep: all logits
    torch.testing.assert_close(model.loss(prompts, targets, tasks), target_loss(full, labels), rtol=1e-5, atol=1e-6)


def test_state_dict_holds_the_hypernetwork_only_and_loads_strictly_into_a_fresh_model() -> None:
    model, _, _ = _model("text")
    _perturb(model)
    state = model.state_dict()
    assert state and not [k for k in state if k.startswith(("lm.", "hyper.target."))]
    assert {"hyper.base", "desc_mean", "desc_std"} <= set(state)
    fresh, _, _ = _model("text")  # the same base, the hypernetwork unperturbed
    result = fresh.load_state_dict(state)  # strict: the frozen base is not reported missing
    assert not result.missing_keys and not result.unexpected_keys
    ids, mask, _ = _inputs(model.tokenizer, ["a b c"], ["c"])
    cond, _ = model._conditions(["first"])
    batch = {"input_ids": ids, "attention_mask": mask, "use_cache": False}
    assert torch.equal(fresh.hyper(batch, cond).logits, model.hyper(batch, cond).logits)  # type: ignore[misc]
    # a full state (as saved before the base was left out) still loads
    full = {**state, **model.lm.state_dict(prefix="lm."), **model.hyper.target.state_dict(prefix="hyper.target.")}  # type: ignore[union-attr]
    assert not fresh.load_state_dict(full).missing_keys
    with pytest.raises(RuntimeError, match="Missing key"):
        fresh.load_state_dict({k: v for k, v in state.items() if k != "hyper.base"})
    # nested: only the TextToLoRA's own base is filled in, never another module's weights of the same names
    outer = torch.nn.ModuleDict({"t2l": fresh, "lm": torch.nn.Linear(2, 2)})
    nested = outer.state_dict()
    assert "lm.weight" in nested and not [k for k in nested if k.startswith(("t2l.lm.", "t2l.hyper.target."))]
    assert not outer.load_state_dict(nested).missing_keys
    with pytest.raises(RuntimeError, match=r"Missing key.*lm\.weight"):
        outer.load_state_dict({k: v for k, v in nested.items() if k != "lm.weight"})


def test_an_interrupted_fit_resumes_exactly(tmp_path: Path) -> None:
    def fresh() -> TextToLoRA:
        base, tok = tiny_llama(words=WORDS)
        return TextToLoRA(base, tok, condition="text", rank=2, cond_dim=8, hidden=(16,), layer_dim=4)

    straight = fresh().fit(TASKS, steps=6, batch_size=4, lr=1e-2)
    fresh().fit(TASKS, steps=4, batch_size=4, lr=1e-2, checkpoint_dir=tmp_path, checkpoint_every=2)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["step-00000002.json", "step-00000004.json"]
    seen: list[int] = []
    resumed = fresh().fit(TASKS, steps=6, batch_size=4, lr=1e-2, checkpoint_dir=tmp_path, checkpoint_every=2, resume=True,
                          log=lambda step, _loss: seen.append(step))  # fmt: skip
    assert seen == [4, 5]  # only the steps the interrupted run had not done
    for (key, a), (key2, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert key == key2 and torch.equal(a, b), key
    # the checkpoint holds the hypernetwork, not the frozen base
    from safetensors.torch import load_file

    tensors = load_file(tmp_path / "step-00000006.safetensors")
    assert not [k for k in tensors if k.startswith(("model/lm.", "model/hyper.target."))]


def _t2l(rank: int = 2, cond_dim: int = 8) -> TextToLoRA:
    base, tok = tiny_llama(words=WORDS)
    return TextToLoRA(base, tok, condition="text", rank=rank, cond_dim=cond_dim, hidden=(16,), layer_dim=4)


def test_resuming_another_fit_is_refused_before_anything_changes(tmp_path: Path) -> None:
    _t2l().fit(TASKS, steps=2, batch_size=2, checkpoint_dir=tmp_path)
    other = _t2l()
    fewer = {k: TASKS[k] for k in ("copy", "last")}
    reordered = {k: TASKS[k] for k in ("last", "copy", "first")}
    for tasks, options, differs in (
        (fewer, {}, "'tasks'"),
        (reordered, {}, "'tasks'"),
        (TASKS, {"lr": 0.5}, "'lr'"),
        (TASKS, {"batch_size": 3}, "'batch_size'"),
        (TASKS, {"steps": 1}, "steps >= 2"),
    ):
        with pytest.raises(hn.ConfigError, match=differs):
            other.fit(tasks, **{"steps": 4, "batch_size": 2, "checkpoint_dir": tmp_path, "resume": True, **options})
        assert other.hyper is None  # nothing was built
    built = _t2l().build(TASKS)
    before = {k: v.clone() for k, v in built.state_dict().items()}
    with pytest.raises(hn.ConfigError, match="'tasks'"):
        built.fit(fewer, steps=4, batch_size=2, checkpoint_dir=tmp_path, resume=True)
    assert all(torch.equal(v, built.state_dict()[k]) for k, v in before.items())
    with pytest.raises(hn.ConfigError, match="resume=True to continue"):
        other.fit(TASKS, steps=4, batch_size=2, checkpoint_dir=tmp_path)  # a new fit would prune that run's checkpoints
    with pytest.raises(hn.ConfigError, match="checkpoint_dir to resume from"):
        other.fit(TASKS, steps=4, batch_size=2, resume=True)
    a_file = tmp_path / "file"
    a_file.write_text("")
    steps: list[int] = []
    with pytest.raises(hn.ConfigError, match="to be a directory"):
        other.fit(TASKS, steps=4, batch_size=2, checkpoint_dir=a_file, log=lambda s, _: steps.append(s))
    assert not steps and other.hyper is None


def test_a_checkpoint_that_does_not_fit_leaves_the_model_as_it_was(tmp_path: Path) -> None:
    _t2l().fit(TASKS, steps=2, batch_size=2, checkpoint_dir=tmp_path)
    with pytest.raises(hn.ConfigError, match="'r': 3"):  # another LoRA rank: refused from the fingerprint, before building
        _t2l(rank=3).fit(TASKS, steps=4, batch_size=2, checkpoint_dir=tmp_path, resume=True)
    wider = _t2l(cond_dim=9)  # fingerprinted alike, but its tensors do not fit: refused by restore, after building
    flags = [p.requires_grad for p in wider.lm.parameters()]
    rng = torch.random.get_rng_state()
    with pytest.raises(hn.CheckpointError):
        wider.fit(TASKS, steps=4, batch_size=2, checkpoint_dir=tmp_path, resume=True)
    assert wider.hyper is None and not wider.tasks_ and wider.desc_mean.numel() == 0 and not wider._embedded
    assert [p.requires_grad for p in wider.lm.parameters()] == flags
    assert torch.equal(torch.random.get_rng_state(), rng)
    # so a plain fit afterwards is the fit a new object makes
    after = wider.fit(TASKS, steps=2, batch_size=2)
    torch.random.set_rng_state(rng)
    fresh = _t2l(cond_dim=9).fit(TASKS, steps=2, batch_size=2)
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in after.state_dict().items())


def test_a_damaged_newest_checkpoint_is_skipped_for_the_one_before(tmp_path: Path) -> None:
    import json

    _t2l().fit(TASKS, steps=4, batch_size=2, checkpoint_dir=tmp_path, checkpoint_every=2)
    newest = tmp_path / "step-00000004.json"
    meta = json.loads(newest.read_text())
    meta["extra"]["sampler"] = [3]
    newest.write_text(json.dumps(meta))
    steps: list[int] = []
    _t2l().fit(TASKS, steps=4, batch_size=2, checkpoint_dir=tmp_path, checkpoint_every=2, resume=True, log=lambda s, _: steps.append(s))
    assert steps == [2, 3]
    # the damaged one is set aside (not deleted), so pruning keeps the new checkpoints
    assert (tmp_path / "step-00000004.json.damaged").is_file()
    assert sorted(p.name for p in tmp_path.glob("step-*.json")) == ["step-00000002.json", "step-00000004.json"]
    for path in tmp_path.glob("step-*.json"):
        path.write_text("{")
    with pytest.raises(hn.ConfigError, match="usable checkpoint to resume"):  # none usable: refused, not a silent restart
        _t2l().fit(TASKS, steps=4, batch_size=2, checkpoint_dir=tmp_path, resume=True)


def test_a_checkpoint_of_something_else_is_refused_not_skipped(tmp_path: Path) -> None:
    from hypernet.training.checkpoint import save_checkpoint

    save_checkpoint(tmp_path, step=100, model=torch.nn.Linear(2, 2))
    with pytest.raises(hn.ConfigError, match="same fit"):
        _t2l().fit(TASKS, steps=3, batch_size=2, checkpoint_dir=tmp_path, resume=True)
    assert [p.name for p in tmp_path.glob("step-*.json")] == ["step-00000100.json"]


def test_a_numpy_learning_rate_checkpoints_and_other_model_settings_are_refused(tmp_path: Path) -> None:
    import numpy as np

    _t2l().fit(TASKS, steps=2, batch_size=2, lr=np.float32(1e-3), weight_decay=np.float64(0.0), checkpoint_dir=tmp_path)
    base, tok = tiny_llama(words=WORDS)
    shorter = TextToLoRA(base, tok, condition="text", rank=2, cond_dim=8, hidden=(16,), layer_dim=4, max_length=16)
    with pytest.raises(hn.ConfigError, match="max_length"):
        shorter.fit(TASKS, steps=4, batch_size=2, lr=float(np.float32(1e-3)), checkpoint_dir=tmp_path, resume=True)
