"""Checkpoint metadata that points outside its directory or lacks fields is refused with CheckpointError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import hypernet as hn
from hypernet.training.checkpoint import load_checkpoint, save_checkpoint


@pytest.mark.parametrize("tensors", [{"file": "../../etc/passwd", "bytes": 1, "sha256": "x"}, {"bytes": 1}, "not a dict"])
def test_bad_tensor_entry_in_metadata_is_a_checkpoint_error(tmp_path: Path, tensors: object) -> None:
    net = nn.Linear(2, 2)
    meta_path = save_checkpoint(tmp_path, step=1, model=net, optimizer=torch.optim.SGD(net.parameters(), lr=0.1))
    meta = json.loads(meta_path.read_text())
    meta["tensors"] = tensors
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(hn.CheckpointError, match=meta_path.name):
        load_checkpoint(meta_path)
