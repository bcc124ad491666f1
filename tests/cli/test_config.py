"""Config files: YAML / TOML / JSON, one clear error naming the key, recipe registry."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

import hypernet as hn
from hypernet.cli.config import validate
from hypernet.cli.hypermodel import HyperModelConfig
from hypernet.cli.registry import get_recipe, list_recipes, unregister_recipe
from hypernet.training import Recipe, RunConfig, load_config, register_recipe

from ..training.helpers import small_config, write_config


def test_yaml_toml_and_json_give_the_same_config(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("recipe: hypermodel\ntrain:\n  lr: 1e-3\n  epochs: 2\nmodel:\n  hidden: [8, 8]\n")
    (tmp_path / "a.toml").write_text('recipe = "hypermodel"\n[train]\nlr = 1e-3\nepochs = 2\n[model]\nhidden = [8, 8]\n')
    (tmp_path / "a.json").write_text('{"recipe": "hypermodel", "train": {"lr": 0.001, "epochs": 2}, "model": {"hidden": [8, 8]}}')
    configs = [load_config(tmp_path / f"a.{ext}") for ext in ("yaml", "toml", "json")]
    assert configs[0] == configs[1] == configs[2]
    cfg = configs[0]
    assert isinstance(cfg, HyperModelConfig) and cfg.name == "a" and cfg.train.lr == 1e-3 and cfg.model.hidden == [8, 8]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("recipe: hypermodel\ntrain:\n  lrr: 0.1\n", r"unknown key 'train\.lrr' \(did you mean 'lr'\?\); expected one of: batch_size"),
        ("recipe: hypermodel\nbogus: 1\n", r"unknown key 'bogus'"),
        ("recipe: hypermodel\ntrain:\n  epochs: three\n", r"key 'train\.epochs': expected a valid integer, got str 'three'"),
        ("recipe: hypermodel\ntrain:\n  epochs: '3'\n", r"key 'train\.epochs': expected a valid integer"),
        ("recipe: hypermodel\ntrain:\n  lr: -1\n", r"key 'train\.lr': expected greater than 0"),
        ("recipe: hypermodel\nmodel:\n  generator: nope\n", r"key 'model\.generator': expected a registered generator: one of chunked"),
        ("recipe: hypermodel\nmodel: 3\n", r"key 'model': "),
        (
            "recipe: hypermodel\ndata:\n  name: mnist\n  path: /no/such/file.pkl.gz\n",
            r"key 'data\.path': expected an existing file, got '/no/such/file\.pkl\.gz'",
        ),
        ("recipe: hypermodel\ndata:\n  pairs: [[0, 0]]\n", r"key 'data\.pairs': expected pairs of distinct digits"),
        (
            "recipe: nope\n",
            r"key 'recipe': expected one of: adapters, architecture, compression, continual, federated, ghn, hypermodel, hypertab, "
            r"instant, moe, retrieval, rl, sweep, t2l, uncertainty, got str 'nope'",
        ),
        ("train: {}\n", r"missing key 'recipe'"),
        ("name: 'bad name'\nrecipe: hypermodel\n", r"key 'name': string should match pattern"),
        ("- a list\n", r"to hold a mapping of keys, got list"),
        ("recipe: [unclosed\n", r"cannot parse config file"),
    ],
)
def test_bad_config_gives_one_message_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(hn.ConfigError, match=expected) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_and_unsupported_files(tmp_path: Path) -> None:
    with pytest.raises(hn.ConfigError, match="config file not found"):
        load_config(tmp_path / "none.yaml")
    (tmp_path / "c.ini").write_text("x")
    with pytest.raises(hn.ConfigError, match=r"ending in \.yaml"):
        load_config(tmp_path / "c.ini")


def test_floats_accept_ints_and_yaml_exponents(tmp_path: Path) -> None:
    cfg = validate(small_config(tmp_path, train={"lr": 1, "weight_decay": 0}))
    assert cfg.train.lr == 1.0
    path = write_config(tmp_path / "e.yaml", small_config(tmp_path))
    path.write_text(path.read_text() + "# comment\n")
    assert load_config(path).train.lr == 3e-3


def test_a_recipe_registers_its_own_schema(tmp_path: Path) -> None:
    class EchoConfig(RunConfig):
        recipe: Literal["echo"] = "echo"
        width: int = 3

    @register_recipe("echo")
    class Echo(Recipe):
        config_class = EchoConfig

    try:
        assert "echo" in list_recipes() and isinstance(get_recipe("echo"), Echo)
        assert validate({"recipe": "echo", "name": "e", "width": 5}).width == 5  # type: ignore[attr-defined]
        with pytest.raises(hn.ConfigError, match="unknown key 'model'"):
            validate({"recipe": "echo", "name": "e", "model": {}})
        with pytest.raises(hn.ConfigError, match="already registered"):
            register_recipe("echo")(type("Other", (Recipe,), {}))
        with pytest.raises(hn.training.UsageError, match="does not support export"):
            Echo().parse_cond(None, "1")
    finally:
        unregister_recipe("echo")
    assert "echo" not in list_recipes()
