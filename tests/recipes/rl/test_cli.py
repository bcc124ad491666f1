"""``hypernet train examples/rl.yaml`` (shrunk): writes return curves as CSV + PNG, a checkpoint; eval and export work."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from hypernet.cli import main

ROOT = Path(__file__).resolve().parents[3]


def test_rl_example_trains_evaluates_and_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.set_num_threads(1)
    cfg = yaml.safe_load((ROOT / "examples" / "rl.yaml").read_text())
    cfg["zero_shot"].update(train_contexts=2, test_contexts=1, expert_steps=60, transitions=40, steps=10, episodes=1)
    cfg["multi_arch"].update(total_steps=64, n_envs=2, n_steps=32, n_epochs=1, batch_size=64, candidates=2, episodes=1)
    cfg["multi_arch"].update(depths=[1, 2], widths=[4, 16])
    cfg["runs_dir"] = str(tmp_path / "runs")
    path = tmp_path / "rl.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(path), "--quiet"]) == 0, capsys.readouterr().err
    run = tmp_path / "runs" / cfg["name"]
    for name in ("zero_shot.csv", "multi_arch_curve.csv", "ranking.csv", "returns.png", "experts"):
        assert (run / name).exists(), name
    rows = list(csv.DictReader((run / "zero_shot.csv").read_text().splitlines()))
    assert [r["split"] for r in rows] == ["train", "train", "test", "expert", "expert"]
    assert all(-2000 < float(r["return"]) < 0 for r in rows)
    assert len(list((run / "experts").glob("*.safetensors"))) == 2
    assert main(["eval", str(run)]) == 0, capsys.readouterr().err
    metrics = json.loads((run / "eval.json").read_text())
    assert set(metrics) == {"zero_shot_test_return", "best_arch_return"}
    out = tmp_path / "w.safetensors"
    assert main(["export", str(run), "--out", str(out), "--cond", "1.1,0.9"]) == 0, capsys.readouterr().err
    assert sum(v.numel() for v in load_file(str(out)).values()) == (3 * 32 + 32) + (32 * 32 + 32) + (32 + 1)
    assert main(["export", str(run), "--out", str(out), "--cond", "1.1"]) == 2
    assert "2 comma-separated numbers" in capsys.readouterr().err


def test_rl_config_passes_the_multi_arch_options_to_the_policy() -> None:
    from hypernet.recipes.rl.cli import RLConfig, RLRecipe

    cfg = RLConfig.model_validate(
        {
            "name": "rl",
            "multi_arch": {"depths": [1], "widths": [4, 8], "arch_switch": "step_then_rollout", "fan_in_scaling": True, "residual": True},
        }
    )
    hp = RLRecipe().build_model(cfg).multi_arch
    assert (hp.arch_switch, hp.fan_in_scaling, hp.residual) == ("step_then_rollout", True, True)
    with pytest.raises(ValueError, match="arch_switch"):
        RLConfig.model_validate({"name": "rl", "multi_arch": {"arch_switch": "episode"}})
