"""hn.FederatedHypernet: the server's chain-rule update, what crosses the wire, training, checkpoints, errors."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import hypernet as hn
from hypernet.recipes.federated import ClientData, fedavg, local_only, pathological_partition, tensor_bytes
from hypernet.training import TrainingError


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    """Tiny models: one thread is much faster than two on a busy machine; restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _clients(n_clients: int = 4, n: int = 480, dim: int = 6, n_classes: int = 4, seed: int = 0) -> list[ClientData]:
    """Gaussian blobs, one per class: separable, so training can be checked to learn."""
    g = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(n_classes, dim, generator=g)
    y = torch.arange(n) % n_classes
    x = centres[y] + torch.randn(n, dim, generator=g)
    yt = torch.arange(n // 4) % n_classes
    xt = centres[yt] + torch.randn(n // 4, dim, generator=g)
    return pathological_partition(x, y, xt, yt, num_clients=n_clients, classes_per_client=2, seed=seed)


def _fed(embedding: str = "learned", **kw: Any) -> hn.FederatedHypernet:
    torch.manual_seed(123)  # the (unused) target weights: same in every server built here
    args: dict[str, Any] = {"inner_steps": 2, "seed": 0, "generator_kwargs": {"hidden": (16,)}}
    if embedding == "data":
        args.update(x_dim=6, n_classes=4, embedding_dim=5)
    args.update(kw)
    return hn.FederatedHypernet(nn.Linear(6, 4), num_clients=4, embedding=embedding, **args)  # type: ignore[arg-type]


def _hyper_params(fed: hn.FederatedHypernet) -> dict[str, torch.Tensor]:
    return {n: p for n, p in fed.model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("embedding", ["learned", "data"])
def test_server_update_equals_autograd_gradient(embedding: str) -> None:
    """One plain SGD step (lr a) on the full client batch gives delta = -a dL/dtheta, so the server's
    chain-rule gradient -J^T delta must equal a * dL/dphi computed by autograd through the hypernetwork."""
    clients = _clients()
    inner_lr = 0.1
    fed = _fed(
        embedding, inner_steps=1, inner_lr=inner_lr, inner_momentum=0.0, inner_weight_decay=0.0, inner_grad_clip=None,
        batch_size=10_000, grad_clip=None, lr=1.0, momentum=0.0, weight_decay=0.0, embed_samples=10_000,
    )  # fmt: skip
    ref = copy.deepcopy(fed)
    cid = 2
    x, y = clients[cid].x_train, clients[cid].y_train
    if embedding == "learned":
        weights = ref.generated(cid)
    else:
        cond = ref.model.condition
        weights = ref._from_embedding(cond(cond.split((x, y)).values))
    loss = nn.functional.cross_entropy(torch.func.functional_call(ref.model.target, weights, (x,)), y)
    params = _hyper_params(ref)
    expected = dict(zip(params, torch.autograd.grad(loss, list(params.values()), allow_unused=True), strict=True))

    fed.server_round([cid], fed.local_exchange(clients))
    got = _hyper_params(fed)
    assert set(got) == set(expected)
    checked = 0
    for name, p in got.items():
        want = expected[name]
        if want is None:  # e.g. other clients' embedding rows: untouched
            assert p.grad is None or not p.grad.abs().any(), name
            continue
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, inner_lr * want, rtol=1e-4, atol=1e-7)
        # and the server's SGD step (lr 1) applied exactly that gradient
        torch.testing.assert_close(p.detach(), params[name].detach() - p.grad, rtol=0, atol=1e-6)
        checked += 1
    assert checked >= (3 if embedding == "learned" else 6)


@pytest.mark.parametrize("embedding", ["learned", "data"])
def test_messages_hold_only_weights_deltas_and_gradients(embedding: str) -> None:
    clients = _clients()
    fed = _fed(embedding, clients_per_round=2)
    log: list[tuple[str, dict[str, Any]]] = []
    inner = fed.local_exchange(clients)

    def spy(messages: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
        replies = inner(messages)
        log.extend(("down", m) for m in messages.values())
        log.extend(("up", r) for r in replies.values())
        return replies

    stats = fed.server_round([0, 3], spy)
    target_shapes = {tuple(p.shape) for p in fed.model.target.parameters()}
    encoder_shapes = {tuple(p.shape) for p in fed.model.condition.parameters()}
    allowed_keys = {
        "down": {"task", "seed", "weights", "encoder", "grad"},
        "up": {"delta", "loss", "num_examples", "embedding", "encoder_grad"},
    }
    data_rows = torch.cat([c.x_train for c in clients] + [c.x_val for c in clients])
    for direction, msg in log:
        assert set(msg) <= allowed_keys[direction], (direction, sorted(msg))
        for key, value in msg.items():
            if key in ("weights", "delta"):
                assert {tuple(v.shape) for v in value.values()} <= target_shapes and set(value) == set(fed.names)
            elif key in ("encoder", "encoder_grad"):
                assert {tuple(v.shape) for v in value.values()} <= encoder_shapes
            elif key in ("embedding", "grad"):
                assert tuple(value.shape) == (5,)
            else:
                assert isinstance(value, (int, float, str)), (key, type(value))
            for t in value.values() if isinstance(value, dict) else [value]:
                if isinstance(t, torch.Tensor) and t.shape[-1:] == (6,):
                    assert not (t.reshape(-1, 6)[:, None, :] == data_rows[None]).all(-1).any(), "a data row crossed the boundary"
    n_exchanges = 3 if embedding == "data" else 1
    assert len(log) == 2 * 2 * n_exchanges
    weights_bytes = tensor_bytes(dict(fed.model.target.named_parameters()))
    if embedding == "learned":
        assert stats["bytes"] == 2 * weights_bytes  # weights down, delta up
    else:
        assert stats["bytes"] > 2 * weights_bytes


@pytest.mark.parametrize("embedding", ["learned", "data"])
def test_fit_learns_personal_models(embedding: str) -> None:
    clients = _clients()
    fed = _fed(embedding, inner_steps=5, inner_lr=0.05, clients_per_round=2, optimizer="adam", lr=3e-3)
    before = fed.evaluate(clients, "test")
    history = fed.fit(clients, rounds=40, eval_every=20)
    assert [r["round"] for r in history.rounds] == [20.0, 40.0]
    assert history.best["test_acc"] > 0.9 > before + 0.2


def test_new_client_from_data_and_finetuning() -> None:
    clients = _clients(n_clients=4)
    fed = _fed("data", inner_steps=5, inner_lr=0.05, clients_per_round=2, optimizer="adam", lr=3e-3)
    fed.fit(clients, rounds=30, train_clients=[0, 1, 2])
    new = clients[3]
    net = fed.personalize(new)
    assert isinstance(net, nn.Linear) and not net.training
    acc0 = hn.recipes.federated.accuracy(net, new.x_test, new.y_test)
    tuned = fed.personalize(new, epochs=1)
    acc1 = hn.recipes.federated.accuracy(tuned, new.x_test, new.y_test)
    assert acc1 >= acc0 - 0.05 and max(acc0, acc1) > 0.6
    with pytest.raises(hn.ConfigError, match="client's data"):
        fed.personalize(3)


def test_learned_personalize_by_id_matches_generated_weights() -> None:
    clients = _clients()
    fed = _fed()
    net = fed.personalize(1)
    x = clients[1].x_test
    torch.testing.assert_close(net(x), fed.model(x, 1))
    tuned = fed.personalize(1, epochs=1, data=clients[1])
    assert not torch.equal(tuned.weight, net.weight)
    with pytest.raises(hn.ConfigError, match="data= to fine-tune"):
        fed.personalize(1, epochs=1)


def test_checkpoint_resume_equals_uninterrupted_run(tmp_path: Path) -> None:
    clients = _clients()
    whole = _fed(clients_per_round=2)
    whole.fit(clients, rounds=6)
    first = _fed(clients_per_round=2)
    first.fit(clients, rounds=3, checkpoint_dir=tmp_path)
    second = _fed(clients_per_round=2)
    assert second.resume(tmp_path) and second.round == 3
    second.fit(clients, rounds=6)
    for (name, a), b in zip(whole.model.state_dict().items(), second.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert not _fed().resume(tmp_path / "nothing")
    with pytest.raises(hn.CheckpointError, match="embedding='learned'"):
        _fed("data").resume(tmp_path)


def test_bad_input_errors() -> None:
    clients = _clients()
    fed = _fed()
    exchange = fed.local_exchange(clients)
    with pytest.raises(hn.ConfigError, match=r"client ids in \[0, 4\), got 9"):
        fed.server_round([0, 9], exchange)
    with pytest.raises(hn.ConfigError, match="distinct"):
        fed.server_round([1, 1], exchange)
    empty = ClientData(*(t[:0] for t in (clients[0].x_train, clients[0].y_train)), clients[0].x_val, clients[0].y_val,
                       clients[0].x_test, clients[0].y_test, (), torch.zeros(0), torch.zeros(0))  # fmt: skip
    with pytest.raises(hn.ConfigError, match="expected training samples for client 1"):
        fed.fit([clients[0], empty], rounds=1)
    with pytest.raises(hn.ConfigError, match="empty client"):
        fed.client_update(dict(fed.model.target.named_parameters()), (torch.zeros(0, 6), torch.zeros(0, dtype=torch.long)))
    with pytest.raises(hn.ConfigError, match="weights for every parameter"):
        fed.client_update({}, clients[0])
    with pytest.raises(hn.ConfigError, match="embedding in"):
        hn.FederatedHypernet(nn.Linear(2, 2), 3, embedding="ids")  # type: ignore[arg-type]
    with pytest.raises(hn.ConfigError, match="x_dim and n_classes"):
        hn.FederatedHypernet(nn.Linear(2, 2), 3, embedding="data")
    with pytest.raises(hn.ConfigError, match="clients_per_round <= num_clients"):
        hn.FederatedHypernet(nn.Linear(2, 2), 3, clients_per_round=4)
    with pytest.raises(hn.ConfigError, match="message task"):
        fed.handle({"task": "steal"}, clients[0])
    with pytest.raises(hn.ConfigError, match="at most num_clients"):
        fed.fit(_clients(n_clients=8), rounds=1)


def test_baselines_compare_like_with_like() -> None:
    clients = _clients()
    torch.manual_seed(5)
    target = nn.Linear(6, 4)
    local = local_only(target, clients, steps=40, eval_every=20, lr=0.05)
    assert [r["round"] for r in local.rounds] == [0.0, 20.0, 40.0] and local.best["test_acc"] > 0.9
    assert local.rounds[-1]["bytes"] == 0 and local.best["steps"] == 4 * 40
    stopped = local_only(target, clients, steps=400, eval_every=5, patience=2, lr=0.05)
    assert stopped.best["steps"] < 4 * 400 and stopped.best["val_acc"] >= local.best["val_acc"] - 0.05  # early stopping per client
    avg = fedavg(target, clients, rounds=10, clients_per_round=2, local_steps=5, lr=0.05, finetune_steps=20, eval_every=5)
    assert avg.rounds[0]["bytes"] == 2 * tensor_bytes(dict(target.named_parameters()))
    # fine-tuning starts from the best global model and stops on each client's validation: never worse there
    assert avg.finetuned is not None and avg.finetuned["val_acc"] >= avg.best["val_acc"] and avg.finetuned["test_acc"] > 0.9
    assert 0 < avg.finetuned["steps"] <= 4 * 20 and avg.extra["steps"] == 10 * 2 * 5
    assert [r["test_acc"] == r["test_acc"] for r in avg.rounds] == [r is avg.best for r in avg.rounds]  # tested once, at the best
    with pytest.raises(hn.ConfigError, match="clients_per_round"):
        fedavg(target, clients, rounds=1, clients_per_round=9)


def test_lazy_top_level_export() -> None:
    assert hn.FederatedHypernet is hn.recipes.federated.FederatedHypernet
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = hn.Nope  # type: ignore[attr-defined]


def test_fit_accepts_tuples_mappings_and_from_arrays() -> None:
    """Plain per-client tuples / mappings train exactly as the same data given as ClientData.from_arrays."""
    clients = _clients()
    as_tuples = [(c.x_train, c.y_train, c.x_val, c.y_val, c.x_test, c.y_test) for c in clients]
    as_maps = [{"x_train": c.x_train, "y_train": c.y_train, "x_test": c.x_test, "y_test": c.y_test} for c in clients]
    as_data = [ClientData.from_arrays(*t[:2], *t[4:], x_val=t[2], y_val=t[3]) for t in as_tuples]
    runs = []
    for data in (as_tuples, as_data, clients):
        fed = _fed()
        runs.append((fed.fit(data, rounds=3, eval_every=3).rounds, fed.model.state_dict()))
    for rows, state in runs[1:]:
        assert rows == runs[0][0]
        for k, v in state.items():
            assert torch.equal(v, runs[0][1][k]), k
    fed = _fed()
    row = fed.fit(as_maps, rounds=2).best  # no validation data: the last evaluation
    assert row["round"] == 2 and row["test_acc"] == row["test_acc"] and row["val_acc"] != row["val_acc"]
    assert fed.evaluate([(c.x_train, c.y_train, c.x_test, c.y_test) for c in clients]) == fed.evaluate(clients)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (lambda c: [(c.x_train, c.y_train, c.x_test)], "ClientData, got a tuple of 3 items"),
        (lambda c: [{"x_train": c.x_train, "y_train": c.y_train}], "keys x_train, y_train, x_test, y_test"),
        (lambda c: [(c.x_train, c.y_train.float(), c.x_test, c.y_test)], "integer y"),
        (lambda c: [(c.x_train, c.y_train, c.x_test[:, :3], c.y_test)], "x_test rows shaped like"),
        (lambda c: [c.x_train], "ClientData, got Tensor"),
        (lambda c: c, "sequence of clients"),
        (lambda c: [], "at least one client"),
    ],
)
def test_fit_rejects_bad_client_data(bad: Any, match: str) -> None:
    fed = _fed()
    before = copy.deepcopy(fed.model.state_dict())
    with pytest.raises(hn.ConfigError, match=match) as info:
        fed.fit(bad(_clients()[0]), rounds=1)
    assert "ClientData" in str(info.value)
    assert fed.round == 0 and all(torch.equal(v, before[k]) for k, v in fed.model.state_dict().items())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rounds": -1}, "rounds to be an int >= 1, got int -1"),
        ({"rounds": 2.5}, "rounds to be an int >= 1"),
        ({"rounds": 2, "eval_every": 0}, "eval_every to be an int >= 1"),
        ({"rounds": 2, "checkpoint_every": -3}, "checkpoint_every"),
        ({"rounds": 2, "keep_last": 0}, "keep_last"),
        ({"rounds": 2, "callback": 3}, "callback"),
        ({"rounds": 2, "train_clients": [0.5]}, "client ids as ints"),
        ({"rounds": 2, "train_clients": [0, 7]}, r"client ids in \[0, 4\)"),
        ({"rounds": 2, "checkpoint_dir": 5}, "checkpoint_dir"),
    ],
)
def test_fit_rejects_nonsense_sizes(kwargs: dict[str, Any], match: str) -> None:
    fed = _fed()
    with pytest.raises(hn.ConfigError, match=match):
        fed.fit(_clients(), **kwargs)
    assert fed.round == 0


