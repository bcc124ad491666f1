"""Run a :class:`FederatedHypernet` on Flower: a ``ServerApp`` / ``ClientApp`` pair from the same two functions.

Needs the optional extra ``pip install 'hypernet[federated]'`` (``flwr[simulation]==1.42.*``).
The server app runs :meth:`FederatedHypernet.server_round` with an exchange that sends Flower
messages; the client app answers them with :meth:`FederatedHypernet.handle` on the node's own
data. Message contents: weight dicts, deltas, a descriptor vector and gradients as
``ArrayRecord`` s, scalars (task, seed, loss, sample count) in a ``ConfigRecord``.

A node says which client it is once, at the start (reply to ``query.hello``: its client id,
from ``node_config["partition-id"]`` unless ``client_id`` says otherwise).

Example (a 2-node simulation; takes a few seconds to start Ray)::

    fed = hn.FederatedHypernet(target, num_clients=2)
    run_simulation(fed, clients, rounds=2)   # fed holds the trained server state afterwards
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ...errors import HypernetError
from ._partition import ClientData
from .federated_hypernet import ClientSource, FederatedHypernet, Message

TENSOR = "__tensor__"
MESSAGE_TYPES = {"hello": "query.hello", "embed": "query.embed", "train": "train", "encoder_grad": "train.encoder_grad"}


def encode(message: Message) -> Any:
    """A message dict as a Flower ``RecordDict``: tensor dicts and tensors as ``ArrayRecord``, the rest in ``ConfigRecord`` "config"."""
    from flwr.app import ArrayRecord, ConfigRecord, RecordDict

    records: dict[str, Any] = {}
    config: dict[str, Any] = {}
    for key, value in message.items():
        if isinstance(value, torch.Tensor):
            records[key] = ArrayRecord(torch_state_dict={TENSOR: value.detach().contiguous()})
        elif isinstance(value, dict):
            records[key] = ArrayRecord(torch_state_dict={k: v.detach().contiguous() for k, v in value.items()})
        else:
            config[key] = value
    records["config"] = ConfigRecord(config)
    return RecordDict(records)


def decode(content: Any) -> Message:
    """The message dict back from a ``RecordDict`` made by :func:`encode`."""
    out: Message = dict(content.config_records.get("config", {}))
    for key, record in content.array_records.items():
        state = record.to_torch_state_dict()
        out[key] = state[TENSOR] if list(state) == [TENSOR] else dict(state)
    return out


Factory = FederatedHypernet | Callable[[Any], FederatedHypernet]


def _build(fed: Factory, context: Any, cache: dict[str, FederatedHypernet]) -> FederatedHypernet:
    if isinstance(fed, FederatedHypernet):
        return fed
    if "fed" not in cache:
        cache["fed"] = fed(context)
    return cache["fed"]


def client_app(fed: Factory, load_data: Callable[..., ClientSource], client_id: Callable[[Any], int] | None = None) -> Any:
    """A Flower ``ClientApp`` answering the server's messages with ``fed.handle`` on ``load_data(client_id)``.

    Args:
        fed: a FederatedHypernet built with the server's settings (its target and hyperparameters are used,
            its hypernetwork is not), or a function of the Flower ``Context`` that builds one.
        load_data: the node's data, from its client id (read locally: data never leaves the node); called
            with the ``Context`` too if it takes two arguments.
        client_id: the client id from the Flower ``Context``; default ``node_config["partition-id"]``.
    """
    from flwr.app import Context
    from flwr.app import Message as FlowerMessage
    from flwr.clientapp import ClientApp

    app = ClientApp()
    cache: dict[str, FederatedHypernet] = {}
    import inspect

    two = len(inspect.signature(load_data).parameters) >= 2

    def who(context: Context) -> int:
        return int(client_id(context) if client_id is not None else context.node_config["partition-id"])

    @app.query("hello")
    def hello(msg: FlowerMessage, context: Context) -> FlowerMessage:
        return FlowerMessage(encode({"client": who(context)}), reply_to=msg)

    def answer(msg: FlowerMessage, context: Context) -> FlowerMessage:
        cid = who(context)
        data = load_data(cid, context) if two else load_data(cid)
        return FlowerMessage(encode(_build(fed, context, cache).handle(decode(msg.content), data)), reply_to=msg)

    app.train()(answer)
    app.query("embed")(answer)
    app.train("encoder_grad")(answer)
    return app


def flower_exchange(grid: Any, node_of: dict[int, int], timeout: float | None = None) -> Callable[[dict[int, Message]], dict[int, Message]]:
    """An exchange over a Flower ``Grid``: client ``c``'s message goes to node ``node_of[c]``."""
    from flwr.app import Message as FlowerMessage

    client_of = {n: c for c, n in node_of.items()}

    def exchange(messages: dict[int, Message]) -> dict[int, Message]:
        missing = sorted(set(messages) - set(node_of))
        if missing:
            raise HypernetError(
                f"expected a Flower node for every client of the round, got none for clients {missing}; start more SuperNodes"
            )
        out = [FlowerMessage(encode(m), dst_node_id=node_of[c], message_type=MESSAGE_TYPES[m["task"]]) for c, m in messages.items()]
        replies: dict[int, Message] = {}
        for reply in grid.send_and_receive(out, timeout=timeout):
            if reply.has_error():
                raise HypernetError(
                    f"expected a reply from the Flower client on node {reply.metadata.src_node_id}, got its error: {reply.error.reason}; "
                    "check that client's output and restart it"
                )
            replies[client_of[reply.metadata.src_node_id]] = decode(reply.content)
        if set(replies) != set(messages):
            raise HypernetError(
                f"expected replies from clients {sorted(messages)}, got {sorted(replies)} (timeout?); "
                "check that every client is running, or pass a longer timeout="
            )
        return replies

    return exchange


