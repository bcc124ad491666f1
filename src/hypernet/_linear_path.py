"""Per-sample weights of linear layers, applied in one batched call of the target (no vmap).

When every generated parameter is the ``weight`` or ``bias`` of an ``nn.Linear`` (a LoRA's
``lora_A`` / ``lora_B``, a head, an MLP), a batch with one weight set per sample needs no
per-sample copy of the rest of the network: the target runs once on the whole batch, and each
of those layers computes ``x[i] @ W[i].T + b[i]`` with a batched matmul. Everything else (fused
attention, KV caches) runs as in the plain target.

The layers' own parameters are replaced, for the duration of the call, by stand-ins that
have their shape and dtype and raise on any other use: code that reads a generated weight
directly instead of calling its layer fails (:class:`LinearPathUnsupported`) instead of
silently using the wrong tensor.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
    >>> path = LinearPath.of(net, ["0.weight", "0.bias"], batch_dim=0, tied=False)
    >>> w, b, inverse = torch.randn(2, 2, 3), torch.randn(2, 2), torch.tensor([1, 0, 1])
    >>> x = torch.randn(3, 3)
    >>> out = path.run(lambda: net(x), {"0.weight": w, "0.bias": b}, inverse)
    >>> expected = torch.stack([torch.tanh(x[i] @ w[j].T + b[j]) for i, j in enumerate(inverse.tolist())])
    >>> bool(torch.allclose(out, expected, atol=1e-6))
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class LinearPathUnsupported(RuntimeError):
    """The target used a generated linear layer in a way the batched path cannot serve (HyperModel raises a ConfigError)."""


@dataclass(frozen=True)
class _Layer:
    module: nn.Linear
    weight: str | None  # the generated parameter's full name, or None when the layer's own weight is used
    bias: str | None


@dataclass(frozen=True)
class LinearPath:
    """The target's linear layers that have generated parameters, and how to run them per sample."""

    layers: tuple[_Layer, ...]

    @classmethod
    def of(cls, target: nn.Module, names: Sequence[str], *, batch_dim: int, tied: bool) -> LinearPath | None:
        """The path for ``target`` with generated parameters ``names``, or ``None`` when it does not apply.

        It applies when the batch is at dim 0, no generated parameter is tied to another, and each
        one is the ``weight`` / ``bias`` of a module whose forward is ``nn.Linear``'s own.
        """
        if batch_dim != 0 or tied or not names:
            return None
        found: dict[str, dict[str, str]] = {}
        for name in names:
            owner, _, attr = name.rpartition(".")
            module = target.get_submodule(owner)
            if not isinstance(module, nn.Linear) or type(module).forward is not nn.Linear.forward or attr not in ("weight", "bias"):
                return None
            if "forward" in vars(module) or hasattr(module, "_hf_hook"):  # a forward set on the instance (accelerate hooks)
                return None
            found.setdefault(owner, {})[attr] = name
        layers = tuple(_Layer(_linear(target, o), a.get("weight"), a.get("bias")) for o, a in found.items())
        return cls(layers)

    def run(self, call: Callable[[], Any], params: Mapping[str, torch.Tensor], inverse: torch.Tensor) -> Any:
        """``call()`` (the target on the whole batch) with sample ``i`` using the weight set ``inverse[i]``.

        ``params[name]`` has the weight sets first. Raises :class:`LinearPathUnsupported` when a layer
        sees an input whose dim 0 is not the batch, or when the target touches a generated weight directly.
        """
        with self.installed(params, inverse):
            return call()

    @contextmanager
    def installed(self, params: Mapping[str, torch.Tensor], inverse: torch.Tensor) -> Iterator[None]:
        """Inside the block, calls of the target give sample ``i`` the weight set ``inverse[i]`` (see :meth:`run`)."""
        saved: list[tuple[nn.Linear, str, Any]] = []
        patched: list[tuple[nn.Linear, Any]] = []
        try:
            for layer in self.layers:
                m = layer.module
                weight = params[layer.weight] if layer.weight else None
                bias = params[layer.bias] if layer.bias else None
                for attr, gen in (("weight", layer.weight), ("bias", layer.bias)):
                    if gen is not None:
                        own = m._parameters[attr]
                        assert own is not None
                        saved.append((m, attr, own))
                        m._parameters[attr] = _StandIn.like(own)  # type: ignore[assignment]
                own_weight = None if weight is not None else m._parameters["weight"]
                own_bias = None if layer.bias else m._parameters.get("bias")
                patched.append((m, vars(m).get("forward", _NONE)))
                m.forward = _per_sample_forward(weight, bias, own_weight, own_bias, inverse)  # type: ignore[method-assign,assignment]
            yield
        finally:  # parameters first, then the forwards, each put back exactly as found
            for m, attr, own in reversed(saved):
                m._parameters[attr] = own
            for m, forward in reversed(patched):
                if forward is _NONE:
                    vars(m).pop("forward", None)
                else:
                    m.forward = forward


_NONE = object()  # no forward set on the instance


class _StandIn(torch.Tensor):
    """What a generated layer's ``weight`` reads as during the call: its shape and dtype, and an error on any use."""

    INFO = frozenset({"dtype", "shape", "device", "size", "dim", "ndim", "requires_grad", "is_floating_point", "numel"})

    @staticmethod
    def like(t: torch.Tensor) -> torch.Tensor:
        return torch.Tensor._make_subclass(_StandIn, torch.empty(t.shape, dtype=t.dtype, device="meta"))

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = getattr(getattr(func, "__self__", None), "__name__", None) if getattr(func, "__name__", "") == "__get__" else None
        if (name or getattr(func, "__name__", "")) in cls.INFO:
            return super().__torch_function__(func, types, args, kwargs or {})
        what = getattr(func, "__name__", func)
        raise LinearPathUnsupported(f"the target uses a generated layer's weight outside the layer's forward ({what})")


def _linear(target: nn.Module, name: str) -> nn.Linear:
    module = target.get_submodule(name)
    assert isinstance(module, nn.Linear)
    return module


def _per_sample_forward(
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    own_weight: torch.Tensor | None,
    own_bias: torch.Tensor | None,
    inverse: torch.Tensor,
) -> Callable[[torch.Tensor], torch.Tensor]:
    n = inverse.numel()
    w = None if weight is None else weight.index_select(0, inverse)  # (n, out, in)
    b = None if bias is None else bias.index_select(0, inverse)  # (n, out)

    def forward(x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.shape[0] != n:
            raise LinearPathUnsupported(f"a generated linear layer got an input of shape {tuple(x.shape)}, not a batch of {n} first")
        if w is None:
            assert own_weight is not None
            y = F.linear(x, own_weight)
        else:
            y = torch.matmul(x.reshape(n, -1, x.shape[-1]), w.transpose(1, 2)).reshape(*x.shape[:-1], w.shape[1])
        if b is not None:
            return y + b.view(n, *([1] * (y.dim() - 2)), b.shape[-1])
        return y if own_bias is None else y + own_bias

    return forward
