"""`hypernet train` / `eval` / `--resume` of examples/adapters.yaml, shortened (tiny local BERT, no download)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hypernet.cli import main

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
    config["model"]["rank"] = 0
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path), "--quiet", "--overwrite"]) == 2  # model.rank: named in the error
