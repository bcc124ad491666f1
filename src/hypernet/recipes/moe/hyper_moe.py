"""HyperMoE: a drop-in mixture-of-experts layer whose experts (HMOE) or router (HyperRouter) come from a hypernetwork."""

from __future__ import annotations

import copy
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..._boundary import guarded
from ..._validation import check_int
from ...errors import ConfigError, describe
from ._dispatch import DISPATCH, Dispatch, run_experts
from ._experts import HyperExperts, PlainExperts, expert_mlp
from ._routers import ROUTERS, EmbeddingRouter, HyperRouter, LearnedRouter

EXPERTS = ("hyper", "plain")


@guarded()
class HyperMoE(nn.Module):
    """Top-k mixture of experts replacing an MLP block: tokens ``(..., d_in)`` -> ``(..., d_out)``.

    A router scores the experts for each token; each token runs only its ``top_k`` experts, whose
    outputs are summed with the softmax of their ``top_k`` logits. Tokens are grouped per expert
    (sort, gather, scatter-add), never looped over, and no expert sees a token that did not choose it.

    Args:
        d_in: token width in; d_out: width out (default ``d_in``).
        num_experts: E.
        top_k: experts per token. It may be lowered (or raised) at inference by setting
            ``layer.top_k``; nothing else changes.
        expert: ``"mlp"`` (``Linear(d_in, hidden) -> activation -> Linear(hidden, d_out)``) or any
            ``nn.Module`` mapping ``(m, d_in)`` rows to ``(m, d_out)`` (copied, never modified).
        experts: ``"hyper"`` (HMOE: a :class:`~hypernet.HyperModel` generates each expert's weights from
            its trainable embedding) or ``"plain"`` (independent expert parameters).
        router: ``"learned"`` (trainable linear gate), ``"random"`` (that gate frozen at init:
            SMoE-Dropout), ``"hyper"`` (HyperRouter: a frozen random hypernetwork generates the gate from
            a trainable embedding, regenerated at every call) or ``"embedding"`` (HMOE's gate: similarity
            to the expert embeddings; needs ``experts="hyper"``).
        hidden: hidden width of the ``"mlp"`` expert (default ``4 * d_in``); activation: its activation
            module (default GELU).
        embed_dim: size of the expert embeddings (``experts="hyper"``).
        generator, generator_kwargs: the hypernetwork generating the experts (any registered generator).
        router_dim, router_hidden: HyperRouter's trainable embedding size (default: the router's input width,
            ``d_in`` or ``route_dim``, as in HyperRouter's code) and its frozen hypernetwork's width.
        dispatch: ``"auto"``, ``"padded"`` or ``"loop"`` (see :mod:`._dispatch`; same results).
        route_dim: width of a separate routing input (default: none, the router scores the tokens
            themselves). With it, each call takes ``layer(x, route=r)``, ``r`` of shape ``(..., route_dim)``
            with ``x``'s leading dims, and the router scores ``r`` while the experts run on ``x``: e.g.
            HMOE's gate on its own embedding of the input, apart from the classifier's features.

    Attributes (after each call):
        balance_loss: the load-balancing loss ``E * sum_j f_j * P_j`` of that call (Switch Transformer;
            ``f_j`` the fraction of routed slots on expert j, ``P_j`` its mean router probability; 1 when
            balanced). Add ``coef * layer.balance_loss`` to the training loss.
        last_experts: the ``(N, top_k)`` experts chosen for the call's N tokens (detached).
        router_probs: the ``(N, E)`` softmax of the router logits of that call (float32, with its graph), for
            losses on the routing itself (e.g. confident per-token, balanced overall assignments).

    Example:
        >>> import torch, hypernet as hn
        >>> layer = hn.HyperMoE(16, 16, num_experts=4, top_k=2, experts="hyper", router="hyper", hidden=32)
        >>> y = layer(torch.randn(2, 5, 16))
        >>> y.shape, layer.last_experts.shape, bool(layer.balance_loss.detach() > 0)
        (torch.Size([2, 5, 16]), torch.Size([10, 2]), True)
        >>> layer.top_k = 1                     # fewer experts at inference, no retraining
        >>> layer(torch.randn(3, 16)).shape
        torch.Size([3, 16])
        >>> routed = hn.HyperMoE(16, 4, num_experts=4, top_k=1, route_dim=3)   # route on another input
        >>> routed(torch.randn(6, 16), route=torch.randn(6, 3)).shape
        torch.Size([6, 4])
    """

    def __init__(
        self,
        d_in: int,
        d_out: int | None = None,
        num_experts: int = 8,
        top_k: int = 2,
        expert: str | nn.Module = "mlp",
        experts: Literal["hyper", "plain"] = "hyper",
        router: Literal["hyper", "learned", "random", "embedding"] = "learned",
        *,
        hidden: int | None = None,
        activation: nn.Module | None = None,
        embed_dim: int = 16,
        generator: str = "chunked",
        generator_kwargs: dict[str, Any] | None = None,
        router_dim: int | None = None,
        router_hidden: int = 64,
        dispatch: Dispatch = "auto",
        route_dim: int | None = None,
    ) -> None:
        super().__init__()
        d_in = check_int(d_in, "d_in", low=1, owner="HyperMoE", hint="pass the width of the tokens")
        d_out = (
            d_in
            if d_out is None
            else check_int(d_out, "d_out", low=1, owner="HyperMoE", hint="pass the width of the outputs (or None for d_in)")
        )
        num_experts = check_int(
            num_experts, "num_experts", low=1, owner="HyperMoE", hint="a mixture needs at least one expert: pass e.g. num_experts=8"
        )
        top_k = check_int(top_k, "top_k", low=1, owner="HyperMoE", hint="pass e.g. top_k=2")
        if top_k > num_experts:
            raise ConfigError(f"expected top_k <= num_experts ({num_experts}), got top_k={top_k}; lower top_k or add experts")
        if experts not in EXPERTS:
            raise ConfigError(f"expected experts in {EXPERTS}, got {experts!r}; pass one of them")
        if router not in ROUTERS:
            raise ConfigError(f"expected router in {ROUTERS}, got {router!r}; pass one of them")
        if router == "embedding" and experts != "hyper":
            raise ConfigError(
                "expected experts='hyper' with router='embedding' (it routes by the expert embeddings), got 'plain'; use router='learned'"
            )
        if route_dim is not None:
            route_dim = check_int(
                route_dim, "route_dim", low=1, owner="HyperMoE", hint="pass the width of the routing input (or None to route on the tokens)"
            )
        if router_dim is not None:
            router_dim = check_int(
                router_dim, "router_dim", low=1, owner="HyperMoE", hint="pass e.g. router_dim=16, or None for the router's input width"
            )
        if dispatch not in DISPATCH:
            raise ConfigError(f"expected dispatch in {DISPATCH}, got {dispatch!r}; pass one of them")
        if isinstance(expert, str):
            if expert != "mlp":
                raise ConfigError(f"expected expert 'mlp' or an nn.Module, got {expert!r}; pass one of them")
            width = (
                4 * d_in
                if hidden is None
                else check_int(hidden, "hidden", low=1, owner="HyperMoE", hint="pass the expert MLP's hidden width")
            )
            module: nn.Module = expert_mlp(d_in, width, d_out, activation)
        elif isinstance(expert, nn.Module):
            module = expert
        else:
            raise ConfigError(f"expected expert 'mlp' or an nn.Module, got {describe(expert)}; pass one of them")

        self.d_in, self.d_out, self.num_experts = d_in, d_out, num_experts
        self.route_dim = route_dim
        gate_in = d_in if route_dim is None else route_dim
        self._top_k = top_k
        self.experts_kind, self.router_kind, self.dispatch = experts, router, dispatch
        self.experts: HyperExperts | PlainExperts = (
            HyperExperts(module, num_experts, embed_dim, generator, generator_kwargs)
            if experts == "hyper"
            else PlainExperts(module, num_experts)
        )
        self.router: nn.Module
        if router == "hyper":
            dim = gate_in if router_dim is None else router_dim
            self.router = HyperRouter(gate_in, num_experts, embed_dim=dim, hidden=router_hidden)
        elif router == "embedding":
            self.router = EmbeddingRouter(gate_in, embed_dim)
        else:
            self.router = LearnedRouter(gate_in, num_experts, frozen=router == "random")
        self.balance_loss: torch.Tensor = torch.zeros(())
        self.last_experts: torch.Tensor = torch.zeros(0, top_k, dtype=torch.long)
        self.router_probs: torch.Tensor = torch.zeros(0, num_experts)

    def __getstate__(self) -> dict[str, Any]:
        """Copy and pickle without the last call's autograd graph (``balance_loss`` detached)."""
        state = self.__dict__.copy()
        state["balance_loss"] = self.balance_loss.detach()
        state["router_probs"] = self.router_probs.detach()
        return state

    @property
    def top_k(self) -> int:
        """Experts per token; settable (e.g. lowered at inference), ``1 <= top_k <= num_experts``."""
        return self._top_k

    @top_k.setter
    def top_k(self, value: int) -> None:
        value = check_int(value, "top_k", low=1, owner="HyperMoE", hint="set e.g. layer.top_k = 1")
        if value > self.num_experts:
            raise ConfigError(f"expected top_k <= num_experts ({self.num_experts}), got top_k={value}; lower top_k")
        self._top_k = value

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Router logits ``(N, E)`` of ``(N, d_in)`` tokens (or ``(N, route_dim)`` routing inputs)."""
        if isinstance(self.router, EmbeddingRouter):
            assert isinstance(self.experts, HyperExperts)
            return self.router(x, self.experts.embeddings())
        out: torch.Tensor = self.router(x)
        return out

    def _call_expert(self, params: dict[str, torch.Tensor], rows: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = torch.func.functional_call(self.experts.template, params, (rows,), strict=True)
        return out

    def _check_route(self, x: torch.Tensor, route: torch.Tensor | None) -> None:
        if self.route_dim is None:
            if route is not None:
                raise ConfigError(f"expected no route= (this layer routes on its tokens), got {describe(route)}; build it with route_dim=")
            return
        want = (*x.shape[:-1], self.route_dim)
        if not isinstance(route, torch.Tensor) or tuple(route.shape) != want or not route.is_floating_point():
            fix = "pass a float route= with the tokens' leading dims and route_dim features"
            raise ConfigError(f"expected route of shape {want} (route_dim={self.route_dim}), got {describe(route)}; {fix}")

    def forward(self, x: torch.Tensor, route: torch.Tensor | None = None) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() < 1 or x.shape[-1] != self.d_in:
            got = describe(x)
            fix = f"pass tokens of width {self.d_in} or build HyperMoE with d_in matching them"
            raise ConfigError(f"expected tokens of shape (..., {self.d_in}) (d_in={self.d_in}), got {got}; {fix}")
        self._check_route(x, route)
        lead = x.shape[:-1]
        tokens = x.reshape(-1, self.d_in)
        logits = self.logits(tokens if route is None else route.reshape(-1, route.shape[-1]))
        probs = F.softmax(logits, dim=-1, dtype=torch.float32)
        top, idx = torch.topk(logits, self.top_k, dim=-1)
        gates = F.softmax(top, dim=-1, dtype=torch.float32)
        if tokens.shape[0] == 0:
            out = tokens.new_zeros(0, self.d_out)
            self.balance_loss = probs.sum() * 0.0
        else:
            out = run_experts(self._call_expert, self.experts.params(), tokens, idx, gates, self.dispatch)
            counts = torch.bincount(idx.reshape(-1), minlength=self.num_experts).to(probs.dtype)
            self.balance_loss = self.num_experts * (counts / idx.numel() * probs.mean(0)).sum()
        self.last_experts = idx.detach()
        self.router_probs = probs
        return out.reshape(*lead, self.d_out)

    @torch.no_grad()
    def materialize(self) -> HyperMoE:
        """An independent plain layer (``experts="plain"``, ``router="learned"``) with the current generated weights.

        Its experts hold the generated expert weights and its linear gate the current router (a
        HyperRouter's generated gate; HMOE's embedding gate folded into one linear map), so it gives
        the same outputs without any hypernetwork.
        """
        template = copy.deepcopy(self.experts.template)
        plain = HyperMoE(
            self.d_in,
            self.d_out,
            self.num_experts,
            self.top_k,
            template,
            "plain",
            "learned",
            dispatch=self.dispatch,
            route_dim=self.route_dim,
        )
        assert isinstance(plain.experts, PlainExperts) and isinstance(plain.router, LearnedRouter)
        for name, value in self.experts.params().items():
            plain.experts.stacked[plain.experts.names.index(name)].copy_(value)
        if isinstance(self.router, EmbeddingRouter):
            assert isinstance(self.experts, HyperExperts)
            weight, bias = self.router.linear(self.experts.embeddings())
        else:
            weight, bias = self.router.linear()  # type: ignore[operator]
        plain.router.gate.weight.copy_(weight)
        plain.router.gate.bias.copy_(bias)
        plain.router.gate.requires_grad_(self.router_kind == "learned")
        return plain.to(weight.device)

    def extra_repr(self) -> str:
        return (
            f"d_in={self.d_in}, d_out={self.d_out}, num_experts={self.num_experts}, top_k={self.top_k}, "
            f"experts={self.experts_kind!r}, router={self.router_kind!r}"
        )
