"""Checkpoints: exact round trips, atomic writes, keep-last, corrupted files, no unpickling."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

import hypernet as hn
from hypernet.training import latest_checkpoint, list_checkpoints, load_checkpoint, load_tensors, save_checkpoint


def _trained() -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = hn.HyperModel(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), condition=hn.Embedding(3, 4), generator="mlp")
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        loss = model(torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, opt


def test_round_trip_restores_model_and_optimizer_exactly(tmp_path: Path) -> None:
    model, opt = _trained()
    path = save_checkpoint(tmp_path, step=3, epoch=1, batch=2, model=model, optimizer=opt, config={"lr": 0.01})
    torch.manual_seed(1)
    fresh, fresh_opt = _trained()  # different weights and optimizer state
    ckpt = load_checkpoint(path)
    ckpt.restore(fresh, fresh_opt)
    assert (ckpt.step, ckpt.epoch, ckpt.batch, ckpt.meta["config"]) == (3, 1, 2, {"lr": 0.01})
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    # one more identical step from both gives identical weights: the optimizer state (Adam moments, step) came back exactly
    x, c = torch.randn(5, 4), torch.tensor([2, 1, 0, 0, 1])
    for m, o in ((model, opt), (fresh, fresh_opt)):
        o.zero_grad()
        m(x, c).pow(2).mean().backward()
        o.step()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values(), strict=True))
    assert fresh_opt.param_groups[0]["betas"] == opt.param_groups[0]["betas"]


def test_keep_last_and_listing(tmp_path: Path) -> None:
    net = nn.Linear(2, 2)
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step=step, model=net, keep_last=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000003.json", "step-00000004.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "step-00000003.json",
        "step-00000003.safetensors",
        "step-00000004.json",
        "step-00000004.safetensors",
    ]


@pytest.mark.parametrize("damage", ["truncate_tensors", "flip_byte", "truncate_json", "delete_tensors"])
def test_corrupted_checkpoint_raises_naming_the_file_and_previous_stays_usable(tmp_path: Path, damage: str) -> None:
    net = nn.Linear(3, 2)
    first = save_checkpoint(tmp_path, step=1, model=net)
    with torch.no_grad():
        net.weight.add_(1.0)
    second = save_checkpoint(tmp_path, step=2, model=net)
    tensors = second.with_suffix(".safetensors")
    if damage == "truncate_tensors":
        tensors.write_bytes(tensors.read_bytes()[:100])
    elif damage == "flip_byte":
        data = bytearray(tensors.read_bytes())
        data[-3] ^= 0xFF
        tensors.write_bytes(bytes(data))
    elif damage == "truncate_json":
        second.write_text(second.read_text()[:40])
    else:
        tensors.unlink()
    bad = second if damage == "truncate_json" else tensors
    with pytest.raises(hn.CheckpointError, match=str(bad).replace(".", r"\.")):
        load_checkpoint(second)
    skipped: list[Exception] = []
    latest = latest_checkpoint(tmp_path, on_corrupt=skipped.append)
    assert latest is not None and latest.path == first and len(skipped) == 1
    assert not torch.equal(latest.model_state()["weight"], net.weight)


class _Payload:
    """Unpickling this creates a marker file: proof that pickled code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_pickled_payload_is_refused_and_never_runs(tmp_path: Path, suffix: str) -> None:
    live = tmp_path / "live"
    pickle.loads(pickle.dumps(_Payload(live))).close()
    assert live.exists()  # the payload is real: plain unpickling runs it
    marker = tmp_path / "pwned"
    evil = tmp_path / f"evil{suffix}"
    if suffix == ".pt":
        torch.save({"weight": _Payload(marker)}, evil)
    else:
        evil.write_bytes(pickle.dumps({"weight": _Payload(marker)}))
    with pytest.raises(hn.CheckpointError, match="evil"):
        load_tensors(evil)
    assert not marker.exists()
    # the same payload in place of a real checkpoint's tensor file (with a matching hash) is refused too
    path = save_checkpoint(tmp_path / "ckpt", step=1, model=nn.Linear(2, 2))
    blob = pickle.dumps({"weight": _Payload(marker)})
    meta = json.loads(path.read_text())
    meta["tensors"].update(bytes=len(blob), sha256=__import__("hashlib").sha256(blob).hexdigest())
    path.with_suffix(".safetensors").write_bytes(blob)
    path.write_text(json.dumps(meta))
    with pytest.raises(hn.CheckpointError, match=r"step-00000001\.safetensors"):
        load_checkpoint(path)
    assert not marker.exists()


def test_plain_pt_state_dict_loads_with_weights_only(tmp_path: Path) -> None:
    net = nn.Linear(2, 3)
    torch.save(net.state_dict(), tmp_path / "w.pt")
    loaded = load_tensors(tmp_path / "w.pt")
    assert loaded.keys() == net.state_dict().keys() and all(torch.equal(loaded[k], v) for k, v in net.state_dict().items())


def test_missing_and_mismatched(tmp_path: Path) -> None:
    with pytest.raises(hn.CheckpointError, match="nothing there"):
        load_tensors(tmp_path / "nope.safetensors")
    with pytest.raises(hn.CheckpointError, match="got none"):
        load_checkpoint(tmp_path)
    path = save_checkpoint(tmp_path, step=1, model=nn.Linear(2, 2))
    with pytest.raises(hn.CheckpointError, match="to fit this model, got a mismatch"):
        load_checkpoint(path).restore(nn.Linear(3, 3))
    with pytest.raises(hn.CheckpointError, match="JSON-serialisable"):
        save_checkpoint(tmp_path, step=2, model=nn.Linear(2, 2), config={"x": object()})
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000001.json"]
