"""AdapterHypernet refuses training on nothing (labels it cannot tell apart) and wrong-type inputs, clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import hypernet as hn
from hypernet.recipes.adapters._testing import tiny_tokenizer
from hypernet.training import TrainingError

from .test_adapters import WORDS, flipped_tasks, make, tiny_bert

transformers = pytest.importorskip("transformers")


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def vocab_tokenizer(tmp_path: Path):
    """A real WordPiece tokenizer with a tiny vocabulary: every other word becomes [UNK]."""
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "yes", "no", *WORDS]) + "\n")
    return transformers.BertTokenizer(str(vocab))


def oov_tasks() -> list[hn.AdapterTask]:
    tasks = flipped_tasks(8)
    tasks[1] = hn.AdapterTask("lacks-alpha", tasks[1].texts, tasks[1].labels, "Does the text lack alpha?", ["zorblax", "quuxify"])
    return tasks


def test_label_names_that_tokenize_identically_raise_naming_task_labels_and_unk(tmp_path: Path) -> None:
    model = hn.AdapterHypernet(tiny_bert(), vocab_tokenizer(tmp_path), rank=2)
    with pytest.raises(hn.ConfigError, match=r"task 'lacks-alpha'.*'zorblax' and 'quuxify'.*tokenize identically.*\[UNK\]"):
        model.fit(oov_tasks(), steps=2)
    assert not model.is_built
    with pytest.raises(hn.ConfigError, match=r"\[UNK\]"):
        model.build(oov_tasks())
    model.fit(flipped_tasks(8), steps=1)  # known words: fine
    text_model = hn.AdapterHypernet(tiny_bert(), vocab_tokenizer(tmp_path), rank=2, condition="text").fit(flipped_tasks(8), steps=1)
    with pytest.raises(hn.ConditionError, match=r"'Is it beta\?'.*'zorblax' and 'quuxify'.*\[UNK\]"):
        text_model.predict(["alpha beta"], "Is it beta?", label_names=["zorblax", "quuxify"])


def test_the_generic_zero_gradient_check_also_guards_the_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = hn.AdapterHypernet(tiny_bert(), vocab_tokenizer(tmp_path), rank=2)
    monkeypatch.setattr(type(model), "_check_distinct_labels", lambda *a: None)  # without the label check ...
    tasks = oov_tasks()
    tasks[0] = hn.AdapterTask("has-alpha", tasks[0].texts, tasks[0].labels, "d", ["zorblax", "quuxify"])
    with pytest.raises(TrainingError, match=r"exactly zero.*loss 0\.693147"):  # ... the loss is ln 2 and nothing learns
        model.fit(tasks, steps=3)


def test_one_string_is_one_text() -> None:
    model = make().fit(flipped_tasks(8), steps=1)
    one = model.predict("alpha beta gamma", "has-alpha")
    assert one.shape == (1,)
    assert np.array_equal(one, model.predict(["alpha beta gamma"], "has-alpha"))
    np.testing.assert_allclose(
        model.predict_proba("alpha beta", "has-alpha"), model.predict_proba(["alpha beta"], "has-alpha"), rtol=0, atol=0
    )
    assert model.embed("alpha", "has-alpha").shape[0] == 1


def test_wrong_types_raise_hypernet_errors_and_change_nothing(tmp_path: Path) -> None:
    model = make().fit(flipped_tasks(8), steps=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls = [
        (lambda: model.predict(123, "has-alpha"), hn.ConditionError, r"texts to be a string or a sequence of strings, got int 123; pass"),
        (lambda: model.predict([1, 2], "has-alpha"), hn.ConditionError, r"expected texts to be strings, got int 1 among them; pass"),
        (lambda: model.predict(None, "has-alpha"), hn.ConditionError, r"got None.*pass"),
        (lambda: model.logits(torch.zeros(2), "has-alpha"), hn.ConditionError, r"got Tensor"),
        (lambda: model.predict(["a"], "has-alpha", label_names="yes"), hn.ConditionError, r"label_names to be a sequence of strings.*pass"),
        (lambda: model.predict(["a"], "has-alpha", label_names=[1, 2]), hn.ConditionError, r"label_names"),
        (lambda: model.predict(["a"], "has-alpha", batch_size=0), hn.ConditionError, r"batch_size.*positive int, got 0; pass"),
        (lambda: model.predict(["a"], 3.5), hn.ConditionError, r"expected a task name or description"),
        (lambda: model.fit(flipped_tasks(8), steps="10"), hn.ConfigError, r"steps.*got '10'; pass"),
        (lambda: model.fit(flipped_tasks(8), steps=1, lr=-1.0), hn.ConfigError, r"lr.*positive number, got -1.0"),
        (lambda: model.fit(flipped_tasks(8), steps=1, batch_size=2.5), hn.ConfigError, r"batch_size.*got 2.5"),
        (lambda: model.fit(flipped_tasks(8), steps=1, callback=3), hn.ConfigError, r"callback.*got int 3; pass"),
        (lambda: model.fit(flipped_tasks(8)[0], steps=1), hn.ConfigError, r"expected a list of tasks, got AdapterTask; pass"),
        (lambda: model.fit("tasks", steps=1), hn.ConfigError, r"expected a list of tasks, got str"),
        (lambda: model.build([hn.AdapterTask("t", "ab", [0, 1], label_names=["x", "y"])]), hn.ConfigError, r"texts to be a list, got str"),
        (lambda: model.build([hn.AdapterTask("t", [1, 2], [0, 1], label_names=["x", "y"])]), hn.ConfigError, r"every text to be a string"),
        (lambda: model.build([hn.AdapterTask("t", ["a", "b"], [0, 1], label_names="xy")]), hn.ConfigError, r"label_names to be a list"),
        (lambda: model.adapter("has-alpha", path=3), hn.ConfigError, r"path to be None, a str or a pathlib.Path, got int 3"),
        (lambda: model.share_cache("other"), hn.ConfigError, r"another AdapterHypernet.*got str"),
    ]
    for call, error, message in calls:
        with pytest.raises(error, match=message):
            call()
        after = model.state_dict()
        assert sorted(after) == sorted(before) and all(torch.equal(after[k], before[k]) for k in before)
    assert sorted(model.tasks_) == ["has-alpha", "lacks-alpha"]
    for kw, message in (
        ({"tokenizer": None}, r"expected a tokenizer.*got None"),
        ({"tokenizer": 3}, r"tokenizer to be callable"),
        ({"target_modules": 5}, r"target_modules.*got int 5"),
        ({"layers": "1"}, r"layers to be None or a list"),
        ({"rank": 2, "hidden": "8"}, r"hidden.*got '8'"),
        ({"temperature": 0}, r"temperature.*positive number, got 0"),
        ({"text_encoder": "minilm"}, r"text_encoder to be callable"),
    ):
        args = {"tokenizer": tiny_tokenizer(), "rank": 2, **kw}
        with pytest.raises(hn.ConfigError, match=message):
            hn.AdapterHypernet(tiny_bert(), **args)


def test_base_reg_keeps_adapted_embeddings_near_the_frozen_base() -> None:
    tasks = flipped_tasks(24)
    texts = list(tasks[0].texts)
    closeness = {}
    for reg in (0.0, 5.0):
        model = make(condition="text").fit(tasks, steps=15, lr=3e-2, base_reg=reg)
        with torch.no_grad():
            adapted = torch.cat([model.embed(texts, t.name) for t in tasks])
        closeness[reg] = float((adapted * model.frozen.pooled(texts * 2)).sum(-1).mean())
    assert 1 - closeness[5.0] < 0.5 * (1 - closeness[0.0]), closeness  # at least twice as close to the frozen base
    with pytest.raises(hn.ConfigError, match=r"base_reg.*got -1"):
        make().fit(tasks, steps=1, base_reg=-1)
