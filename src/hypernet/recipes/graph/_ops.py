"""Operation categories: what a graph node is, from its module class or function.

Every node of a traced model gets one category of :data:`OPS`. Modules with parameters
must be in :data:`PARAMETRIC`; parameter-free modules and functions map through
:data:`MODULE_OPS` / :data:`FUNCTION_OPS` / :data:`METHOD_OPS`. Categories in :data:`PASS_THROUGH`
(dropout, reshapes, ...) are removed from the graph, their inputs wired to their outputs.
Users extend the tables per model with ``custom_ops={cls_or_fn: "category"}``.

Example:
    >>> from torch import nn
    >>> module_category(nn.Conv2d(3, 8, 3)), module_category(nn.Conv2d(8, 8, 3, groups=8)), module_category(nn.GELU())
    ('conv', 'dwconv', 'gelu')
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

OPS: tuple[str, ...] = (
    "input", "output", "linear", "conv", "dwconv", "bn", "ln", "gn", "param",
    "relu", "gelu", "tanh", "sigmoid", "silu", "leaky_relu", "softmax",
    "max_pool", "avg_pool", "global_pool", "sum", "mul", "concat", "mean", "transpose", "other",
    "embedding", "attention", "matmul",
)  # fmt: skip
"""Every node category; its index is the node's type id (new categories go at the end: saved GHNs stay loadable)."""

PASS_THROUGH = frozenset({"identity"})
"""Categories dropped from the graph (their predecessors are wired to their successors)."""

RELU_LIKE = frozenset({"relu", "leaky_relu", "gelu", "silu"})
"""Activations after which a weight's fan-in scale uses gain 2 (He), else 1."""

NORMS = frozenset({"bn", "ln", "gn"})

PARAMETRIC: dict[type[nn.Module], str] = {
    nn.Linear: "linear",
    nn.Conv1d: "conv",
    nn.Conv2d: "conv",
    nn.BatchNorm1d: "bn",
    nn.BatchNorm2d: "bn",
    nn.LayerNorm: "ln",
    nn.GroupNorm: "gn",
    nn.Embedding: "embedding",
}
"""Module classes whose parameters the GHN predicts."""

NAMED_MODULES: dict[str, str] = {
    "Conv1D": "linear",  # transformers.pytorch_utils.Conv1D (GPT-2): a linear layer storing its weight as (in, out)
    "NewGELUActivation": "gelu",
    "GELUActivation": "gelu",
    "GELUTanh": "gelu",
    "PytorchGELUTanh": "gelu",
    "FastGELUActivation": "gelu",
    "QuickGELUActivation": "gelu",
    "AccurateGELUActivation": "gelu",
    "SiLUActivation": "silu",
}
"""Hugging Face ``transformers`` module classes (matched by class name in a ``transformers`` module)."""

TRANSPOSED = frozenset({"Conv1D"})
"""``transformers`` module classes whose 2-d weight is stored as ``(in, out)``."""

MODULE_OPS: dict[type[nn.Module], str] = {
    nn.ReLU: "relu",
    nn.ReLU6: "relu",
    nn.GELU: "gelu",
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.SiLU: "silu",
    nn.LeakyReLU: "leaky_relu",
    nn.ELU: "leaky_relu",
    nn.Softmax: "softmax",
    nn.MaxPool1d: "max_pool",
    nn.MaxPool2d: "max_pool",
    nn.AvgPool1d: "avg_pool",
    nn.AvgPool2d: "avg_pool",
    nn.AdaptiveAvgPool1d: "global_pool",
    nn.AdaptiveAvgPool2d: "global_pool",
    nn.AdaptiveMaxPool2d: "global_pool",
    nn.Flatten: "identity",
    nn.Unflatten: "identity",
    nn.Dropout: "identity",
    nn.Dropout2d: "identity",
    nn.Identity: "identity",
    # non-parametric when built without affine parameters
    nn.BatchNorm1d: "bn",
    nn.BatchNorm2d: "bn",
    nn.LayerNorm: "ln",
    nn.GroupNorm: "gn",
}

FUNCTION_OPS: dict[Callable[..., Any], str] = {
    operator.add: "sum",
    operator.iadd: "sum",
    operator.sub: "sum",
    torch.add: "sum",
    operator.mul: "mul",
    operator.imul: "mul",
    operator.truediv: "mul",
    torch.mul: "mul",
    torch.cat: "concat",
    torch.concat: "concat",
    torch.stack: "concat",
    torch.relu: "relu",
    F.relu: "relu",
    F.gelu: "gelu",
    F.silu: "silu",
    F.leaky_relu: "leaky_relu",
    torch.tanh: "tanh",
    F.tanh: "tanh",
    torch.sigmoid: "sigmoid",
    F.sigmoid: "sigmoid",
    F.softmax: "softmax",
    torch.softmax: "softmax",
    F.max_pool2d: "max_pool",
    F.avg_pool2d: "avg_pool",
    F.adaptive_avg_pool2d: "global_pool",
    torch.mean: "mean",
    torch.flatten: "identity",
    torch.reshape: "identity",
    torch.transpose: "transpose",
    torch.permute: "transpose",
    F.dropout: "identity",
    operator.getitem: "identity",
    getattr: "identity",
}

