"""Compression with a static hypernetwork (Ha, Dai & Le, "HyperNetworks", 2016).

A static hypernetwork has no input but one learned vector (:class:`~hypernet.Static`):
it is a compact *parametrization* of the target's weights. :func:`static_hypernet`
sizes one so that its trainable parameters are a chosen fraction ``1 / ratio`` of the
target's; :func:`compress` trains it on a classification data set with the shared
training loop and :meth:`~hypernet.HyperModel.materialize` s a plain copy of the target.

The default generator is ``"ha"`` (:class:`~hypernet.generators.HaGenerator`): every
tensor is cut into blocks (e.g. one 7x7 conv kernel each), each block has a small
learned embedding, and one shared two-layer map turns embeddings into blocks.

Example:
    >>> import torch, hypernet as hn
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> target = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 2))
    >>> x = torch.randn(512, 20); y = (x[:, :2].sum(1) > 0).long()
    >>> done = hn.compress(target, (x, y), ratio=4, generator_kwargs={"block_size": 32}, epochs=10)
    >>> done.ratio >= 4, type(done.net).__name__
    (True, 'Sequential')
    >>> float((done.net(x).argmax(1) == y).float().mean()) > 0.9
    True
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..._boundary import guarded_function
from ..._model import HyperModel
from ..._spec import Selector
from ..._validation import check_float
from ...conditions import Static
from ...errors import ConfigError, describe
from ...generators import Generator, create_generator
from ...training import FitResult
from .train import Data, train_classifier

# The generator argument that sets each registered generator's size, and whether it takes a tuple of widths.
SIZE_ARGS: dict[str, tuple[str, bool]] = {
    "ha": ("block_dim", False),
    "chunked": ("hidden", True),
    "layerwise": ("hidden", True),
    "mlp": ("hidden", True),
    "lowrank": ("rank", False),
}


@guarded_function
def trainable_parameters(module: nn.Module) -> int:
    """Number of parameters of ``module`` with ``requires_grad`` (shared tensors counted once).

    Example:
        >>> from torch import nn
        >>> trainable_parameters(nn.Linear(3, 2))
        8
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _builder(
    target: nn.Module, generator: str, kwargs: dict[str, Any], size_arg: str, as_tuple: bool, cond_dim: int, generate: Selector, init: str
) -> Callable[[int, bool], HyperModel]:
    def build(size: int, in_place: bool = False) -> HyperModel:
        gen: Generator = create_generator(generator, **{**kwargs, size_arg: (size,) if as_tuple else size})
        net = target if in_place else copy.deepcopy(target)
        return HyperModel(net, condition=Static(cond_dim), generator=gen, generate=generate, init=init)

    return build


@guarded_function
def static_hypernet(
    target: nn.Module,
    ratio: float = 5.0,
    *,
    generator: str = "ha",
    generator_kwargs: dict[str, Any] | None = None,
    size_arg: str | None = None,
    cond_dim: int = 4,
    generate: Selector = "all",
    init: str = "hyperfan",
    max_size: int = 1 << 14,
) -> HyperModel:
    """A static :class:`~hypernet.HyperModel` with at most ``1/ratio`` of ``target``'s trainable parameters.

    The generator's size argument (``size_arg``; for the built-in generators see
    ``SIZE_ARGS``: ``block_dim`` for ``"ha"``, the hidden width for ``"chunked"`` /
    ``"mlp"`` / ``"layerwise"``, ``rank`` for ``"lowrank"``) is set to the largest
    value whose model fits the budget ``trainable_parameters(target) / ratio``. All
    trainable parameters count: the static vector, the generator and the target's
    parameters that are not generated. ``target`` is wrapped (not copied), as by
    :class:`~hypernet.HyperModel`.

    Raises:
        ConfigError: ``ratio`` is not positive, the generator has no known size argument,
            or even its smallest size does not fit the budget.

    Example:
        >>> import hypernet as hn
        >>> from torch import nn
        >>> target = nn.Sequential(nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))
        >>> model = hn.static_hypernet(target, ratio=5, generator_kwargs={"block_size": 50})
        >>> trainable_parameters(model) <= 11110 / 5, model.generator.block_dim
        (True, 7)
    """
    check_float(ratio, "ratio", low=0, low_open=True, kind="a positive number (target parameters / hypernetwork parameters)")
    if not isinstance(target, nn.Module):
        raise ConfigError(f"expected target to be an nn.Module, got {describe(target)}; pass the torch model to compress")
    kwargs = dict(generator_kwargs or {})
    if size_arg is None:
        if generator not in SIZE_ARGS:
            raise ConfigError(
                f"expected size_arg= naming the argument that sets the size of generator {generator!r}, got none; "
                f"it is known for {sorted(SIZE_ARGS)}"
            )
        size_arg, as_tuple = SIZE_ARGS[generator]
    else:
        as_tuple = False
    if size_arg in kwargs:
        raise ConfigError(
            f"expected generator_kwargs without {size_arg!r} (static_hypernet chooses it to meet the ratio), got {kwargs[size_arg]!r}; "
            "remove it"
        )
    budget = trainable_parameters(target) / ratio
    build = _builder(target, generator, kwargs, size_arg, as_tuple, cond_dim, generate, init)
    smallest = trainable_parameters(build(1, False))
    if smallest > budget:
        raise ConfigError(
            f"expected a {generator!r} static hypernetwork with at most {budget:.0f} trainable parameters (1/{ratio} of the target's), "
            f"got {smallest} at {size_arg}=1; use a smaller ratio, a larger block / chunk size, or generate more of the target"
        )
    # the largest size that fits (parameter counts grow with the size): double until over budget, then bisect
    low, high = 1, 2
    while high <= max_size and trainable_parameters(build(high, False)) <= budget:
        low, high = high, 2 * high
    high = min(high - 1, max_size)
    while low < high:
        mid = (low + high + 1) // 2
        if trainable_parameters(build(mid, False)) <= budget:
            low = mid
        else:
            high = mid - 1
    return build(low, True)