def test_other_methods_reject_wrong_types() -> None:
    fed, clients = _fed(), _clients()
    calls = [
        (lambda: fed.personalize("0"), "client id"),
        (lambda: fed.personalize(0, epochs=-1), "epochs"),
        (lambda: fed.evaluate(clients, "train"), "split 'val' or 'test'"),  # type: ignore[arg-type]
        (lambda: fed.evaluate(clients, ids=[9]), r"\[0, 4\)"),
        (lambda: fed.evaluate("clients"), "sequence of clients"),  # type: ignore[arg-type]
        (lambda: fed.server_round([0], "exchange"), "exchange to be a function"),  # type: ignore[arg-type]
        (lambda: fed.server_round(3, fed.local_exchange(clients)), "sequence of client ids"),  # type: ignore[arg-type]
        (lambda: fed.sample_clients(["a"]), "client ids as ints"),  # type: ignore[list-item]
        (lambda: fed.generated(1.5), "client ids as ints"),  # type: ignore[arg-type]
        (lambda: fed.handle("train", clients[0]), "message mapping"),  # type: ignore[arg-type]
        (lambda: fed.client_update([1, 2], clients[0]), "weights as a mapping"),  # type: ignore[arg-type]
        (lambda: fed.client_update(dict(fed.generated(0)), 5), "ClientData"),  # type: ignore[arg-type]
        (lambda: fed.local_exchange(3), "sequence or a mapping"),  # type: ignore[arg-type]
        (lambda: fed.local_exchange(clients)({9: {"task": "train"}}), "data for client 9"),
        (lambda: fed.save(3), "checkpoint directory"),  # type: ignore[arg-type]
        (lambda: fed.resume(None), "checkpoint directory"),  # type: ignore[arg-type]
        (lambda: ClientData.from_arrays(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), "x", torch.zeros(1)), "x_test"),
    ]
    for call, match in calls:
        with pytest.raises(hn.HypernetError, match=match):
            call()
    assert fed.round == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"inner_lr": -1.0}, "inner_lr to be a number >= 0"),
        ({"lr": "fast"}, "lr to be a number >= 0"),
        ({"grad_clip": 0.0}, "grad_clip > 0 or None"),
        ({"embed_samples": 0}, "embed_samples"),
        ({"embedding_dim": 2.5}, "embedding_dim"),
        ({"seed": "0"}, "seed to be an int"),
        ({"generator_kwargs": [100]}, "generator_kwargs"),
        ({"inner_steps": -1}, "inner_steps"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_constructor_rejects_nonsense(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(hn.ConfigError, match=match):
        hn.FederatedHypernet(nn.Linear(2, 2), 3, **kwargs)


def test_fedavg_resumes_from_an_evaluation_state() -> None:
    clients, target = _clients(), nn.Linear(6, 4)
    states: list[dict[str, Any]] = []
    whole = fedavg(target, clients, rounds=6, clients_per_round=2, local_steps=3, lr=0.05, eval_every=2,
                   on_eval=lambda s: states.append(copy.deepcopy(s)))  # fmt: skip
    assert [s["round"] for s in states] == [2, 4, 6]
    resumed = fedavg(target, clients, rounds=6, clients_per_round=2, local_steps=3, lr=0.05, eval_every=2, resume=states[1])
    assert resumed.rounds == whole.rounds and resumed.best_weights is not None and whole.best_weights is not None
    for k, v in whole.best_weights.items():
        torch.testing.assert_close(resumed.best_weights[k], v, rtol=0, atol=0)


def test_a_nan_client_delta_stops_the_round_before_the_hypernetwork_moves() -> None:
    clients = _clients()
    fed = _fed()
    inner = fed.local_exchange(clients)

    def diverged(messages: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
        replies = inner(messages)
        for reply in replies.values():
            for value in reply["delta"].values():
                value.fill_(float("nan"))  # what a client whose local SGD diverged sends
        return replies

    before = {n: p.detach().clone() for n, p in _hyper_params(fed).items()}
    with pytest.raises(TrainingError, match="expected finite gradients, got a gradient norm of nan at round 1"):
        fed.server_round([1], diverged)
    for name, p in _hyper_params(fed).items():
        assert torch.equal(p.detach(), before[name]), name