METHOD_OPS: dict[str, str] = {
    "view": "identity",
    "reshape": "identity",
    "flatten": "identity",
    "contiguous": "identity",
    "size": "identity",
    "unsqueeze": "identity",
    "squeeze": "identity",
    "expand": "identity",
    "transpose": "transpose",
    "permute": "transpose",
    "mean": "mean",
    "relu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "softmax": "softmax",
    "add": "sum",
    "mul": "mul",
}


def module_category(module: nn.Module, custom: dict[Any, str] | None = None) -> str | None:
    """The category of a leaf module, or ``None`` when unknown (custom mappings first)."""
    for table in (custom or {}, PARAMETRIC, MODULE_OPS):
        for cls in type(module).__mro__:
            if cls in table:
                category = table[cls]
                if category == "conv" and isinstance(module, nn.Conv1d | nn.Conv2d) and module.groups > 1:
                    return "dwconv"
                return category
    for cls in type(module).__mro__:
        if cls.__name__ in NAMED_MODULES and cls.__module__.startswith("transformers"):
            return NAMED_MODULES[cls.__name__]
    return None


def is_transposed(module: nn.Module) -> bool:
    """Whether ``module`` stores its 2-d weight as ``(in, out)`` (Hugging Face ``Conv1D``)."""
    return any(c.__name__ in TRANSPOSED and c.__module__.startswith("transformers") for c in type(module).__mro__)


AUTOGRAD_OPS: dict[str, str] = {
    **dict.fromkeys(("Add", "Sub", "Rsub"), "sum"),
    **dict.fromkeys(("Mul", "Div", "Neg", "Pow"), "mul"),
    **dict.fromkeys(("Mm", "Bmm", "Addmm", "Baddbmm", "Matmul", "Dot", "Mv"), "matmul"),
    **dict.fromkeys(("Convolution", "ConvolutionBackwardOverrideable"), "conv"),
    **dict.fromkeys(("NativeLayerNorm", "LayerNorm"), "ln"),
    **dict.fromkeys(("NativeBatchNorm", "CudnnBatchNorm", "NativeBatchNormLegit", "NativeBatchNormLegitNoTraining"), "bn"),
    "NativeGroupNorm": "gn",
    **dict.fromkeys(("Relu", "Hardtanh", "Threshold"), "relu"),
    **dict.fromkeys(("Gelu",), "gelu"),
    "Tanh": "tanh",
    "Sigmoid": "sigmoid",
    "Silu": "silu",
    **dict.fromkeys(("LeakyRelu", "Elu"), "leaky_relu"),
    **dict.fromkeys(("Softmax", "LogSoftmax"), "softmax"),
    **dict.fromkeys(("MaxPool2DWithIndices", "MaxPool1DWithIndices", "MaxPool2D"), "max_pool"),
    **dict.fromkeys(("AvgPool2D", "AvgPool1D"), "avg_pool"),
    **dict.fromkeys(("AdaptiveAvgPool2D", "AdaptiveMaxPool2D", "AdaptiveAvgPool1D"), "global_pool"),
    **dict.fromkeys(("Mean", "Sum"), "mean"),
    **dict.fromkeys(("Cat", "Stack"), "concat"),
    **dict.fromkeys(("Transpose", "Permute"), "transpose"),
    "Embedding": "embedding",
    **dict.fromkeys(
        (
            "ScaledDotProductFlashAttentionForCpu", "ScaledDotProductAttention", "ScaledDotProductEfficientAttention",
            "ScaledDotProductFlashAttention", "ScaledDotProductCudnnAttention",
        ),
        "attention",
    ),
    **dict.fromkeys(("Where", "MaskedFill", "Clamp", "Exp", "Log", "Sqrt", "Rsqrt", "Abs", "Erf"), "other"),
    **dict.fromkeys(
        (
            "View", "UnsafeView", "ReshapeAlias", "Alias", "T", "Split", "SplitWithSizes", "Unbind", "Select", "Slice",
            "Expand", "Squeeze", "Unsqueeze", "Clone", "ToCopy", "Index", "NativeDropout", "Repeat", "AsStrided",
            "Narrow", "Contiguous", "Flatten",
        ),
        "identity",
    ),
}  # fmt: skip
"""Autograd node names (without ``Backward<k>``) to categories, for graphs read from one forward pass."""


def autograd_name(fn: Any) -> str:
    """``AddmmBackward0`` -> ``Addmm``: the operation an autograd node differentiates."""
    name = type(fn).__name__
    head, sep, _ = name.rpartition("Backward")
    return head if sep else name


def check_category(category: str, where: str) -> str:
    """``category`` if it is a known one, else a :class:`ValueError` naming ``where``."""
    if category not in OPS and category not in PASS_THROUGH:
        raise ValueError(f"expected a category in {sorted({*OPS, *PASS_THROUGH})} for {where}, got {category!r}; pass one of them")
    return category
