"""Issue 25: random config trees give a valid run or exit 2 with one line, never a traceback, never a write outside the runs dir.

Training itself is replaced by building the model and its optimizer (what a config can break before
the first step), so each example takes milliseconds.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hypernet.cli import main
from hypernet.cli.config import validate
from hypernet.cli.hypermodel import HyperModelRecipe
from hypernet.cli.optim import make_optimizer
from hypernet.training.loop import FitResult

from ..training.helpers import small_config

KEYS = [
    "recipe", "name", "seed", "bogus",
    "train", "train.epochs", "train.max_steps", "train.batch_size", "train.optimizer", "train.lr", "train.weight_decay",
    "train.momentum", "train.grad_clip", "train.checkpoint_every", "train.keep_last", "train.log_every", "train.dist_timeout",
    "model", "model.condition", "model.condition_dim", "model.generator", "model.generator_kwargs", "model.generator_kwargs.hidden",
    "model.generator_kwargs.chunk_size", "model.init", "model.parametrization", "model.hidden",
    "data", "data.name", "data.pairs", "data.test_fraction", "data.limit", "data.path",
]  # fmt: skip

NAMES = ["hypermodel", "chunked", "mlp", "layerwise", "lowrank", "adam", "sgd", "embedding", "static", "digits", "residual"]
SPECIAL = st.sampled_from([math.inf, -math.inf, math.nan, 1e300, -1, 0, 1, 10**12, 2**63, 1e-300, "", "n" * 300, "../../x"])
SCALARS = st.one_of(
    SPECIAL,
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-3, max_value=40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NAMES),
    st.text(max_size=12),
)
TREES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from([*NAMES, "hidden", "rank", "x"]), inner, max_size=3)
    ),
    max_leaves=12,
)


def _set(config: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = config
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = value


def _fake_train(self: HyperModelRecipe, config: Any, ctx: Any) -> FitResult:
    model = self.build_model(config)
    make_optimizer(model.parameters(), config.train)
    return FitResult(0, 0, [], {}, 0.0, ctx.run_dir)


def _numbers(tree: Any) -> list[float]:
    if isinstance(tree, dict):
        return [n for v in tree.values() for n in _numbers(v)]
    if isinstance(tree, list):
        return [n for v in tree for n in _numbers(v)]
    return [tree] if isinstance(tree, (int, float)) and not isinstance(tree, bool) else []


def _files(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*")}


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(HyperModelRecipe, "train", _fake_train)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outside.txt").write_text("must stay")
    return tmp_path


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.dictionaries(st.sampled_from(KEYS), TREES, max_size=3), whole=st.one_of(st.none(), TREES))
def test_random_config_trees_give_a_run_or_exit_2(
    sandbox: Path, edits: dict[str, Any], whole: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = sandbox / "runs"
    config: Any = small_config(runs, name="fuzz", train={"epochs": 1})
    for key, value in edits.items():
        _set(config, key, value)
    if whole is not None:
        config = whole
    text = yaml.safe_dump(config, allow_unicode=True)
    path = sandbox / "fuzz.yaml"
    path.write_text(text)
    before = {k: v for k, v in _files(sandbox).items() if not k.startswith(str(runs)) and k != str(path)}
    code = main(["train", str(path), "--quiet", "--overwrite"])
    err = capsys.readouterr().err
    after = {k: v for k, v in _files(sandbox).items() if not k.startswith(str(runs)) and k != str(path)}
    assert code in (0, 2), (err, text[:500])
    assert "Traceback" not in err
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith("hypernet train: error: "), err
    else:
        assert isinstance(config, dict) and (runs / str(config.get("name", "fuzz")) / "config.json").is_file()
        stored = json.loads((runs / str(config.get("name", "fuzz")) / "config.json").read_text())
        assert all(math.isfinite(v) for v in _numbers(stored)), stored
        validate(stored)  # config.json is itself a valid config (a non-finite number would have turned into null)
    assert after == before  # nothing outside the runs dir was created, changed or deleted
    assert (sandbox / "outside.txt").read_text() == "must stay"
    assert os.getcwd() == str(sandbox)
