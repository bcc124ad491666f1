"""Issue 25, item 7: two processes equal one on an epoch's short last batch, and a frozen peer ends the run after the timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file
from torch.utils.data import Subset, TensorDataset

from hypernet.cli.config import validate
from hypernet.cli.hypermodel import HyperModelRecipe, _load_data, classification_step
from hypernet.training import ShardedBatchSampler, fit, make_loader, make_optimizer, seed_everything
from hypernet.training import distributed as hdist

from .helpers import cli_env, small_config

SIZES = (11, 9)  # batch 4: last batches of 3 (split 2 + 1) and of 1 (one rank gets only a weight-0 stand-in)


def _train(runs: Path, size: int) -> tuple[dict[str, torch.Tensor], list[float]]:
    cfg = validate(small_config(runs, train={"batch_size": 4, "optimizer": "sgd", "lr": 0.5}))
    seed_everything(0)
    model = HyperModelRecipe().build_model(cfg)
    data = _load_data(cfg)
    dataset = Subset(TensorDataset(data.x_train, data.task_train, data.y_train), list(range(size)))
    result = fit(
        model,
        classification_step(True),
        make_loader(dataset, 4, seed=1),
        make_optimizer(model.parameters(), cfg.train),
        epochs=2,
        progress=False,
    )
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, result.losses


def _worker(rank: int, world: int, store: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        for size in SIZES:
            state, losses = _train(Path(out).parent / "runs", size)
            save_file({**state, "losses": torch.tensor(losses, dtype=torch.float64)}, f"{out}.{size}.{rank}")
    finally:
        hdist.teardown()


def test_short_last_batch_two_processes_equal_one_process(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(2, str(tmp_path / "store"), str(tmp_path / "out")), nprocs=2, join=True)
    for size in SIZES:
        reference, losses = _train(tmp_path / "runs", size)
        assert len(losses) == 2 * 3  # 3 batches per epoch, the last one short: nothing dropped
        for rank in range(2):
            got = load_file(tmp_path / f"out.{size}.{rank}")
            torch.testing.assert_close(got.pop("losses"), torch.tensor(losses, dtype=torch.float64), atol=1e-6, rtol=0)
            for name, ref in reference.items():
                torch.testing.assert_close(got[name], ref, atol=1e-6, rtol=0, msg=f"{size} samples, rank {rank}: {name}")


def test_sharded_batches_cover_the_data_once_with_weights_summing_to_the_world_size() -> None:
    for size, world, batch in [(1347, 2, 4), (10, 4, 8), (3, 4, 4), (64, 2, 64)]:
        parts = [ShardedBatchSampler(size, batch, num_replicas=world, rank=r, seed=5) for r in range(world)]
        one = list(ShardedBatchSampler(size, batch, seed=5))
        assert len(parts[0]) == len(one) == -(-size // batch)
        for index, whole in enumerate(one):
            weights = [p.loss_weight(index) for p in parts]
            assert abs(sum(weights) - world) < 1e-12
            real = [b for p, b, w in zip(parts, [list(p)[index] for p in parts], weights, strict=True) if w > 0]
            assert [i for b in real for i in b] == whole  # the one-process batch, cut into contiguous parts


WORKER = """
import os, sys, time, signal, torch
import torch.distributed as dist
from torch import nn
from hypernet.training import fit, make_loader
from hypernet.training import distributed as hdist
os.environ.update(WORLD_SIZE="2", RANK=sys.argv[1], MASTER_ADDR="127.0.0.1", MASTER_PORT=sys.argv[2], HYPERNET_DIST_TIMEOUT="3")
hdist.setup()
if dist.get_rank() == 1:
    os.kill(os.getpid(), signal.SIGSTOP)  # frozen, like a SIGSTOPped peer
net = nn.Linear(2, 1)
data = torch.utils.data.TensorDataset(torch.randn(64, 2))
started = time.monotonic()
try:
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    fit(net, lambda m, b: m(b[0]).pow(2).mean(), make_loader(data, 4), opt, epochs=100, progress=False)
except Exception as exc:
    print(type(exc).__name__, round(time.monotonic() - started), exc, flush=True)
    os._exit(3)
"""


def test_a_frozen_peer_ends_the_run_with_a_clear_error_after_the_timeout(tmp_path: Path) -> None:
    from .helpers import free_port

    port = str(free_port())
    outs = (subprocess.PIPE, subprocess.DEVNULL)
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(r), port], env=cli_env(), stdout=outs[r], text=True) for r in (0, 1)]
    try:
        out, _ = procs[0].communicate(timeout=120)
    finally:
        os.kill(procs[1].pid, signal.SIGKILL)
        procs[1].wait()
    assert procs[0].returncode == 3, out
    kind, seconds, message = out.split(" ", 2)
    assert kind == "TrainingError" and "expected every training process to answer" in message and "timeout of 3s" in message
    assert int(seconds) < 60


def test_resuming_a_one_process_run_under_torchrun_is_refused_with_one_line(tmp_path: Path) -> None:
    from hypernet.cli import main

    from .helpers import free_port, write_config

    config = write_config(tmp_path / "one.yaml", small_config(tmp_path / "runs", name="one", train={"epochs": 1}))
    assert main(["train", str(config), "--quiet"]) == 0
    before = sorted((p.name, p.stat().st_mtime_ns) for p in (tmp_path / "runs" / "one").rglob("*"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1", f"--master_port={free_port()}"]
    done = subprocess.run(
        [*cmd, "-m", "hypernet", "train", str(config), "--resume"], capture_output=True, text=True, env=cli_env(), timeout=300
    )
    ours = [line for line in done.stderr.splitlines() if line.startswith("hypernet train:")]
    assert done.returncode != 0 and "exitcode  : 2" in done.stderr  # our processes exit 2; torchrun reports them and exits 1
    assert len(ours) == 1 and "with 2 processes: its checkpoints were written by 1" in ours[0], done.stderr
    assert "Traceback" not in done.stderr.split("hypernet train: error")[0]  # no traceback from our processes
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (tmp_path / "runs" / "one").rglob("*")) == before
