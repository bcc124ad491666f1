"""The ``ghn`` CLI recipe: ``hypernet train examples/ghn.yaml`` trains a :class:`GraphHyperNetwork`.

Training uses the shared loop (:func:`~hypernet.training.fit`, checkpoints through
``training/checkpoint.py``, resumable): every step samples ``sampler.meta_batch`` architectures
from :class:`ArchitectureSampler` (with the global torch RNG, which checkpoints restore) and
backpropagates the cross-entropy of their predicted parameters on one image batch.
Evaluation reports the mean accuracy of predicted parameters on ``eval_architectures``
architectures of the ``test`` split. Data: sklearn digits upsampled to 28x28 (bundled, no
download), or Fashion-MNIST / MNIST once fetched (``hypernet data fetch fashion-mnist``).

Example:
    >>> from hypernet.cli.config import validate
    >>> cfg = validate({"recipe": "ghn", "name": "doc", "model": {"hidden": 8}})
    >>> GHNRecipe().build_model(cfg).hidden
    8
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn
from torch.utils.data import TensorDataset

from ...cli.common import fit_options
from ...cli.config import ExistingFile, RunConfig, Section
from ...cli.optim import make_optimizer
from ...cli.registry import Recipe, RunContext, register_recipe
from ...training.distributed import make_loader
from ...training.loop import FitResult, fit
from ...training.rng import seed_everything
from ._sampler import ArchitectureSampler
from .graph_hypernetwork import GraphHyperNetwork


class GHNModelSection(Section):
    """``model:`` the graph hypernetwork."""

    hidden: int = Field(default=32, ge=2)
    block: list[int] = Field(default_factory=lambda: [64, 64, 5, 5], min_length=4, max_length=4)
    virtual_edges: int = Field(default=50, ge=0)
    rounds: int = Field(default=1, ge=1)
    layernorm: bool = True
    encoder: Literal["gated", "graphormer"] = Field(default="gated", description="GHN-2 gated GNN or GHN-3 Graphormer layers")
    layers: int = Field(default=3, ge=1, description="graphormer layers")
    heads: int = Field(default=8, ge=1, description="graphormer heads (hidden must be divisible by it)")
    lowrank: int = Field(default=0, ge=0, description="LoGAH low-rank decoder rank for 2-d weights (0: off)")


class GHNSamplerSection(Section):
    """``sampler:`` which architectures to train on."""

    families: list[Literal["cnn", "mlp", "mixer"]] = Field(default_factory=lambda: ["cnn", "mlp", "mixer"], min_length=1)  # type: ignore[arg-type]
    meta_batch: int = Field(default=4, ge=1, description="architectures per step")
    eval_architectures: int = Field(default=10, ge=1, description="test-split architectures evaluated")


class GHNDataSection(Section):
    """``data:`` 28x28 grey images with 10 classes."""

    name: Literal["digits", "fashion-mnist", "mnist"] = "digits"
    path: ExistingFile | None = Field(default=None, description="mnist: your mnist.pkl.gz; fashion-mnist: use HYPERNET_DATA")
    limit: int | None = Field(default=None, ge=1, description="keep the first N training images")
    test_limit: int = Field(default=1000, ge=1, description="test images used by evaluation")


class GHNConfig(RunConfig):
    """Config of the ``ghn`` recipe."""

    recipe: Literal["ghn"] = "ghn"
    model: GHNModelSection = Field(default_factory=GHNModelSection)
    sampler: GHNSamplerSection = Field(default_factory=GHNSamplerSection)
    data: GHNDataSection = Field(default_factory=GHNDataSection)


def load_images(cfg: GHNConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x_train, y_train, x_test, y_test)`` with images ``(N, 1, 28, 28)`` in [0, 1]."""
    if cfg.data.name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.nn.functional.interpolate(torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16, size=(28, 28), mode="bilinear")
        y = torch.tensor(d.target, dtype=torch.long)
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
        x, y = x[perm], y[perm]
        n = int(0.75 * len(x))
        x_tr, y_tr, x_te, y_te = x[:n], y[:n], x[n:], y[n:]
    elif cfg.data.name == "fashion-mnist":
        from ...data.fashion_mnist import load_fashion_mnist

        f = load_fashion_mnist()
        x_tr, y_tr, x_te, y_te = f.x_train.view(-1, 1, 28, 28), f.y_train, f.x_test.view(-1, 1, 28, 28), f.y_test
    else:
        from ...data.mnist import load_mnist

        m = load_mnist(cfg.data.path)
        x_tr, y_tr, x_te, y_te = m.x_train.view(-1, 1, 28, 28), m.y_train, m.x_test.view(-1, 1, 28, 28), m.y_test
    if cfg.data.limit is not None:
        x_tr, y_tr = x_tr[: cfg.data.limit], y_tr[: cfg.data.limit]
    return x_tr, y_tr, x_te[: cfg.data.test_limit], y_te[: cfg.data.test_limit]


