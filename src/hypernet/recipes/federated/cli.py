"""The ``federated`` CLI recipe: ``hypernet train examples/federated.yaml`` runs an in-process simulation.

Example:
    >>> from hypernet.cli.config import validate
    >>> cfg = validate({"recipe": "federated", "name": "doc", "model": {"target": "mlp"}, "data": {"name": "digits", "num_clients": 5}})
    >>> type(FederatedRecipe().build_model(cfg)).__name__
    'HyperModel'
"""

from __future__ import annotations

import csv
import itertools
import time
from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from ...cli.config import ExistingFile, RunConfig, Section
from ...cli.registry import Recipe, RunContext, register_recipe
from ...training.errors import UsageError
from ...training.loop import FitResult
from ._cnn import SmallCNN
from ._partition import ClientData, dirichlet_partition, pathological_partition
from .federated_hypernet import FederatedHypernet


class ModelSection(Section):
    """``model:`` the clients' model and the server's hypernetwork."""

    embedding: Literal["learned", "data"] = Field(default="learned", description="learned: pFedHN; data: PeFLL")
    embedding_dim: int | None = Field(default=None, ge=1, description="default 1 + num_clients // 4")
    target: Literal["cnn", "mlp"] = Field(default="cnn", description="cnn: pFedHN's LeNet (28x28 data only); mlp: one hidden layer")
    n_kernels: int = Field(default=8, ge=1, description="cnn: channels of the first convolution")
    hidden: int = Field(default=32, ge=1, description="mlp: hidden width")
    generator_hidden: list[int] = Field(default_factory=lambda: [100, 100, 100], description="hidden widths of the hypernetwork MLP")


class DataSection(Section):
    """``data:`` the data set and how it is split into clients."""

    name: Literal["digits", "mnist", "fashion-mnist"] = "fashion-mnist"
    path: ExistingFile | None = Field(default=None, description="mnist: your mnist.pkl.gz (default: the fetched copy)")
    partition: Literal["pathological", "dirichlet"] = "pathological"
    num_clients: int = Field(default=10, ge=1)
    classes_per_client: int = Field(default=2, ge=1, description="pathological only")
    alpha: float = Field(default=0.3, gt=0, description="dirichlet only")
    limit: int | None = Field(default=None, ge=1, description="keep the first N training samples")


class FederatedSection(Section):
    """``federated:`` rounds and the clients' local training (the server's optimizer is in ``train:``)."""

    rounds: int = Field(default=100, ge=1)
    clients_per_round: int = Field(default=1, ge=1)
    inner_steps: int = Field(default=20, ge=0)
    inner_lr: float = Field(default=5e-3, gt=0)
    eval_every: int = Field(default=25, ge=1)


class FederatedConfig(RunConfig):
    """Config of the ``federated`` recipe; ``train:`` sets the server optimizer (``optimizer``, ``lr``, ``weight_decay``,
    ``momentum``, ``grad_clip``), the clients' ``batch_size``, ``checkpoint_every`` (rounds) and ``keep_last``."""

    recipe: Literal["federated"] = "federated"
    resume_may_change: ClassVar[tuple[str, ...]] = ("federated.rounds", "federated.eval_every")
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection = Field(default_factory=DataSection)
    federated: FederatedSection = Field(default_factory=FederatedSection)


def load_clients(config: FederatedConfig) -> list[ClientData]:
    """The configured data set, partitioned into clients (seeded by ``config.seed``)."""
    d = config.data
    if d.name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        raw = load_digits()
        x, y = torch.tensor(raw.data, dtype=torch.float32) / 16.0, torch.tensor(raw.target, dtype=torch.long)
        tr, te = train_test_split(torch.arange(len(y)).numpy(), test_size=0.25, random_state=config.seed, stratify=y.numpy())
        x_train, y_train, x_test, y_test = x[tr], y[tr], x[te], y[te]
    elif d.name == "mnist":
        from ...data.mnist import load_mnist

        m = load_mnist(d.path)
        x_train, y_train, x_test, y_test = torch.cat([m.x_train, m.x_valid]), torch.cat([m.y_train, m.y_valid]), m.x_test, m.y_test
    else:
        from ...data.fashion_mnist import load_fashion_mnist

        f = load_fashion_mnist(d.path)
        x_train, y_train, x_test, y_test = f.x_train, f.y_train, f.x_test, f.y_test
    if d.limit is not None:
        x_train, y_train = x_train[: d.limit], y_train[: d.limit]
    if d.partition == "pathological":
        return pathological_partition(x_train, y_train, x_test, y_test, d.num_clients, d.classes_per_client, seed=config.seed)
    return dirichlet_partition(x_train, y_train, x_test, y_test, d.num_clients, d.alpha, seed=config.seed)


