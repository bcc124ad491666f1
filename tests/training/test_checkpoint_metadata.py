"""Issue 25, item 6: tampered or inconsistent checkpoint metadata is refused, and resuming falls back to the previous good one."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

import hypernet as hn
from hypernet.cli import main
from hypernet.training import latest_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint
from hypernet.training.logger import read_metrics

from .helpers import losses_text, small_config, write_config


def _edit_text(path: Path, key: str, literal: str) -> None:
    text, n = re.subn(rf'"{key}": [^,\n]+', f'"{key}": {literal}', path.read_text(), count=1)
    assert n == 1
    path.write_text(text)


def _rehash(path: Path, change: Callable[[dict[str, torch.Tensor]], None]) -> None:
    """Change the tensors of checkpoint ``path`` and fix up the sha256 and size: a hash-consistent edit."""
    tensor_file = path.with_suffix(".safetensors")
    tensors = dict(st_load(tensor_file.read_bytes()))
    change(tensors)
    blob = st_save(tensors)
    tensor_file.write_bytes(blob)
    meta = json.loads(path.read_text())
    meta["tensors"].update(bytes=len(blob), sha256=hashlib.sha256(blob).hexdigest())
    path.write_text(json.dumps(meta))


def _nan_weights(tensors: dict[str, torch.Tensor]) -> None:
    key = next(k for k in tensors if k.startswith("model/"))
    tensors[key] = torch.full_like(tensors[key], float("nan"))


def _grow_model(tensors: dict[str, torch.Tensor]) -> None:
    tensors.update({k: torch.zeros(3, *v.shape) for k, v in tensors.items() if k.startswith("model/")})


def _json(path: Path, edit: Callable[[dict[str, object]], None]) -> None:
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


TAMPER: dict[str, Callable[[Path], None]] = {
    "step 1e400": lambda p: _edit_text(p, "step", "1e400"),
    "bytes Infinity": lambda p: _edit_text(p, "bytes", "Infinity"),
    "epoch 1e6": lambda p: _edit_text(p, "epoch", "1e6"),
    "step -5": lambda p: _edit_text(p, "step", "-5"),
    "batch NaN": lambda p: _edit_text(p, "batch", "NaN"),
    "deeply nested": lambda p: p.write_text(
        p.read_text().replace('"extra": {', '"extra": {"deep": ' + "[" * 100_000 + "]" * 100_000 + ", ", 1)
    ),
    "NaN weights (hash-consistent)": lambda p: _rehash(p, _nan_weights),
    "tampered param_groups": lambda p: _json(p, lambda m: m["optimizer"]["param_groups"][0].update(params=[0, 1, 2, 3, 4, 5, 6, 7, 8, 9])),
    "param_groups lr a string": lambda p: _json(p, lambda m: m["optimizer"]["param_groups"][0].update(lr="fast")),
    "another model shape": lambda p: _rehash(p, _grow_model),
}


def _two_checkpoints(directory: Path) -> tuple[nn.Linear, torch.optim.Optimizer, Path, Path]:
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    first = save_checkpoint(directory, step=1, epoch=0, batch=1, model=net, optimizer=opt)
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    second = save_checkpoint(directory, step=2, epoch=0, batch=2, model=net, optimizer=opt)
    return net, opt, first, second


@pytest.mark.parametrize("how", sorted(TAMPER))
def test_tampered_metadata_is_a_checkpoint_error_and_the_previous_one_is_used(tmp_path: Path, how: str) -> None:
    _, _, first, second = _two_checkpoints(tmp_path)
    TAMPER[how](second)
    fresh = nn.Linear(3, 2)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=0.1)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    with pytest.raises(hn.CheckpointError, match=second.stem):
        load_checkpoint(second).restore(fresh, fresh_opt)
    assert all(torch.equal(before[k], v) for k, v in fresh.state_dict().items())  # a refused restore changes nothing
    assert fresh_opt.state_dict()["state"] == {}
    skipped: list[Exception] = []
    chosen = latest_checkpoint(tmp_path, on_corrupt=skipped.append, accept=lambda c: c.restore(fresh, fresh_opt))
    assert chosen is not None and chosen.path == first and len(skipped) == 1
    assert torch.equal(fresh.weight, chosen.model_state()["weight"])


def test_checkpoint_json_with_an_escaping_tensor_file_name_is_refused(tmp_path: Path) -> None:
    _, _, _, second = _two_checkpoints(tmp_path)
    _json(second, lambda m: m["tensors"].update(file="step-00000001.json"))
    with pytest.raises(hn.CheckpointError, match=r"step-N\.safetensors"):
        load_checkpoint(second)


@pytest.mark.parametrize("how", ["step -5", "NaN weights (hash-consistent)", "another model shape", "deeply nested"])
def test_cli_resume_falls_back_to_the_previous_good_checkpoint(tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    train = {"epochs": 2, "checkpoint_every": 4, "keep_last": 5}
    assert main(["train", str(write_config(tmp_path / "ref.yaml", small_config(runs, name="ref", train=train))), "--quiet"]) == 0
    cut = write_config(tmp_path / "cut.yaml", small_config(runs, name="cut", train={**train, "max_steps": 12}))
    assert main(["train", str(cut), "--quiet"]) == 0
    ckpts = list_checkpoints(runs / "cut" / "checkpoints")
    assert [p.name for p in ckpts] == ["step-00000004.json", "step-00000008.json", "step-00000012.json"]
    TAMPER[how](ckpts[-1])
    capsys.readouterr()
    write_config(cut, small_config(runs, name="cut", train=train))
    assert main(["train", str(cut), "--resume", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "skipping unusable checkpoint" in err and "step-00000012" in err
    assert json.loads((runs / "cut" / "summary.json").read_text())["resumed_from_step"] == 8
    assert losses_text(runs / "cut") == losses_text(runs / "ref")  # metrics.csv cut at step 8 (not wiped), then bitwise the same
    assert max(s for s, _ in read_metrics(runs / "cut" / "metrics.csv")["train/loss"]) == len(losses_text(runs / "ref"))