@register_recipe("ghn")
class GHNRecipe(Recipe):
    """A graph hypernetwork trained on sampled architectures."""

    config_class = GHNConfig

    def build_model(self, config: GHNConfig) -> GraphHyperNetwork:
        m = config.model
        return GraphHyperNetwork(
            m.hidden, m.block, m.virtual_edges, m.rounds, m.layernorm, lowrank=m.lowrank, encoder=m.encoder, layers=m.layers, heads=m.heads
        )

    def train(self, config: GHNConfig, ctx: RunContext) -> FitResult:
        seed_everything(config.seed)
        x_tr, y_tr, x_te, y_te = load_images(config)
        model = self.build_model(config).to(ctx.dist.device)
        sampler = ArchitectureSampler("train", families=tuple(config.sampler.families))
        meta_batch = config.sampler.meta_batch

        def step(ghn: nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, float]]:
            x, y = batch
            archs = [sampler.sample(torch.default_generator).to(x.device) for _ in range(meta_batch)]
            loss, acc = _unwrap(ghn).loss(archs, x, y)
            return loss, {"acc": acc}

        t = config.train
        return fit(
            model,
            step,
            make_loader(TensorDataset(x_tr, y_tr), t.batch_size, seed=config.seed),
            make_optimizer(model.parameters(), t),
            evaluate=lambda m: evaluate_predicted(_unwrap(m), config, x_tr, x_te, y_te),
            **fit_options(
                config,
                ctx,
                summary={"name": config.name, "recipe": config.recipe, "parameters": sum(p.numel() for p in model.parameters())},
            ),
        )

    def evaluate(self, config: GHNConfig, model: nn.Module) -> dict[str, float]:
        x_tr, _, x_te, y_te = load_images(config)
        return evaluate_predicted(_unwrap(model), config, x_tr, x_te, y_te)


def _unwrap(model: nn.Module) -> GraphHyperNetwork:
    inner = getattr(model, "module", model)  # DistributedDataParallel keeps the GHN as .module
    if not isinstance(inner, GraphHyperNetwork):
        raise TypeError(f"expected a GraphHyperNetwork, got {type(inner).__name__}; pass the run directory of a ghn run")
    return inner


def evaluate_predicted(
    ghn: GraphHyperNetwork, config: GHNConfig, x_tr: torch.Tensor, x_te: torch.Tensor, y_te: torch.Tensor
) -> dict[str, float]:
    """Mean (and best) test accuracy of predicted parameters over fixed test-split architectures."""
    specs = ArchitectureSampler("test", families=tuple(config.sampler.families)).specs(config.sampler.eval_architectures)
    accs = []
    for spec in specs:
        net = spec.build().to(x_te.device)
        ghn.initialize_(net, data=x_tr[:256].to(x_te.device))
        net.eval()
        with torch.no_grad():
            accs.append(float((net(x_te).argmax(1) == y_te).float().mean()))
    return {"predicted_acc": sum(accs) / len(accs), "predicted_acc_best": max(accs)}
