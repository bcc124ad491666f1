"""Every recipe is trainable from the command line: train a shrunken examples/<recipe>.yaml, then eval and export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file

from hypernet.cli import main
from hypernet.cli.registry import list_recipes

from ..training.helpers import ROOT

# each example cut down to a few steps (the full examples are timed in the README / closing note)
SHRINK: dict[str, dict[str, Any]] = {
    "continual": {"train": {"epochs": 1}, "data": {"pairs": [[0, 1], [2, 3]]}},
    "sweep": {"train": {"epochs": 1, "max_steps": 6, "checkpoint_every": 3}, "eval_points": 3},
    "architecture": {"train": {"epochs": 1, "max_steps": 6, "checkpoint_every": 3}, "candidates": 3},
    "compression": {"train": {"epochs": 1}},
    "uncertainty": {"train": {"epochs": 1, "max_steps": 6}, "eval_samples": 4},
    "instant": {"train": {"max_steps": 6, "checkpoint_every": 3}, "eval_episodes": 2},
    "hypertab": {"train": {"epochs": 2}, "n_members": 4},
    "moe": {"train": {"epochs": 1, "max_steps": 6, "checkpoint_every": 3}},
    "t2l": {"train": {"max_steps": 4, "checkpoint_every": 2}, "data": {"per_task": 4, "eval_per_task": 1}},
}
CONDS = {"continual": "1", "sweep": "0.001", "architecture": "32(relu)", "uncertainty": "3", "hypertab": "2", "t2l": "reverse_words"}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base.get(k, {}), v) if isinstance(v, dict) else v
    return out


def test_every_library_recipe_has_an_example() -> None:
    assert set(SHRINK) <= set(list_recipes())
    assert {p.stem for p in (ROOT / "examples").glob("*.yaml")} >= set(SHRINK)


@pytest.mark.parametrize("recipe", sorted(SHRINK))
def test_example_trains_evaluates_and_exports(recipe: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.set_num_threads(1)
    cfg = _merge(yaml.safe_load((ROOT / "examples" / f"{recipe}.yaml").read_text()), SHRINK[recipe])
    cfg["runs_dir"] = str(tmp_path / "runs")
    path = tmp_path / f"{recipe}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(path), "--quiet"]) == 0, capsys.readouterr().err
    run = tmp_path / "runs" / cfg["name"]
    assert list((run / "checkpoints").glob("step-*.safetensors"))
    assert main(["eval", str(run)]) == 0, capsys.readouterr().err
    metrics = json.loads((run / "eval.json").read_text())
    assert metrics and all(isinstance(v, float) for v in metrics.values())
    out = tmp_path / "w.safetensors"
    args = ["export", str(run), "--out", str(out)] + (["--cond", CONDS[recipe]] if recipe in CONDS else [])
    assert main(args) == 0, capsys.readouterr().err
    weights = load_file(str(out))
    assert weights and all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())
    # a resumed finished run trains nothing new and keeps its checkpoints
    assert main(["train", str(path), "--quiet", "--resume"]) == 0, capsys.readouterr().err


def test_bad_cond_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _merge(yaml.safe_load((ROOT / "examples" / "architecture.yaml").read_text()), SHRINK["architecture"])
    cfg["runs_dir"] = str(tmp_path / "runs")
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(path), "--quiet"]) == 0
    run = str(tmp_path / "runs" / cfg["name"])
    assert main(["export", run, "--cond", "7(relu)", "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "expected widths in" in capsys.readouterr().err
    assert main(["export", run, "--cond", "wide", "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "32(relu)-16(tanh)" in capsys.readouterr().err