def discover_clients(grid: Any, timeout: float | None = None, min_nodes: int = 1) -> dict[int, int]:
    """Ask every connected node for its client id; returns ``{client_id: node_id}``."""
    import time

    from flwr.app import Message as FlowerMessage

    nodes = list(grid.get_node_ids())
    while len(nodes) < min_nodes:  # deployment: SuperNodes may still be connecting
        time.sleep(1.0)
        nodes = list(grid.get_node_ids())
    msgs = [FlowerMessage(encode({"task": "hello"}), dst_node_id=n, message_type=MESSAGE_TYPES["hello"]) for n in nodes]
    found: dict[int, int] = {}
    for reply in grid.send_and_receive(msgs, timeout=timeout):
        if reply.has_error():
            raise HypernetError(
                f"expected a reply from the Flower client on node {reply.metadata.src_node_id}, got its error: {reply.error.reason}; "
                "check that client's output and restart it"
            )
        found[int(decode(reply.content)["client"])] = reply.metadata.src_node_id
    return found


def server_app(
    fed: Factory,
    rounds: int | None = None,
    *,
    train_clients: Sequence[int] | None = None,
    min_nodes: int = 1,
    timeout: float | None = None,
    checkpoint_dir: str | Path | None = None,
    on_round: Callable[[dict[str, float]], None] | None = None,
) -> Any:
    """A Flower ``ServerApp`` running ``fed.server_round`` until ``fed.round == rounds``.

    ``fed`` may be a function of the Flower ``Context`` (to read ``run_config``); ``rounds``
    defaults to ``run_config["rounds"]``.

    Clients are sampled as in :meth:`FederatedHypernet.fit` (seeded by seed and round) from
    ``train_clients`` (default: every client that answered). With ``checkpoint_dir`` the server
    resumes from its newest checkpoint there and writes one after every round.
    """
    from flwr.app import Context
    from flwr.serverapp import Grid, ServerApp

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        server = _build(fed, context, {})
        total = int(rounds if rounds is not None else context.run_config["rounds"])
        if checkpoint_dir is not None:
            server.resume(checkpoint_dir)
        node_of = discover_clients(grid, timeout, min_nodes)
        pool = sorted(node_of) if train_clients is None else list(train_clients)
        exchange = flower_exchange(grid, node_of, timeout)
        while server.round < total:
            stats = server.server_round(server.sample_clients(pool), exchange)
            if checkpoint_dir is not None:
                server.save(checkpoint_dir)
            if on_round is not None:
                on_round({"round": float(server.round), **stats})

    return app


def run_simulation(
    fed: FederatedHypernet,
    clients: Sequence[ClientData],
    rounds: int,
    *,
    client_fed: FederatedHypernet | None = None,
    train_clients: Sequence[int] | None = None,
    backend_config: dict[str, Any] | None = None,
) -> None:
    """Run ``rounds`` rounds in Flower's simulation engine (Ray), one virtual SuperNode per client; ``fed`` is trained in place.

    ``client_fed`` (default ``fed``) is the copy the ClientApps use.
    """
    from flwr.simulation import run_simulation as flwr_run_simulation

    data = list(clients)
    server = server_app(fed, rounds, train_clients=train_clients, min_nodes=len(data))
    client = client_app(client_fed or fed, lambda cid: data[cid])
    config = backend_config or {"client_resources": {"num_cpus": 1, "num_gpus": 0.0}, "init_args": {"num_cpus": 1}}
    flwr_run_simulation(server_app=server, client_app=client, num_supernodes=len(data), backend_config=config)
