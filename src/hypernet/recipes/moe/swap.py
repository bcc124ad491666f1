"""Swap the MLP blocks of an existing model for :class:`HyperMoE` layers.

Recognised MLP blocks:

* :class:`torch.nn.TransformerEncoderLayer` / ``TransformerDecoderLayer``: ``linear1 -> activation ->
  dropout -> linear2`` becomes one ``HyperMoE(d_model, d_model, hidden=dim_feedforward)`` with the
  layer's activation (its ``dropout2`` on the block output stays); the fused inference fast path is
  switched off for the layer.
* Hugging Face GPT-2 (``GPT2MLP``: ``c_fc -> act -> c_proj -> dropout``): the block becomes a
  ``HyperMoE(n_embd, n_embd, hidden=n_inner)`` with the tanh-approximated GELU, followed by the same dropout.

The experts are newly initialised (not copies of the replaced MLP). Sum ``balance_loss(model)``
into the training loss.

Example:
    >>> import torch
    >>> from torch import nn
    >>> enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), 2, enable_nested_tensor=False)
    >>> swap_mlp(enc, num_experts=4, top_k=1, experts="plain")
    ['layers.0', 'layers.1']
    >>> enc(torch.randn(2, 3, 16)).shape, len(moe_layers(enc))
    (torch.Size([2, 3, 16]), 2)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..._boundary import guarded_function
from ...errors import ConfigError, describe
from .hyper_moe import HyperMoE


def _activation(fn: Any) -> nn.Module:
    if isinstance(fn, nn.Module):
        return fn
    if fn is F.relu:
        return nn.ReLU()
    if fn is F.gelu:
        return nn.GELU()
    fix = "build the layer with activation='relu' or 'gelu'"
    raise ConfigError(f"expected the layer's activation to be a module, F.relu or F.gelu, got {describe(fn)}; {fix}")


class _GPT2MoE(nn.Module):
    """A GPT-2 MLP block as a HyperMoE followed by the block's dropout."""

    def __init__(self, moe: HyperMoE, dropout: nn.Module) -> None:
        super().__init__()
        self.moe = moe
        self.dropout = dropout

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.dropout(self.moe(hidden_states))
        return out


def _swap_transformer_layer(layer: nn.TransformerEncoderLayer | nn.TransformerDecoderLayer, kwargs: dict[str, Any]) -> None:
    moe = HyperMoE(
        layer.linear1.in_features,
        layer.linear2.out_features,
        hidden=layer.linear1.out_features,
        activation=_activation(layer.activation),
        **kwargs,
    )
    layer.linear1 = moe  # type: ignore[assignment]
    layer.activation = nn.Identity()
    layer.dropout = nn.Identity()  # type: ignore[assignment]
    layer.linear2 = nn.Identity()  # type: ignore[assignment]
    if hasattr(layer, "activation_relu_or_gelu"):
        layer.activation_relu_or_gelu = 0  # the fused fast path reads linear1.weight; take the Python path


@guarded_function
def swap_mlp(model: nn.Module, **kwargs: Any) -> list[str]:
    """Replace every recognised MLP block of ``model`` in place; returns the names of the changed modules.

    Args:
        model: a model holding ``nn.TransformerEncoderLayer``/``TransformerDecoderLayer`` or Hugging Face
            GPT-2 blocks (the model itself may be one of them).
        **kwargs: arguments of :class:`HyperMoE` other than ``d_in``, ``d_out``, ``hidden`` and
            ``activation`` (``num_experts``, ``top_k``, ``experts``, ``router``, ...).

    Raises:
        ConfigError: no MLP block was found (nothing is changed), or a ``HyperMoE`` argument is invalid
            (checked on a first layer before anything is changed).
    """
    taken = {"d_in", "d_out", "hidden", "activation"} & set(kwargs)
    if taken:
        raise ConfigError(
            f"expected HyperMoE arguments other than {sorted(taken)} (swap_mlp takes them from each block), got them; remove them"
        )
    found: list[tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if isinstance(module, nn.TransformerEncoderLayer | nn.TransformerDecoderLayer):
            found.append((name, module))
        elif hasattr(module, "mlp") and type(module.mlp).__name__ == "GPT2MLP":
            found.append((name, module))
    if not found:
        raise ConfigError(
            "expected a model with nn.TransformerEncoderLayer/DecoderLayer or Hugging Face GPT-2 blocks, "
            f"got a {type(model).__name__} with none; build HyperMoE layers directly for other models"
        )
    HyperMoE(4, 4, hidden=4, **kwargs)  # validate the arguments once, before changing anything
    for _, module in found:
        if isinstance(module, nn.TransformerEncoderLayer | nn.TransformerDecoderLayer):
            _swap_transformer_layer(module, kwargs)
        else:
            mlp: Any = module.mlp
            d, inner = mlp.c_fc.weight.shape  # HF Conv1D stores (in, out)
            moe = HyperMoE(d, d, hidden=inner, activation=nn.GELU(approximate="tanh"), **kwargs)
            module.mlp = _GPT2MoE(moe, mlp.dropout)
    return [name for name, _ in found]


@guarded_function
def moe_layers(model: nn.Module) -> list[HyperMoE]:
    """Every :class:`HyperMoE` inside ``model``."""
    return [m for m in model.modules() if isinstance(m, HyperMoE)]


@guarded_function
def balance_loss(model: nn.Module) -> torch.Tensor:
    """Sum of the ``balance_loss`` of the last call of every :class:`HyperMoE` in ``model`` (0 if none)."""
    layers = moe_layers(model)
    if not layers:
        return torch.zeros(())
    return torch.stack([m.balance_loss for m in layers]).sum()
