"""Flower integration (optional extra ``[federated]``, in ``dev``): apps, message codec, and one real simulation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import hypernet as hn
from hypernet.recipes.federated import pathological_partition

flwr = pytest.importorskip("flwr", reason="needs the optional extra hypernet[federated] (flwr[simulation]==1.42.*)")
from hypernet.recipes.federated import flower  # noqa: E402


def _clients() -> list:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(180, 6, generator=g), torch.arange(180) % 3
    return pathological_partition(x, y, x[:60], y[:60], num_clients=3, classes_per_client=2)


def _fed(embedding: str = "learned") -> hn.FederatedHypernet:
    torch.manual_seed(1)
    extra: dict[str, Any] = {"x_dim": 6, "n_classes": 3} if embedding == "data" else {}
    return hn.FederatedHypernet(nn.Linear(6, 3), num_clients=3, embedding=embedding, inner_steps=2, clients_per_round=2, seed=0, **extra)  # type: ignore[arg-type]


def test_codec_round_trips_messages_exactly() -> None:
    msg = {"task": "train", "seed": 7, "weights": {"w": torch.randn(3, 2), "b": torch.randn(3)}, "grad": torch.randn(5)}
    back = flower.decode(flower.encode(msg))
    assert back["task"] == "train" and back["seed"] == 7
    assert torch.equal(back["grad"], msg["grad"]) and all(torch.equal(back["weights"][k], v) for k, v in msg["weights"].items())


def test_apps_are_built_from_the_two_functions() -> None:
    fed = _fed()
    assert isinstance(flower.server_app(fed, rounds=1), flwr.serverapp.ServerApp)
    assert isinstance(flower.client_app(fed, lambda cid: _clients()[cid]), flwr.clientapp.ClientApp)


class FakeGrid:
    """A Grid stand-in that delivers messages to ClientApps in process (exercises the codec and routing)."""

    def __init__(self, app: Any, nodes: dict[int, int]) -> None:
        from flwr.app import Context, RecordDict

        self.app, self.nodes = app, nodes
        self.contexts = {
            n: Context(run_id=1, node_id=n, node_config={"partition-id": c}, state=RecordDict(), run_config={}) for n, c in nodes.items()
        }

    def get_node_ids(self) -> list[int]:
        return list(self.nodes)

    def send_and_receive(self, messages: Any, timeout: float | None = None) -> list[Any]:
        from flwr.app import Message

        out = []
        for m in messages:
            # what goes over the wire: a Message with a metadata-only header and the records
            delivered = Message(m.content, dst_node_id=m.metadata.dst_node_id, message_type=m.metadata.message_type)
            reply = self.app(delivered, self.contexts[m.metadata.dst_node_id])
            out.append(reply)
        return out


@pytest.mark.parametrize("embedding", ["learned", "data"])
def test_flower_exchange_matches_in_process_rounds(embedding: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from flwr.supercore.task_identity import TaskIdentity

    for attr in ("_run_id", "_node_id", "_task_id"):  # what a Flower process sets before any Message is built
        monkeypatch.setattr(TaskIdentity, attr, 1)
    clients = _clients()
    via_flower, local = _fed(embedding), _fed(embedding)
    grid = FakeGrid(flower.client_app(_fed(embedding), lambda cid: clients[cid]), {101: 2, 102: 0, 103: 1})
    node_of = flower.discover_clients(grid)
    assert node_of == {2: 101, 0: 102, 1: 103}
    exchange = flower.flower_exchange(grid, node_of)
    for _ in range(2):
        via_flower.server_round(via_flower.sample_clients(), exchange)
        local.server_round(local.sample_clients(), local.local_exchange(clients))
    for (name, a), b in zip(via_flower.model.state_dict().items(), local.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)
    with pytest.raises(hn.HypernetError, match="a Flower node for every client"):
        flower.flower_exchange(grid, {0: 102})({1: {"task": "train"}})


SIMULATION = """
import sys, torch
sys.path.insert(0, {tests!r})
from safetensors.torch import save_file
from test_federated_flower import _clients, _fed
from hypernet.recipes.federated import flower
fed = _fed()
flower.run_simulation(fed, _clients(), rounds=2)
save_file({{k: v.contiguous() for k, v in fed.model.state_dict().items()}}, {out!r}, metadata={{"round": str(fed.round)}})
"""


def test_real_flower_simulation_equals_in_process_run(tmp_path: Path) -> None:
    """3 clients, 2 rounds in Flower's Ray simulation engine: the same server state as in process (1e-6).

    Run in a child process: Ray leaves threads, files and processes behind that would trip
    pytest's warnings-as-errors in later tests.
    """
    from safetensors import safe_open

    out = tmp_path / "sim.safetensors"
    env = {**os.environ, "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0", "PYTHONWARNINGS": "ignore"}
    script = SIMULATION.format(tests=str(Path(__file__).parent), out=str(out))
    # a guard against hangs only: Ray's start-up alone took 4-5 min on a 2-core machine busy with other jobs
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    clients = _clients()
    local = _fed()
    while local.round < 2:
        local.server_round(local.sample_clients([0, 1, 2]), local.local_exchange(clients))
    with safe_open(str(out), "pt") as f:
        assert f.metadata()["round"] == "2"
        sim = {k: f.get_tensor(k) for k in f.keys()}
    state = local.model.state_dict()
    assert set(sim) == set(state)
    for name, value in state.items():
        torch.testing.assert_close(sim[name], value, rtol=0, atol=1e-6, msg=name)
    assert not torch.equal(sim["condition.table"], _fed().model.condition.table), "training changed nothing"