def build_target(config: FederatedConfig) -> nn.Module:
    """The clients' model: pFedHN's small CNN for 28x28 images, or a one-hidden-layer MLP."""
    m, side = config.model, 8 if config.data.name == "digits" else 28
    if m.target == "cnn":
        if side != 28:
            raise UsageError(
                f"expected model.target 'mlp' for {config.data.name} ({side}x{side} images), got 'cnn' (needs 28x28); set model.target: mlp"
            )
        return SmallCNN(n_kernels=m.n_kernels, hidden=(64, 32))
    layers = [side * side, m.hidden, 10]
    mods: list[nn.Module] = []
    for a, b in itertools.pairwise(layers):
        mods += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*mods[:-1])


def build_server(config: FederatedConfig) -> FederatedHypernet:
    """The FederatedHypernet a config describes."""
    t, f, m = config.train, config.federated, config.model
    side = 8 if config.data.name == "digits" else 28
    torch.manual_seed(config.seed)
    return FederatedHypernet(
        build_target(config),
        num_clients=config.data.num_clients,
        embedding=m.embedding,
        embedding_dim=m.embedding_dim,
        x_dim=side * side,
        n_classes=10,
        generator_kwargs={"hidden": tuple(m.generator_hidden)},
        inner_steps=f.inner_steps,
        inner_lr=f.inner_lr,
        batch_size=t.batch_size,
        optimizer="adam" if t.optimizer in ("adam", "adamw") else "sgd",
        lr=t.lr,
        momentum=t.momentum,
        weight_decay=t.weight_decay,
        grad_clip=t.grad_clip,
        clients_per_round=f.clients_per_round,
        seed=config.seed,
    )


@register_recipe("federated")
class FederatedRecipe(Recipe):
    """pFedHN / PeFLL simulated in one process; checkpoints hold the server state."""

    config_class = FederatedConfig

    def build_model(self, config: FederatedConfig) -> nn.Module:
        return build_server(config).model

    def train(self, config: FederatedConfig, ctx: RunContext) -> FitResult:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # many tiny client models: one thread is faster, and leaves cores to others
        try:
            return self._train(config, ctx)
        finally:
            torch.set_num_threads(threads)

    def _train(self, config: FederatedConfig, ctx: RunContext) -> FitResult:
        start = time.perf_counter()
        clients = load_clients(config)
        fed = build_server(config)
        ckpt_dir = ctx.run_dir / "checkpoints"
        resumed = fed.round if ctx.resume and fed.resume(ckpt_dir) else None
        path = ctx.run_dir / "metrics.csv"
        new_file = not (resumed and path.is_file())
        with path.open("w" if new_file else "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["round", "val_acc", "test_acc", "bytes"])
            if new_file:
                writer.writeheader()

            def log(row: dict[str, float]) -> None:
                writer.writerow(row)
                fh.flush()

            history = fed.fit(
                clients,
                config.federated.rounds,
                eval_every=config.federated.eval_every,
                checkpoint_dir=ckpt_dir,
                checkpoint_every=config.train.checkpoint_every,
                keep_last=config.train.keep_last,
                callback=log,
            )
            if ctx.progress is not False:
                for row in history.rounds:
                    print(f"round {int(row['round'])}: val_acc {row['val_acc']:.4f}  test_acc {row['test_acc']:.4f}")
        last = history.rounds[-1] if history.rounds else {}
        metrics = {f"eval/{k}": float(v) for k, v in last.items() if k != "round"}
        if history.rounds:
            metrics["eval/best_round_test_acc"] = history.best["test_acc"]
        return FitResult(
            steps=fed.round,
            epochs=0,
            losses=[],
            metrics=metrics,
            seconds=time.perf_counter() - start,
            run_dir=ctx.run_dir,
            checkpoint=fed.save(ckpt_dir, keep_last=config.train.keep_last),
            resumed_from=resumed,
        )

    def evaluate(self, config: FederatedConfig, model: nn.Module) -> dict[str, float]:
        fed = build_server(config)
        fed.model.load_state_dict(model.state_dict())
        clients = load_clients(config)
        return {"val_acc": fed.evaluate(clients, "val"), "test_acc": fed.evaluate(clients, "test")}

    def parse_cond(self, config: FederatedConfig, text: str | None) -> int:
        n = config.data.num_clients
        if config.model.embedding != "learned":
            raise UsageError(
                f"expected model.embedding 'learned' to export by client id, got {config.model.embedding!r} "
                "(a server that generates from a client's data); "
                "train with model.embedding: learned"
            )
        if text is None or not text.strip().isdigit() or not 0 <= int(text) < n:
            raise UsageError(f"expected --cond to be a client id 0..{n - 1}, got {text!r}; pass e.g. --cond 0")
        return int(text)
