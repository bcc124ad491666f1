"""The ``federated`` CLI recipe: train, resume, eval and export through ``hypernet``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from hypernet.cli import main
from hypernet.cli.config import read_config_file, validate
from hypernet.recipes.federated.cli import FederatedRecipe, build_server, load_clients
from hypernet.training import load_checkpoint

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    """The recipe trains on one thread; the reference runs here must too to match it bit for bit."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _config(tmp_path: Path, rounds: int, **model: object) -> Path:
    cfg = read_config_file(ROOT / "examples" / "federated.yaml")
    cfg.update(name="fed", runs_dir=str(tmp_path / "runs"))
    cfg["data"]["num_clients"] = 5
    cfg["federated"].update(rounds=rounds, inner_steps=3, eval_every=2)
    cfg["train"]["checkpoint_every"] = 2
    cfg["model"].update(model)
    path = tmp_path / "fed.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_example_config_validates() -> None:
    cfg = validate(read_config_file(ROOT / "examples" / "federated.yaml"))
    assert cfg.recipe == "federated" and cfg.data.name == "digits"  # type: ignore[attr-defined]


def test_train_resume_eval_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, rounds=4)
    assert main(["train", str(path), "--quiet"]) == 0
    run = tmp_path / "runs" / "fed"
    rows = list(csv.DictReader((run / "metrics.csv").read_text().splitlines()))
    assert [r["round"] for r in rows] == ["2.0", "4.0"]
    assert load_checkpoint(run / "checkpoints").step == 4

    # resume to 6 rounds: equals a straight 6-round run
    cfg = read_config_file(path)
    cfg["federated"]["rounds"] = 6
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(path), "--resume", "--quiet"]) == 0
    assert [r["round"] for r in csv.DictReader((run / "metrics.csv").read_text().splitlines())] == ["2.0", "4.0", "6.0"]
    config = validate(json.loads((run / "config.json").read_text()))
    straight = build_server(config)  # type: ignore[arg-type]
    straight.fit(load_clients(config), 6)  # type: ignore[arg-type]
    resumed = FederatedRecipe().build_model(config)
    load_checkpoint(run / "checkpoints").restore(resumed)
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name

    assert main(["eval", str(run)]) == 0
    metrics = json.loads((run / "eval.json").read_text())
    assert set(metrics) == {"val_acc", "test_acc"} and 0 <= metrics["test_acc"] <= 1
    out = tmp_path / "c2.safetensors"
    assert main(["export", str(run), "--cond", "2", "--out", str(out)]) == 0
    exported = load_file(out)
    assert torch.equal(exported["0.weight"], straight.personalize(2).state_dict()["0.weight"])
    assert main(["export", str(run), "--cond", "5", "--out", str(out)]) == 2
    capsys.readouterr()


def test_data_embedding_and_cnn_choice(tmp_path: Path) -> None:
    path = _config(tmp_path, rounds=2, embedding="data")
    assert main(["train", str(path), "--quiet"]) == 0
    assert main(["export", str(tmp_path / "runs" / "fed"), "--cond", "0", "--out", str(tmp_path / "x.safetensors")]) == 2
    bad = _config(tmp_path, rounds=1, target="cnn")
    assert main(["train", str(bad), "--quiet", "--overwrite"]) == 2  # digits are 8x8: the CNN needs 28x28
