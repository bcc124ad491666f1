"""`hypernet train` / `eval` / `--resume` of examples/adapters.yaml, shortened (tiny local BERT, no download)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from hypernet.cli import main
from hypernet.cli.runs import load_run
from hypernet.recipes.adapters.cli import _base

pytest.importorskip("transformers")
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "adapters.yaml"


def test_train_eval_resume_the_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config = yaml.safe_load(EXAMPLE.read_text())
    config["data"]["per_task"] = 8
    config["train"].update(max_steps=4, checkpoint_every=2)
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(path), "--quiet"]) == 0
    run = tmp_path / "runs" / "adapters"
    assert sorted(p.name for p in (run / "checkpoints").glob("*.json")) == ["step-00000002.json", "step-00000004.json"]
    assert main(["eval", str(run)]) == 0
    assert "acc_lacks-alpha" in capsys.readouterr().out
    config["train"]["max_steps"] = 6
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path), "--quiet", "--resume"]) == 0
    assert (run / "checkpoints" / "step-00000006.json").is_file()
    export_and_compare(run, tmp_path)
    config["model"]["rank"] = 0
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path), "--quiet", "--overwrite"]) == 2  # model.rank: named in the error


def export_and_compare(run: Path, tmp_path: Path) -> None:
    """`hypernet export --cond TASK` writes the base with the task's LoRA merged in; a fresh base loading it gives the same outputs."""
    out = tmp_path / "lacks.safetensors"
    assert main(["export", str(run), "--cond", "lacks-alpha", "--out", str(out)]) == 0
    config, _, model = load_run(run)
    fresh = _base(config)[0]  # a plain base, as a user would load it
    missing, unexpected = fresh.load_state_dict(load_file(out), strict=False)
    assert not unexpected and not [k for k in missing if "lora" not in k]
    batch = {"input_ids": torch.tensor([[2, 5, 7, 3]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    with torch.no_grad():
        expected = model.adapter("lacks-alpha")(**batch).last_hidden_state
        plain = _base(config)[0](**batch).last_hidden_state
        got = fresh(**batch).last_hidden_state
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert (got - plain).abs().max() > 1e-4  # the export is not just the untouched base
    assert main(["export", str(run), "--cond", "no-such-task", "--out", str(tmp_path / "x.safetensors")]) == 2
    assert not (tmp_path / "x.safetensors").exists()
