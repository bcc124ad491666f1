"""The ``ghn`` recipe through the CLI: train (checkpointed), resume-compatible checkpoints, eval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hypernet.cli import main
from hypernet.cli.config import validate
from hypernet.cli.registry import get_recipe, list_recipes
from hypernet.training import load_checkpoint

ROOT = Path(__file__).resolve().parents[3]


def tiny_config(tmp_path: Path) -> Path:
    cfg = yaml.safe_load((ROOT / "examples" / "ghn.yaml").read_text())
    cfg["runs_dir"] = str(tmp_path / "runs")
    cfg["train"].update(max_steps=4, checkpoint_every=2, batch_size=16)
    cfg["sampler"].update(meta_batch=1, eval_architectures=2)
    cfg["data"].update(limit=64, test_limit=50)
    path = tmp_path / "ghn.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_ghn_recipe_is_registered_and_validates_its_config() -> None:
    assert "ghn" in list_recipes()
    with pytest.raises(ValueError, match="block"):
        validate({"recipe": "ghn", "name": "x", "model": {"block": [8, 8, 3]}})


def test_train_then_eval_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(tiny_config(tmp_path)), "--quiet"]) == 0
    run = tmp_path / "runs" / "ghn"
    checkpoints = sorted(p.name for p in (run / "checkpoints").glob("*.json"))
    assert checkpoints == ["step-00000002.json", "step-00000004.json"]
    config = validate(json.loads((run / "config.json").read_text()))
    recipe = get_recipe("ghn")
    ghn = recipe.build_model(config)
    load_checkpoint(run / "checkpoints").restore(ghn)
    assert main(["eval", str(run)]) == 0
    metrics = json.loads((run / "eval.json").read_text())
    assert metrics == recipe.evaluate(config, ghn)
    assert 0 <= metrics["predicted_acc"] <= metrics["predicted_acc_best"] <= 1
