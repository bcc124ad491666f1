"""``hn.FederatedHypernet``: personalised federated learning with a server-side hypernetwork (pFedHN, PeFLL).

The server holds a :class:`~hypernet.HyperModel` over the clients' model. For client ``i`` it
generates weights ``theta_i`` from a condition, sends them, the client runs a few local
SGD steps and sends back only ``delta_i = theta_i_trained - theta_i``. By the chain rule the
hypernetwork's gradient is ``-J_i^T delta_i`` (``J_i`` the Jacobian of ``theta_i`` in the
hypernetwork's parameters): the server applies it with its optimizer.

* ``embedding="learned"`` (pFedHN, Shamsian et al. 2021): the condition is an
  :class:`~hypernet.Embedding`, one learned vector per client id.
* ``embedding="data"`` (PeFLL, Scott et al. 2023): the condition is a
  :class:`~hypernet.SetEncoder` over a sample of the client's data. The encoder's weights go
  to the client, which returns only the descriptor vector; after local training the server
  returns the descriptor's gradient and the client returns the encoder's gradient. A new
  client gets its model from its data without any training.

A round is :meth:`FederatedHypernet.server_round`; the client side is
:meth:`FederatedHypernet.client_update` (and :meth:`FederatedHypernet.handle`, which
dispatches any server message). ``server_round`` talks to clients through an *exchange*: a
function from ``{client_id: message}`` to ``{client_id: reply}``. :meth:`fit` uses an
in-process exchange; :mod:`hypernet.recipes.federated.flower` uses Flower's.

Example:
    >>> import torch, hypernet as hn
    >>> from torch import nn
    >>> x, y = torch.randn(240, 6), torch.arange(240) % 4
    >>> clients = hn.recipes.federated.pathological_partition(x, y, x[:80], y[:80], num_clients=4, classes_per_client=2)
    >>> fed = hn.FederatedHypernet(nn.Linear(6, 4), num_clients=4, inner_steps=2, seed=0)
    >>> history = fed.fit(clients, rounds=3, eval_every=3)
    >>> fed.round, sorted(history.rounds[-1])
    (3, ['bytes', 'round', 'test_acc', 'val_acc'])
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ..._boundary import guarded, guarded_function
from ..._model import HyperModel
from ..._validation import check_bool
from ...conditions import Embedding, SetEncoder
from ...errors import ConfigError, describe
from ...training.loop import check_finite_gradients
from ._batched import ClientPool, batched_local_sgd, has_buffers
from ._client import check_client_data, embed_subset, local_sgd
from ._inputs import FIX, as_client, as_clients, nonnegative_float, positive_int
from ._partition import ClientData

Message = dict[str, Any]
Exchange = Callable[[dict[int, Message]], dict[int, Message]]
ClientSource = ClientData | tuple[torch.Tensor, torch.Tensor]
EMBEDDINGS = ("learned", "data")


@guarded_function
def tensor_bytes(obj: Any) -> int:
    """Bytes of every tensor in a (nested) message: what travels over the wire, metadata aside."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, Mapping):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0


