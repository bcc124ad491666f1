"""DistributedDataParallel: 2 local gloo processes give the 1-process gradients, and `torchrun ... train` works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file
from torch.utils.data import TensorDataset

from hypernet.cli.config import validate
from hypernet.cli.hypermodel import HyperModelConfig, HyperModelRecipe, _load_data, classification_step
from hypernet.training import Callback, TrainState, fit, load_checkpoint, make_loader, make_optimizer, seed_everything
from hypernet.training import distributed as hdist

from .helpers import cli_env, free_port, losses_text, small_config, write_config

BATCH = 64


class _GrabGradients(Callback):
    """Keeps the gradients of the first step (after DDP's all-reduce) and the batch this process saw, then stops."""

    def __init__(self) -> None:
        self.grads: dict[str, torch.Tensor] = {}

    def on_after_backward(self, state: TrainState) -> None:
        model = hdist.unwrap(state.model)
        self.grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
        state.stop = True


def _one_step(runs: Path) -> tuple[dict[str, torch.Tensor], TensorDataset]:
    """One optimizer step of the hypermodel recipe with per-sample task conditions; returns the gradients."""
    cfg = validate(small_config(runs, train={"batch_size": BATCH}))
    assert isinstance(cfg, HyperModelConfig)
    seed_everything(0)
    model = HyperModelRecipe().build_model(cfg)
    data = _load_data(cfg)
    dataset = TensorDataset(data.x_train, data.task_train, data.y_train)
    grab = _GrabGradients()
    loader = make_loader(dataset, BATCH, seed=0)
    first = next(iter(loader))
    assert len(first[0]) == BATCH // hdist.current().world_size and len(set(first[1].tolist())) > 1  # mixed tasks: per-sample weights
    fit(
        model,
        classification_step(True),
        loader,
        make_optimizer(model.parameters(), cfg.train),
        max_steps=1,
        callbacks=[grab],
        progress=False,
    )
    return grab.grads, dataset


def _worker(rank: int, world: int, store: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        grads, _ = _one_step(Path(out).parent / "runs")
        save_file({k: v.contiguous() for k, v in grads.items()}, f"{out}.{rank}")
    finally:
        hdist.teardown()


def test_two_process_gradients_equal_one_process_gradients(tmp_path: Path) -> None:
    reference, _ = _one_step(tmp_path / "runs")
    mp.spawn(_worker, args=(2, str(tmp_path / "store"), str(tmp_path / "grads")), nprocs=2, join=True)
    per_rank = [load_file(tmp_path / f"grads.{r}") for r in range(2)]
    assert per_rank[0].keys() == reference.keys() and len(reference) >= 3
    for name, ref in reference.items():
        assert ref.abs().max() > 0, name
        for grads in per_rank:
            torch.testing.assert_close(grads[name], ref, atol=1e-6, rtol=0, msg=name)


def test_global_batch_sampler_shards_each_global_batch() -> None:
    data = TensorDataset(torch.arange(10))
    one = [i for i in hdist.GlobalBatchSampler(data, 4, num_replicas=1, rank=0, seed=3)]
    halves = [list(hdist.GlobalBatchSampler(data, 4, num_replicas=2, rank=r, seed=3)) for r in range(2)]
    assert sorted(one) == list(range(10))
    rebuilt = [halves[r][b * 2 : b * 2 + 2] for b in range(3) for r in range(2)]
    assert [i for part in rebuilt for i in part] == one  # global batch b = rank 0's slice + rank 1's slice, in the 1-process order


def _torchrun(config: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1", f"--master_port={free_port()}"]
    cmd += ["-m", "hypernet", "train", str(config), *flags]
    done = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_torchrun_train_resume_and_one_process_agree(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    train: dict[str, Any] = {"epochs": 2, "batch_size": BATCH, "checkpoint_every": 4}
    lines = _torchrun(write_config(tmp_path / "two.yaml", small_config(runs, name="two", train=train))).stdout.splitlines()
    assert sum(line.startswith("run ") for line in lines) == 1 and sum(line.startswith("epoch ") for line in lines) == 2  # rank 0 only
    cut = write_config(tmp_path / "cut.yaml", small_config(runs, name="cut", train={**train, "max_steps": 6}))
    _torchrun(cut, "--quiet")
    _torchrun(write_config(cut, small_config(runs, name="cut", train=train)), "--resume", "--quiet")
    assert losses_text(runs / "cut") == losses_text(runs / "two")  # resuming under DDP is bitwise too
    from hypernet.cli import main

    assert main(["train", str(write_config(tmp_path / "one.yaml", small_config(runs, name="one", train=train))), "--quiet"]) == 0
    summary = json.loads((runs / "two" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == json.loads((runs / "one" / "summary.json").read_text())["steps"]
    a, b = load_checkpoint(runs / "one" / "checkpoints").model_state(), load_checkpoint(runs / "two" / "checkpoints").model_state()
    for name in a:
        torch.testing.assert_close(b[name], a[name], atol=1e-4, rtol=1e-4, msg=name)
    rows = (runs / "two" / "metrics.csv").read_text().splitlines()
    assert len(rows) == len(set(rows))  # one writer
