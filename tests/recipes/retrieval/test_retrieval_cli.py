"""`hypernet train` / `eval` / `--resume` / `search` of examples/retrieval.yaml, shortened (tiny local BERT, no download)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hypernet.cli import main
from hypernet.recipes.retrieval import DocumentIndex

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "retrieval.yaml"


def test_train_eval_resume_search_the_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config = yaml.safe_load(EXAMPLE.read_text())
    config["data"]["docs"] = 12
    config["train"].update(max_steps=4, checkpoint_every=2, batch_size=4)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(path), "--quiet"]) == 0
    run = tmp_path / "runs" / "retrieval"
    assert sorted(p.name for p in (run / "checkpoints").glob("*.json")) == ["step-00000002.json", "step-00000004.json"]
    index = DocumentIndex.load(run / "index")
    assert len(index) == 12 and index.width == 32 and index.texts is not None
    assert main(["eval", str(run)]) == 0
    assert "mrr@10_words" in capsys.readouterr().out
    assert set(json.loads((run / "eval.json").read_text())) == {"mrr@10_words", "recall@10_words"}
    config["train"]["max_steps"] = 6
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path), "--quiet", "--resume"]) == 0
    assert (run / "checkpoints" / "step-00000006.json").is_file()
    capsys.readouterr()
    assert main(["search", str(run), index.texts[3], "-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].split()[0] == "1"
    assert main(["search", str(run), "w1", "-k", "3", "--approximate"]) == 0
    assert main(["search", str(run), "w1", "-k", "13"]) == 2
    assert "expected k in [1, 12]" in capsys.readouterr().err
    assert main(["search", str(tmp_path / "nowhere"), "w1"]) == 2