def _xy(data: ClientSource, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(data, (tuple, list)) and len(data) == 2 and split == "train":
        return data[0], data[1]
    if not isinstance(data, ClientData):
        try:
            data = as_client(data, 0)
        except ConfigError:
            raise ConfigError(
                f"expected a client's data as a ClientData or its training tensors (x_train, y_train), got {describe(data)}; {FIX}"
            ) from None
    return {"train": (data.x_train, data.y_train), "val": (data.x_val, data.y_val), "test": (data.x_test, data.y_test)}[split]


@dataclass
class History:
    """What :meth:`FederatedHypernet.fit` returns.

    Attributes:
        rounds: one row per evaluation: ``round``, ``val_acc``, ``test_acc`` (means over clients of
            each client's accuracy) and ``bytes`` (mean bytes exchanged per participating client
            in the rounds since the previous row, both directions).
        best: the row with the best validation accuracy (pFedHN reports test accuracy there).
    """

    rounds: list[dict[str, float]] = field(default_factory=list)

    @property
    def best(self) -> dict[str, float]:
        """The first row with the highest ``val_acc``; the last row if no client had validation data."""
        if not self.rounds:
            raise ConfigError("expected at least one evaluation in the history, got none; fit with eval_every <= rounds")
        scored = [r for r in self.rounds if not np.isnan(r["val_acc"])]
        return max(scored, key=lambda r: (r["val_acc"], -r["round"])) if scored else self.rounds[-1]


@guarded(mutating=("fit", "resume"))
class FederatedHypernet:
    """A server-side hypernetwork that generates each client's model.

    Args:
        target: the clients' model (any ``nn.Module`` classifier); all its parameters are generated.
        num_clients: clients known to the server (ids ``0 .. num_clients-1``); with ``embedding="data"``
            it only bounds the ids used in a round.
        embedding: ``"learned"`` (pFedHN) or ``"data"`` (PeFLL).
        embedding_dim: condition size; default ``1 + num_clients // 4`` (pFedHN's choice).
        x_dim, n_classes: ``"data"`` only: flattened input size and number of classes for the set encoder.
        generator, generator_kwargs, init, parametrization: the :class:`~hypernet.HyperModel`'s (default: an MLP
            with three hidden layers of 100, as pFedHN; ``"residual"`` adds a shared trainable base to every client's weights).
        inner_steps, inner_lr, inner_momentum, inner_weight_decay, batch_size, inner_grad_clip: the
            clients' local SGD (pFedHN: 50 steps, lr 5e-3, momentum 0.9, weight decay 5e-5, batch 64, clip 50).
        optimizer, lr, momentum, weight_decay, grad_clip: the server's optimizer of the hypernetwork
            (pFedHN: SGD, lr 1e-2, momentum 0.9, weight decay 1e-3, clip 50; PeFLL: Adam, lr 2e-4).
        clients_per_round: clients sampled per round (pFedHN 1, PeFLL 5).
        embed_samples: ``"data"`` only: client samples the encoder reads.
        seed: seeds the hypernetwork's initialisation, client sampling and the clients' batches.
    """

    def __init__(
        self,
        target: nn.Module,
        num_clients: int,
        embedding: Literal["learned", "data"] = "learned",
        *,
        embedding_dim: int | None = None,
        x_dim: int | None = None,
        n_classes: int | None = None,
        generator: str = "mlp",
        generator_kwargs: dict[str, Any] | None = None,
        init: str = "hyperfan",
        parametrization: Literal["direct", "residual"] | None = None,
        inner_steps: int = 50,
        inner_lr: float = 5e-3,
        inner_momentum: float = 0.9,
        inner_weight_decay: float = 5e-5,
        inner_grad_clip: float | None = 50.0,
        batch_size: int = 64,
        optimizer: Literal["sgd", "adam"] = "sgd",
        lr: float = 1e-2,
        momentum: float = 0.9,
        weight_decay: float = 1e-3,
        grad_clip: float | None = 50.0,
        clients_per_round: int = 1,
        embed_samples: int = 128,
        seed: int = 0,
    ) -> None:
        if not isinstance(target, nn.Module):
            raise ConfigError(f"expected target to be an nn.Module, got {describe(target)}; pass an nn.Module")
        for name, value in (("num_clients", num_clients), ("batch_size", batch_size), ("clients_per_round", clients_per_round)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"expected {name} to be a positive int, got {value!r}; pass a positive int")
        if isinstance(inner_steps, bool) or not isinstance(inner_steps, int) or inner_steps < 0:
            raise ConfigError(f"expected inner_steps to be an int >= 0, got {inner_steps!r}; pass an int >= 0")
        if embedding not in EMBEDDINGS:
            raise ConfigError(f"expected embedding in {EMBEDDINGS} ('learned': pFedHN, 'data': PeFLL), got {embedding!r}; pass one of them")
        if optimizer not in ("sgd", "adam"):
            raise ConfigError(f"expected optimizer 'sgd' or 'adam', got {optimizer!r}; pass one of them")
        for name, rate in (("inner_lr", inner_lr), ("inner_momentum", inner_momentum), ("inner_weight_decay", inner_weight_decay),
                            ("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):  # fmt: skip
            nonnegative_float(name, rate)
        for name, clip in (("inner_grad_clip", inner_grad_clip), ("grad_clip", grad_clip)):
            if clip is not None and not nonnegative_float(name, clip) > 0:
                raise ConfigError(f"expected {name} > 0 or None (no clipping), got {clip!r}; pass a positive number or None")
        positive_int("embed_samples", embed_samples)
        if embedding_dim is not None:
            positive_int("embedding_dim", embedding_dim, hint="or None for 1 + num_clients // 4")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"expected seed to be an int, got {describe(seed)}; pass an int")
        if generator_kwargs is not None and not isinstance(generator_kwargs, Mapping):
            raise ConfigError(
                f"expected generator_kwargs to be a dict of the generator's arguments or None, got {describe(generator_kwargs)}; "
                f"pass e.g. {{'hidden': (100,)}}"
            )
        if clients_per_round > num_clients:
            raise ConfigError(
                f"expected clients_per_round <= num_clients ({num_clients}), got {clients_per_round}; lower clients_per_round"
            )
        dim = embedding_dim if embedding_dim is not None else 1 + num_clients // 4
        self.num_clients = num_clients
        self.embedding = embedding
        self.inner: dict[str, Any] = {
            "steps": inner_steps,
            "lr": float(inner_lr),
            "momentum": float(inner_momentum),
            "weight_decay": float(inner_weight_decay),
            "batch_size": batch_size,
            "grad_clip": inner_grad_clip,
        }
        self.grad_clip = grad_clip
        self.clients_per_round = clients_per_round
        self.embed_samples = embed_samples
        self.seed = seed
        self.round = 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if embedding == "data":
                if x_dim is None or n_classes is None:
                    raise ConfigError(
                        f"expected x_dim and n_classes with embedding='data' (the set encoder reads flattened inputs and labels), "
                        f"got x_dim={x_dim!r}, n_classes={n_classes!r}; pass both"
                    )
                condition: Embedding | SetEncoder = SetEncoder(x_dim=x_dim, n_classes=n_classes, dim=dim)
            else:
                condition = Embedding(num=num_clients, dim=dim)
            kwargs = {"hidden": (100, 100, 100)} if generator == "mlp" and generator_kwargs is None else generator_kwargs
            self.model = HyperModel(
                target, condition=condition, generator=generator, generator_kwargs=kwargs, init=init, parametrization=parametrization
            )
        self._template = copy.deepcopy(target)  # the clients' copy of the architecture
        params = [p for p in self.model.parameters() if p.requires_grad]
        if optimizer == "sgd":
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
        else:
            self.optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)

    # ------------------------------------------------------------------ server side
    @property
    def names(self) -> tuple[str, ...]:
        """Names of the client model's parameters (all generated)."""
        return self.model.spec.names

    def _check_ids(self, clients: Sequence[int]) -> list[int]:
        if isinstance(clients, (str, bytes)) or not isinstance(clients, (Sequence, torch.Tensor, np.ndarray)):
            raise ConfigError(f"expected a sequence of client ids (ints), got {describe(clients)}; pass a sequence of client ids (ints)")
        bad_type = [c for c in clients if isinstance(c, bool) or not isinstance(c, (int, np.integer, torch.Tensor))]
        if bad_type:
            raise ConfigError(f"expected client ids as ints, got {describe(bad_type[0])}; pass ids in [0, {self.num_clients})")
        ids = [int(c) for c in clients]
        if not ids:
            raise ConfigError("expected at least one client id in the round, got none; pass at least one client id in the round")
        bad = [c for c in ids if not 0 <= c < self.num_clients]
        if bad:
            raise ConfigError(
                f"expected client ids in [0, {self.num_clients}), got {bad[0]}; "
                f"build FederatedHypernet(num_clients={max(ids) + 1}, ...) for more clients"
            )
        if len(set(ids)) != len(ids):
            raise ConfigError(f"expected distinct client ids in a round, got {ids}; pass distinct client ids in a round")
        return ids

    def _from_embedding(self, emb: torch.Tensor) -> dict[str, torch.Tensor]:
        m = self.model
        flat = torch.addcmul(m.base, m.generator(emb), m.scale)[:, : m.spec.numel]
        return {k: v[0] for k, v in m.spec.unflatten(flat).items()}

    def generated(self, client: int) -> dict[str, torch.Tensor]:
        """``embedding="learned"``: the weights the server generates for client id ``client`` (in the autograd graph)."""
        if self.embedding != "learned":
            raise ConfigError(
                f"expected embedding='learned' for weights by client id, got embedding={self.embedding!r}; use personalize(data) instead"
            )
        (cid,) = self._check_ids([client])
        return {k: v[0] for k, v in self.model.spec.unflatten(self.model.flat_weights(cid)).items()}

    def _generated_many(self, ids: list[int]) -> dict[int, dict[str, torch.Tensor]]:
        """Weights of several client ids from one generator call (rows in the autograd graph)."""
        m = self.model
        emb = m.condition(torch.tensor(ids, device=m.scale.device))
        flat = torch.addcmul(m.base, m._raw(emb), m.scale)[:, : m.spec.numel]
        sets = m.spec.unflatten(flat)
        return {c: {k: v[j] for k, v in sets.items()} for j, c in enumerate(ids)}

    def _encoder_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.condition.named_parameters()}

    def _client_seed(self, client: int) -> int:
        return int(np.random.default_rng([self.seed, self.round, client]).integers(2**31 - 1))

    def sample_clients(self, pool: Sequence[int] | None = None) -> list[int]:
        """The clients of the current round: ``clients_per_round`` ids drawn from ``pool``, seeded by (seed, round)."""
        pool = list(range(self.num_clients)) if pool is None else self._check_ids(pool)
        if len(pool) < self.clients_per_round:
            raise ConfigError(
                f"expected at least clients_per_round={self.clients_per_round} clients to sample from, got {len(pool)}; "
                "pass a larger pool or lower clients_per_round"
            )
        rng = np.random.default_rng([self.seed, self.round, 7919])
        return sorted(int(c) for c in rng.choice(pool, size=self.clients_per_round, replace=False))

    def server_round(self, clients: Sequence[int], exchange: Exchange) -> dict[str, float]:
        """One round with ``clients``: generate, exchange, and step the hypernetwork with the chain-rule gradient.

        Args:
            clients: client ids taking part.
            exchange: sends ``{client_id: message}`` and returns ``{client_id: reply}`` (in-process,
                or over Flower). Messages hold only weights, deltas, descriptor vectors and gradients.

        Returns:
            ``loss`` (mean local training loss) and ``bytes`` (tensor bytes exchanged per client).
        """
        ids = self._check_ids(clients)
        if not callable(exchange):
            raise ConfigError(
                f"expected exchange to be a function {{client_id: message}} -> {{client_id: reply}}, got {describe(exchange)}; "
                "use fed.local_exchange(clients) or flower.flower_exchange(...)"
            )
        k = len(ids)
        bytes_total = 0
        self.optimizer.zero_grad(set_to_none=True)
        seeds = {c: self._client_seed(c) for c in ids}
        if self.embedding == "data":
            encoder = self._encoder_state()
            ask = {c: {"task": "embed", "encoder": encoder, "seed": seeds[c]} for c in ids}
            got = exchange(ask)
            bytes_total += tensor_bytes(ask) + tensor_bytes(got)
            embs = {c: torch.as_tensor(got[c]["embedding"]).detach().reshape(1, -1).requires_grad_(True) for c in ids}
            weights = {c: self._from_embedding(embs[c]) for c in ids}
        else:
            weights = self._generated_many(ids)
        train = {c: {"task": "train", "weights": {n: w.detach().clone() for n, w in weights[c].items()}, "seed": seeds[c]} for c in ids}
        replies = exchange(train)
        bytes_total += tensor_bytes(train) + tensor_bytes(replies)
        for c in ids:
            if not isinstance(replies.get(c), Mapping) or not isinstance(replies[c].get("delta"), Mapping):
                what = describe(replies.get(c))
                raise ConfigError(
                    f"expected the exchange to reply {{'delta': {{name: tensor}}, ...}} for client {c}, got {what}; "
                    "reply with the message FederatedHypernet.handle returns"
                )
        # one backward for all clients: the hypernetwork's gradient is the mean of the clients' -J^T delta (pFedHN)
        outputs = [weights[c][n] for c in ids for n in self.names]
        torch.autograd.backward(outputs, [-torch.as_tensor(replies[c]["delta"][n]) / k for c in ids for n in self.names])
        if self.embedding == "data":
            grads = {c: {"task": "encoder_grad", "encoder": encoder, "grad": _grad_of(embs[c]), "seed": seeds[c]} for c in ids}
            back = exchange(grads)
            bytes_total += tensor_bytes(grads) + tensor_bytes(back)
            for name, p in self.model.condition.named_parameters():
                p.grad = sum((torch.as_tensor(back[c]["encoder_grad"][name]) for c in ids), torch.zeros_like(p))
        check_finite_gradients(  # a diverged client's NaN delta would otherwise poison the hypernetwork
            [p for p in self.model.parameters() if p.requires_grad],
            f"round {self.round + 1} (clients {list(ids)})",
            "lower the clients' inner_lr or the server lr, or set grad_clip",
            clip=self.grad_clip,
        )
        self.optimizer.step()
        self.round += 1
        return {"loss": float(np.mean([float(replies[c]["loss"]) for c in ids])), "bytes": bytes_total / k}

    # ------------------------------------------------------------------ client side
    def client_update(self, weights: Mapping[str, torch.Tensor], data: ClientSource, *, seed: int = 0) -> Message:
        """Client side of a round: local SGD from ``weights`` on the client's training data.

        Returns ``{"delta": {name: trained - received}, "loss": mean local loss, "num_examples": n}``;
        nothing else leaves the client.
        """
        x, y = _xy(data)
        check_client_data(x, y)
        self._check_weights(weights)
        net, loss = local_sgd(self._template, weights, x, y, seed=seed, **self.inner)
        trained = dict(net.named_parameters())
        delta = {n: (trained[n].detach() - weights[n]).clone() for n in self.names}
        return {"delta": delta, "loss": loss, "num_examples": int(y.shape[0])}

    def _check_weights(self, weights: Any, who: str = "") -> None:
        if not isinstance(weights, Mapping):
            raise ConfigError(
                f"expected {who}weights as a mapping {{parameter name: tensor}}, got {describe(weights)}; "
                f"pass a mapping {{parameter name: tensor}}"
            )
        missing = set(self.names) - set(weights)
        if missing:
            raise ConfigError(
                f"expected {who}weights for every parameter of the client model, got none for {sorted(missing)}; "
                "pass the weights generated(client) returns"
            )
        for n in self.names:
            want = tuple(self._template.get_parameter(n).shape)
            got = weights[n]
            if not isinstance(got, torch.Tensor) or tuple(got.shape) != want:
                raise ConfigError(
                    f"expected {who}weights[{n!r}] as a tensor of shape {want}, got {describe(got)}; pass a tensor of shape {want}"
                )

    def client_updates(
        self, weights: Mapping[int, Mapping[str, torch.Tensor]], data: Mapping[int, ClientSource], *, seeds: Mapping[int, int]
    ) -> dict[int, Message]:
        """The clients' side of a round for several clients at once: their local SGD as one batched computation.

        ``weights[c]`` are the weights sent to client ``c``; ``data[c]`` its data; ``seeds[c]`` its
        batch seed. Every step runs all clients' forward and backward passes as one ``torch.func.vmap``
        over clients (each on its own mini-batch) and one SGD update of the stacked weights. The replies
        equal ``client_update(weights[c], data[c], seed=seeds[c])`` for each ``c`` (to float rounding).
        A client model with buffers (BatchNorm) is trained client by client instead.
        """
        if not isinstance(weights, Mapping) or not isinstance(data, Mapping) or not isinstance(seeds, Mapping):
            got = f"{describe(weights)}, {describe(data)}, {describe(seeds)}"
            raise ConfigError(f"expected mappings {{client_id: ...}} for weights, data and seeds, got {got}; pass dicts keyed by client id")
        ids = list(weights)
        if set(data) != set(ids) or set(seeds) != set(ids):
            got = f"{sorted(weights)}, {sorted(data)}, {sorted(seeds)}"
            raise ConfigError(f"expected weights, data and seeds for the same client ids, got {got}; pass one entry per client id in each")
        xy = {}
        for c in ids:
            xy[c] = _xy(data[c])
            check_client_data(*xy[c], f"client {c}")
            self._check_weights(weights[c], f"client {c}'s ")
        if has_buffers(self._template) or not ids:
            return {c: self.client_update(weights[c], data[c], seed=int(seeds[c])) for c in ids}
        stacked = {n: torch.stack([weights[c][n].detach() for c in ids]) for n in self.names}
        pool = ClientPool([xy[c] for c in ids])
        trained, losses, _ = batched_local_sgd(
            self._template, stacked, pool, list(range(len(ids))), seeds=[int(seeds[c]) for c in ids], **self.inner
        )
        return {
            c: {
                "delta": {n: trained[n][j] - stacked[n][j] for n in self.names},
                "loss": float(losses[j]),
                "num_examples": int(xy[c][1].shape[0]),
            }
            for j, c in enumerate(ids)
        }

    def _client_encoder(self, state: Mapping[str, torch.Tensor]) -> Any:
        enc = copy.deepcopy(self.model.condition)
        with torch.no_grad():
            for name, p in enc.named_parameters():
                p.copy_(state[name])
        return enc

    def client_embed(self, encoder: Mapping[str, torch.Tensor], data: ClientSource, *, seed: int | None = None) -> torch.Tensor:
        """PeFLL, client side: the descriptor vector of the client's data under the received encoder."""
        x, y = _xy(data)
        check_client_data(x, y)
        enc = self._client_encoder(encoder)
        X, Y = embed_subset(x, y, self.embed_samples, seed)
        with torch.no_grad():
            return enc(enc.split((X, Y)).values)[0].detach()

    def client_encoder_grad(
        self, encoder: Mapping[str, torch.Tensor], grad: torch.Tensor, data: ClientSource, *, seed: int | None = None
    ) -> dict[str, torch.Tensor]:
        """PeFLL, client side: the encoder's gradient, given the server's gradient of the descriptor vector."""
        x, y = _xy(data)
        check_client_data(x, y)
        enc = self._client_encoder(encoder)
        X, Y = embed_subset(x, y, self.embed_samples, seed)
        v = enc(enc.split((X, Y)).values)[0]
        names, params = zip(*enc.named_parameters(), strict=True)
        grads = torch.autograd.grad(v, params, grad_outputs=grad.reshape(v.shape), allow_unused=True)
        return {n: (g if g is not None else torch.zeros_like(p)).detach() for n, p, g in zip(names, params, grads, strict=True)}

    def handle(self, message: Message, data: ClientSource) -> Message:
        """Answer any server message (``task`` = ``"train"``, ``"embed"`` or ``"encoder_grad"``) on the client's data."""
        if not isinstance(message, Mapping):
            raise ConfigError(f"expected a message mapping with a 'task' key, got {describe(message)}; pass a message the server sent")
        task = message.get("task")
        seed = int(message.get("seed", 0))
        if task == "train":
            return self.client_update(message["weights"], data, seed=seed)
        if task == "embed":
            return {"embedding": self.client_embed(message["encoder"], data, seed=seed)}
        if task == "encoder_grad":
            return {"encoder_grad": self.client_encoder_grad(message["encoder"], message["grad"], data, seed=seed)}
        raise ConfigError(f"expected a message task 'train', 'embed' or 'encoder_grad', got {task!r}; pass one of them")

    def local_exchange(self, clients: Sequence[ClientSource] | Mapping[int, ClientSource], *, batched: bool = True) -> Exchange:
        """An in-process exchange: client ``i`` answers with :meth:`handle` on ``clients[i]``.

        With ``batched`` (default), the training messages of a round with several clients run as one
        batched computation (:meth:`client_updates`); ``batched=False`` trains them one by one.
        """
        if isinstance(clients, (str, bytes)) or not isinstance(clients, (Sequence, Mapping)):
            raise ConfigError(f"expected the clients' data as a sequence or a mapping by client id, got {describe(clients)}; {FIX}")
        check_bool(batched, "batched", owner="FederatedHypernet.local_exchange")

        def exchange(messages: dict[int, Message]) -> dict[int, Message]:
            for c in messages:
                if not (0 <= c < len(clients) if isinstance(clients, Sequence) else c in clients):
                    raise ConfigError(f"expected data for client {c} in the exchange's clients, got none; pass every client's data")
            train = [c for c, m in messages.items() if isinstance(m, Mapping) and m.get("task") == "train"]
            out: dict[int, Message] = {}
            if batched and len(train) > 1:
                out = self.client_updates(
                    {c: messages[c]["weights"] for c in train},
                    {c: clients[c] for c in train},
                    seeds={c: int(messages[c].get("seed", 0)) for c in train},
                )
            out.update({c: self.handle(m, clients[c]) for c, m in messages.items() if c not in out})
            return {c: out[c] for c in messages}

        return exchange

    # ------------------------------------------------------------------ training and evaluation
    def fit(
        self,
        clients: Sequence[ClientData | tuple[torch.Tensor, ...] | Mapping[str, torch.Tensor]],
        rounds: int,
        *,
        train_clients: Sequence[int] | None = None,
        eval_every: int | None = None,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int | None = None,
        keep_last: int = 3,
        callback: Callable[[dict[str, float]], None] | None = None,
        test: bool = True,
    ) -> History:
        """Train in process for ``rounds`` rounds (continuing from :attr:`round`), evaluating every ``eval_every``.

        Args:
            clients: the clients' data, indexed by client id: each a :class:`ClientData`, a tuple
                ``(x_train, y_train, x_test, y_test)`` / ``(x_train, y_train, x_val, y_val, x_test, y_test)``
                or a mapping with those keys (see :meth:`ClientData.from_arrays`).
            rounds: rounds to run in total (a resumed server continues up to this number).
            train_clients: ids that take part in training (default all); the others are held out.
            eval_every: rounds between evaluations of the training clients (validation and test);
                default ``rounds``. One evaluation always follows the last round.
            checkpoint_dir: write the server state there (see :meth:`save`) every
                ``checkpoint_every`` rounds and at the end.
            callback: called with each evaluation row.
            test: also score the test split at every evaluation; with ``False`` rows hold ``test_acc = nan``
                (pFedHN's protocol tests once, at the best validation round: snapshot the model in ``callback``).
        """
        clients = as_clients(clients)
        if len(clients) > self.num_clients:
            raise ConfigError(
                f"expected at most num_clients={self.num_clients} clients, got {len(clients)}; "
                f"pass at most num_clients={self.num_clients} clients"
            )
        for i, c in enumerate(clients):
            check_client_data(c.x_train, c.y_train, f"client {i}")
        positive_int("rounds", rounds, hint="the total number of server rounds to reach")
        for name, value in (("eval_every", eval_every), ("checkpoint_every", checkpoint_every)):
            if value is not None:
                positive_int(name, value, hint="or None")
        positive_int("keep_last", keep_last)
        check_bool(test, "test", owner="FederatedHypernet.fit")
        if callback is not None and not callable(callback):
            raise ConfigError(
                f"expected callback to be a function of the evaluation row, got {describe(callback)}; pass a function of the evaluation row"
            )
        if checkpoint_dir is not None and not isinstance(checkpoint_dir, (str, Path)):
            raise ConfigError(f"expected checkpoint_dir as a str or Path, got {describe(checkpoint_dir)}; pass a str or Path")
        pool = list(range(len(clients))) if train_clients is None else self._check_ids(train_clients)
        if max(pool) >= len(clients):
            raise ConfigError(
                f"expected train_clients below the {len(clients)} clients given, got {max(pool)}; pass ids of the given clients"
            )
        if len(pool) < self.clients_per_round:
            raise ConfigError(
                f"expected at least clients_per_round={self.clients_per_round} training clients, got {len(pool)}; "
                f"pass at least clients_per_round={self.clients_per_round} training clients"
            )
        eval_every = eval_every or max(rounds, 1)
        exchange = self.local_exchange(clients)
        history = History()
        sent, count = 0.0, 0
        while self.round < rounds:
            stats = self.server_round(self.sample_clients(pool), exchange)
            sent, count = sent + stats["bytes"], count + 1
            if self.round % eval_every == 0 or self.round == rounds:
                row = {
                    "round": float(self.round),
                    "val_acc": self.evaluate(clients, "val", pool),
                    "test_acc": self.evaluate(clients, "test", pool) if test else float("nan"),
                    "bytes": sent / max(count, 1),
                }
                history.rounds.append(row)
                sent, count = 0.0, 0
                if callback is not None:
                    callback(row)
            if checkpoint_dir is not None and ((checkpoint_every and self.round % checkpoint_every == 0) or self.round == rounds):
                self.save(checkpoint_dir, keep_last=keep_last)
        return history

    @torch.no_grad()
    def personalize(self, client: int | ClientSource, *, epochs: float = 0, data: ClientSource | None = None) -> nn.Module:
        """A plain model for one client: generated from its id (``"learned"``) or its data (``"data"``).

        Args:
            client: a client id (``"learned"``) or the client's data (``"data"``, the way to serve a new client).
            epochs: then fine-tune locally for this many epochs (SGD with the clients' settings).
            data: the client's data for fine-tuning with ``"learned"``.
        """
        nonnegative_float("epochs", epochs)
        if self.embedding == "learned":
            if isinstance(client, bool) or not isinstance(client, int):
                raise ConfigError(f"expected a client id with embedding='learned', got {describe(client)}; pass an int client id")
            weights = {k: v.detach() for k, v in self.generated(self._check_ids([client])[0]).items()}
            source = data
        else:
            if isinstance(client, int):
                raise ConfigError(
                    "expected the client's data with embedding='data' (PeFLL embeds data, not ids), got a client id; "
                    "pass data=ClientData(...) or (x, y)"
                )
            x, y = _xy(client)
            check_client_data(x, y)
            X, Y = embed_subset(x, y, self.embed_samples, None)
            cond = self.model.condition
            weights = self._from_embedding(cond(cond.split((X, Y)).values))
            source = client
        net = copy.deepcopy(self._template)
        for name, value in weights.items():
            net.get_parameter(name).copy_(value)
        for p in net.parameters():
            p.requires_grad_(True)
        if epochs > 0:
            if source is None:
                raise ConfigError(
                    "expected data= to fine-tune a client of embedding='learned', got none; pass data=(x, y) for a new client"
                )
            x, y = _xy(source)
            steps = int(np.ceil(epochs * y.shape[0] / self.inner["batch_size"]))
            with torch.enable_grad():
                net, _ = local_sgd(net, dict(net.named_parameters()), x, y, **{**self.inner, "steps": steps}, seed=self.seed)
        return net.eval()

    def evaluate(self, clients: Sequence[ClientData], split: Literal["val", "test"] = "test", ids: Sequence[int] | None = None) -> float:
        """Mean over clients of each client's accuracy on its own ``split`` (clients with no samples there are skipped)."""
        accs = self.client_accuracies(clients, split, ids)
        return float(np.mean(list(accs.values()))) if accs else float("nan")

    def client_accuracies(
        self, clients: Sequence[ClientData], split: Literal["val", "test"] = "test", ids: Sequence[int] | None = None
    ) -> dict[int, float]:
        """Each client's accuracy on its own ``split``, by id."""
        if split not in ("val", "test"):
            raise ConfigError(f"expected split 'val' or 'test', got {describe(split)}; pass one of them")
        clients = as_clients(clients)
        ids = None if ids is None else self._check_ids(ids)
        if ids is not None and max(ids) >= len(clients):
            raise ConfigError(f"expected ids below the {len(clients)} clients given, got {max(ids)}; pass ids of the given clients")
        out = {}
        for i in range(len(clients)) if ids is None else ids:
            x, y = _xy(clients[i], split)
            if y.numel() == 0:
                continue
            net = self.personalize(i) if self.embedding == "learned" else self.personalize(clients[i])
            out[int(i)] = accuracy(net, x, y)
        return out

    # ------------------------------------------------------------------ checkpoints
    def save(self, directory: str | Path, *, keep_last: int | None = 3) -> Path:
        """Checkpoint the server state (hypernetwork, optimizer, round) atomically with :mod:`hypernet.training.checkpoint`."""
        from ...training.checkpoint import save_checkpoint

        _check_dir(directory)
        return save_checkpoint(
            directory,
            step=self.round,
            model=self.model,
            optimizer=self.optimizer,
            extra={"round": self.round, "seed": self.seed, "embedding": self.embedding},
            keep_last=keep_last,
        )

    def resume(self, directory: str | Path) -> bool:
        """Load the newest loadable checkpoint in ``directory``; ``False`` if there is none.

        Client sampling and client batches depend only on (seed, round), so a resumed run
        continues exactly as an uninterrupted one.
        """
        from ...errors import CheckpointError
        from ...training.checkpoint import latest_checkpoint

        _check_dir(directory)
        ckpt = latest_checkpoint(directory)
        if ckpt is None:
            return False
        extra = ckpt.meta.get("extra", {})
        if extra.get("embedding") != self.embedding:
            raise CheckpointError(
                f"expected a checkpoint of embedding={self.embedding!r} (this server's), "
                f"got {ckpt.path} of embedding={extra.get('embedding')!r}; "
                "build the FederatedHypernet with the run's settings"
            )
        ckpt.restore(self.model, self.optimizer)
        self.round = int(extra["round"])
        return True


def _check_dir(directory: Any) -> None:
    if not isinstance(directory, (str, Path)):
        raise ConfigError(
            f"expected a checkpoint directory as a str or Path, got {describe(directory)}; pass a checkpoint directory as a str or Path"
        )


def _grad_of(t: torch.Tensor) -> torch.Tensor:
    return (t.grad if t.grad is not None else torch.zeros_like(t)).detach().reshape(-1)


@torch.no_grad()
@guarded_function
def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1024) -> float:
    """Fraction of ``x`` that ``net`` classifies as ``y`` (eval mode, batched)."""
    net.eval()
    correct = sum(int((net(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum()) for i in range(0, y.shape[0], batch))
    return correct / max(int(y.shape[0]), 1)