@guarded_function
def default_lr(model: HyperModel, scale: float = 0.25) -> float:
    """Peak Adam learning rate for a hypernetwork: ``scale / sqrt(fan-in of the generator's output layer)``.

    A generated weight is ``init scale * (W_out a + b)``: hyperfan makes the init scale
    small (about ``1/sqrt(fan_in)`` of the target layer), so a plain-network learning
    rate moves generated weights roughly ten times less than it moves a plain network's;
    but Adam moves every entry of ``W_out`` by about ``lr``, so the change of an output
    grows with the output layer's fan-in. On Ha et al.'s CNN, ``0.25 / sqrt(fan-in)``
    trained stably from fan-in 3 to 34 where a fixed 0.1 diverged at 34 (1-8 epochs). For long
    schedules pass a smaller ``lr``: at fan-in 6 and 20 epochs, 0.10 diverged (5.3 % MNIST error)
    and 0.05 reached 0.99 % (``benchmarks/results/compression.md``).

    Example:
        >>> import hypernet as hn
        >>> from torch import nn
        >>> model = hn.HyperModel(nn.Linear(8, 4), condition=hn.Static(4), generator=hn.create_generator("ha", block_size=8, block_dim=4))
        >>> default_lr(model)
        0.125
    """
    fan_in = max(layer.in_features for layer, _ in model.generator.output_layers(torch.zeros(1, model.condition.dim)))
    return scale / math.sqrt(fan_in)


@dataclass
class Compressed:
    """What :func:`compress` returns.

    Attributes:
        model: the trained static hypernetwork.
        net: the plain target holding the generated weights (:meth:`~hypernet.HyperModel.materialize`).
        target_parameters: trainable parameters of the target before compression.
        hyper_parameters: trainable parameters of ``model``.
        fit: the training loop's result.
    """

    model: HyperModel
    net: nn.Module
    target_parameters: int
    hyper_parameters: int
    fit: FitResult

    @property
    def ratio(self) -> float:
        """Achieved compression: target parameters per trainable hypernetwork parameter."""
        return self.target_parameters / self.hyper_parameters


@guarded_function
def compress(
    target: nn.Module,
    data: Data,
    ratio: float = 5.0,
    *,
    generator: str = "ha",
    generator_kwargs: dict[str, Any] | None = None,
    size_arg: str | None = None,
    generate: Selector = "all",
    epochs: int = 3,
    batch_size: int = 128,
    lr: float | None = None,
    shared_lr: float = 3e-3,
    seed: int = 0,
    **fit_kwargs: Any,
) -> Compressed:
    """Train a static hypernetwork with ``1/ratio`` of ``target``'s parameters on ``data``, then materialize the target.

    Args:
        target: the network to compress (wrapped, see :func:`static_hypernet`).
        data: classification data, a ``Dataset`` of ``(x, y)`` or a pair of tensors;
            the loss is cross-entropy unless ``fit_kwargs`` gives another ``step``.
        ratio, generator, generator_kwargs, size_arg, generate: see :func:`static_hypernet`.
        epochs, batch_size, lr, seed: Adam with a one-cycle schedule peaking at ``lr``, on
            :func:`~hypernet.training.fit`; ``lr=None`` takes :func:`default_lr`.
        shared_lr: peak learning rate of the target's parameters that are not generated
            (e.g. biases with ``generate="*.weight"``): a plain network's rate.
        fit_kwargs: more arguments for :func:`~hypernet.training.fit` (``run_dir``, ``evaluate``, ``callbacks``, ...).

    Returns:
        A :class:`Compressed` with the trained model and the plain network.
    """
    before = trainable_parameters(target)
    model = static_hypernet(target, ratio, generator=generator, generator_kwargs=generator_kwargs, size_arg=size_arg, generate=generate)
    lr = default_lr(model) if lr is None else lr
    result = train_classifier(model, data, epochs=epochs, batch_size=batch_size, lr=lr, shared_lr=shared_lr, seed=seed, **fit_kwargs)
    return Compressed(model, model.materialize(), before, trainable_parameters(model), result)
