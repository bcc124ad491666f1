"""``recipe: moe`` for ``hypernet train``: a classifier with one HyperMoE block on sklearn digits (``examples/moe.yaml``).

``hypernet eval`` reports the test accuracy at the trained ``top_k`` and at ``top_k = 1`` (fewer
experts at inference, no retraining) and the normalised entropy of the expert usage;
``hypernet export`` writes the plain classifier (generated experts and router as plain tensors).

Example:
    >>> from hypernet.cli.config import validate
    >>> cfg = validate({"recipe": "moe", "name": "doc", "moe": {"experts": "hyper", "router": "hyper"}})
    >>> MoERecipe().build_model(cfg).moe.num_experts
    8
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch.utils.data import TensorDataset

from ...cli.common import digits, fit_options, no_cond
from ...cli.config import RunConfig, Section
from ...cli.optim import make_optimizer
from ...cli.registry import Recipe, RunContext, register_recipe
from ...training.distributed import make_loader
from ...training.errors import UsageError
from ...training.loop import FitResult, fit
from ...training.rng import seed_everything
from ._classifier import MoEClassifier


class MoESection(Section):
    """``moe:`` the HyperMoE block."""

    num_experts: int = Field(default=8, ge=1, le=1024)
    top_k: int = Field(default=2, ge=1, le=1024)
    experts: Literal["hyper", "plain"] = "hyper"
    router: Literal["hyper", "learned", "random", "embedding"] = "embedding"
    width: int = Field(default=32, ge=1, le=1 << 16, description="token width (input projection of the 64 pixels)")
    hidden: int = Field(default=32, ge=1, le=1 << 16, description="hidden width of each expert MLP")
    embed_dim: int = Field(default=8, ge=1, le=4096)
    generator: str = "chunked"
    generator_kwargs: dict[str, Any] = Field(default_factory=dict)
    balance: float = Field(default=0.01, ge=0, le=100, description="weight of the load-balancing loss")


class MoEConfig(RunConfig):
    """Config of the ``moe`` recipe."""

    recipe: Literal["moe"] = "moe"
    moe: MoESection = Field(default_factory=MoESection)


def _step(balance: float) -> Any:
    def step(model: MoEClassifier, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = batch
        loss = F.cross_entropy(model(x), y)
        aux = model.moe.balance_loss
        return loss + balance * aux, {"ce": float(loss.detach()), "balance": float(aux.detach())}

    return step


@register_recipe("moe")
class MoERecipe(Recipe):
    """:class:`~hypernet.HyperMoE` in a small digits classifier."""

    config_class = MoEConfig

    def build_model(self, config: MoEConfig) -> MoEClassifier:
        m = config.moe
        return MoEClassifier(
            64,
            10,
            m.width,
            num_experts=m.num_experts,
            top_k=m.top_k,
            experts=m.experts,
            router=m.router,
            hidden=m.hidden,
            embed_dim=m.embed_dim,
            generator=m.generator,
            generator_kwargs=dict(m.generator_kwargs) or None,
        )

    def train(self, config: MoEConfig, ctx: RunContext) -> FitResult:
        seed_everything(config.seed)
        x, y, _, _ = digits(config.seed)
        model = self.build_model(config).to(ctx.dist.device)
        loader = make_loader(TensorDataset(x, y), config.train.batch_size, seed=config.seed)
        params = [p for p in model.parameters() if p.requires_grad]
        return fit(model, _step(config.moe.balance), loader, make_optimizer(params, config.train), **fit_options(config, ctx))

    def evaluate(self, config: MoEConfig, model: nn.Module) -> dict[str, float]:
        if not isinstance(model, MoEClassifier):
            raise UsageError(f"expected a MoEClassifier, got {type(model).__name__}; pass the run directory of a moe run")
        _, _, x_test, y_test = digits(config.seed)
        out: dict[str, float] = {}
        trained_k = model.moe.top_k
        with torch.no_grad():
            for name, k in (("test_acc", trained_k), ("test_acc_top1", 1)):
                model.moe.top_k = k
                out[name] = float((model(x_test).argmax(-1) == y_test).float().mean())
            model.moe.top_k = trained_k
            model(x_test)
            usage = torch.bincount(model.moe.last_experts.reshape(-1), minlength=model.moe.num_experts).float()
            p = usage / usage.sum()
            entropy = -(p[p > 0] * p[p > 0].log()).sum()
            out["expert_usage_entropy"] = float(entropy / torch.log(torch.tensor(float(max(model.moe.num_experts, 2)))))
        return out

    def parse_cond(self, config: MoEConfig, text: str | None) -> None:
        no_cond(text, "moe")

    def materialize(self, config: MoEConfig, model: nn.Module, cond: Any) -> nn.Module:
        if not isinstance(model, MoEClassifier):
            raise UsageError(f"expected a MoEClassifier, got {type(model).__name__}; pass the run directory of a moe run")
        return model.materialize()
