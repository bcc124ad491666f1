"""Graphs of models ``torch.fx`` cannot trace, read from the autograd graph of one forward pass (as ppuda does).

The model runs once in ``eval()`` mode on example inputs through ``torch.func.functional_call``
with fresh leaf copies of its parameters (the module itself is never modified). Walking the
autograd graph back from the outputs gives the data flow: every parameter is an
``AccumulateGrad`` leaf and every differentiable operation a node such as ``AddmmBackward0``.
Calls of known modules (``nn.Linear``, ``nn.LayerNorm``, ``nn.Embedding``, Hugging Face
``Conv1D`` and activations, ..., see :func:`~._ops.module_category`) are recorded by forward hooks
and become one node each, owning their parameters, so a linear layer is one ``linear`` node, not
a transpose and a matrix product; other operations map through :data:`~._ops.AUTOGRAD_OPS`, and
an operation found in neither raises :class:`~hypernet.ConfigError` naming it.

Hugging Face models (``module.config`` and ``module.main_input_name``) get example inputs from
their config: 8 token ids for text models, one image of ``config.image_size`` for vision models.

Example:
    >>> import torch
    >>> from torch import nn
    >>> class Gate(nn.Module):  # data-dependent control flow: torch.fx cannot trace it
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.lin = nn.Linear(3, 3)
    ...     def forward(self, x):
    ...         h = self.lin(x)
    ...         return torch.relu(h) if h.sum() > 0 else torch.tanh(h)
    >>> ops, names, params, preds, _ = autograd_nodes(Gate(), {}, (), torch.ones(2, 3))
    >>> [o for o in ops if o != "identity"][:2], params[1]
    (['input', 'linear'], {'weight': 'lin.weight', 'bias': 'lin.bias'})
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.utils._pytree import tree_flatten

from ...errors import ConfigError
from ._ops import AUTOGRAD_OPS, PASS_THROUGH, autograd_name, check_category, is_transposed, module_category

RawNodes = tuple[list[str], list[str], list[dict[str, str]], list[list[int]], list[str]]


def example_inputs(module: nn.Module) -> dict[str, Any] | None:
    """Example inputs of a Hugging Face model from its config (token ids or one image), else ``None``.

    The KV cache is switched off for these as for the caller's inputs, by :func:`_without_cache`.
    """
    config = getattr(module, "config", None)
    name = getattr(module, "main_input_name", None)
    if config is None or not isinstance(name, str):
        return None
    g = torch.Generator().manual_seed(0)
    if name == "input_ids" and isinstance(getattr(config, "vocab_size", None), int):
        limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 8
        return {name: torch.randint(config.vocab_size, (1, min(8, int(limit))), generator=g)}
    if name == "pixel_values" and getattr(config, "image_size", None) is not None:
        size = config.image_size
        hw = (size, size) if isinstance(size, int) else tuple(size)
        return {name: torch.randn(1, int(getattr(config, "num_channels", 3)), *hw, generator=g)}
    return None


def _without_cache(module: nn.Module, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``use_cache=False`` added for a model whose config caches keys and values, unless the caller chose.

    The cache adds concatenations to the forward pass that are not part of the network, so a graph read from the
    caller's inputs would differ from the one read from :func:`example_inputs`. A forward that takes ``**kwargs``
    (a wrapper such as a PEFT model) gets the switch too; one that takes neither is called as given.
    """
    if "use_cache" in kwargs or not getattr(getattr(module, "config", None), "use_cache", False):
        return kwargs
    try:
        params = inspect.signature(module.forward).parameters.values()
        accepts = any(p.name == "use_cache" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    except (TypeError, ValueError):  # a forward without a readable signature: call it as the caller asked
        return kwargs
    return {**kwargs, "use_cache": False} if accepts else kwargs


def _call_args(inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if isinstance(inputs, Mapping):
        return (), dict(inputs)
    if isinstance(inputs, tuple | list):
        return tuple(inputs), {}
    return (inputs,), {}


def _needs_grad(x: Any) -> Any:
    """Floating-point input tensors become leaves requiring grad, so the graph reaches back to them."""
    if isinstance(x, torch.Tensor) and x.is_floating_point() and not x.requires_grad:
        return x.detach().clone().requires_grad_(True)
    return x


class _Call:
    """One call of a module that becomes a single node."""

    def __init__(self, name: str, module: nn.Module, category: str, inputs: list[Any], outputs: list[Any]) -> None:
        self.name, self.module, self.category = name, module, category
        self.inputs = [t.grad_fn for t in inputs if isinstance(t, torch.Tensor) and t.grad_fn is not None]
        self.leaf_inputs = [t for t in inputs if isinstance(t, torch.Tensor) and t.grad_fn is None and t.requires_grad]
        self.from_input = any(isinstance(t, torch.Tensor) and not t.requires_grad for t in inputs)
        self.outputs = [t.grad_fn for t in outputs if isinstance(t, torch.Tensor) and t.grad_fn is not None]
        self.params = list(module.named_parameters())  # during the call: the leaf copies


def autograd_nodes(module: nn.Module, custom: dict[Any, str], leaves: tuple[type[nn.Module], ...], inputs: Any) -> RawNodes:
    """Raw nodes ``(ops, names, params, predecessors, transposed)`` in topological order, from one forward pass.

    Raises:
        ConfigError: no example inputs, the forward pass fails, or an operation is unknown (named, with the fix).
    """
    if inputs is None:
        inputs = example_inputs(module)
        if inputs is None:
            raise ConfigError(
                f"expected example inputs to read the autograd graph of {type(module).__name__}, got none; "
                "fix: pass inputs= (a tensor, a tuple of positional inputs or a dict of keyword inputs)"
            )
    args, kwargs = _call_args(inputs)
    kwargs = _without_cache(module, kwargs)
    args = tuple(_needs_grad(a) for a in args)
    kwargs = {k: _needs_grad(v) for k, v in kwargs.items()}
    named = dict(module.named_parameters())
    leaves_by_name = {n: p.detach().clone().requires_grad_(True) for n, p in named.items()}
    name_of = {id(t): n for n, t in leaves_by_name.items()}
    calls: list[_Call] = []
    handles = []
    modes = {m: m.training for m in module.modules()}

    def hook_for(path: str, category: str) -> Any:
        def hook(m: nn.Module, hook_args: Any, hook_kwargs: Any, output: Any) -> None:
            ins = tree_flatten((hook_args, hook_kwargs))[0]
            calls.append(_Call(path, m, category, ins, tree_flatten(output)[0]))

        return hook

    for path, sub in module.named_modules():
        if sub is module and path == "":
            continue
        category = module_category(sub, custom)
        if isinstance(sub, leaves) and category is None:
            category = "other"
        if category is not None and category not in PASS_THROUGH:
            handles.append(sub.register_forward_hook(hook_for(path, check_category(category, f"module {path!r}")), with_kwargs=True))
    try:
        module.eval()
        with torch.enable_grad():
            output = functional_call(module, leaves_by_name, args, kwargs, strict=False)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"expected {type(module).__name__} to run on the example inputs to read its autograd graph, "
            f"got {type(exc).__name__}: {exc}; pass inputs= that its forward accepts"
        ) from exc
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    outs = [t for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor) and t.grad_fn is not None]
    if not outs:
        raise ConfigError(
            f"expected {type(module).__name__}'s output to depend on its parameters, got no differentiable output; "
            "pass inputs= that reach the parameters"
        )
    return _walk(outs, calls, name_of, custom)


def _walk(outs: list[torch.Tensor], calls: list[_Call], name_of: dict[int, str], custom: Mapping[Any, str]) -> RawNodes:
    by_output: dict[Any, _Call] = {}
    for call in calls:
        if call.outputs and not set(call.outputs) & set(call.inputs):
            for fn in call.outputs:
                by_output[fn] = call  # nested hooked modules: hooks fire inner first, so the outermost call wins
    # key -> (category, name, predecessor keys, sort key)
    nodes: dict[Any, list[Any]] = {}
    stack: list[Any] = [o.grad_fn for o in outs]
    seen: set[Any] = set()
    while stack:
        fn = stack.pop()
        if fn in seen:
            continue
        seen.add(fn)
        found: _Call | None = by_output.get(fn)
        if found is not None:
            call = found
            key: Any = call
            if key in nodes:
                continue
            preds: list[Any] = [by_output.get(f, f) for f in call.inputs] + [("leaf", id(t)) for t in call.leaf_inputs]
            if call.from_input or not preds:
                preds.append("input")
            order = max(f._sequence_nr() for f in call.outputs)
            nodes[key] = [call.category, call.name, preds, order, call]
            stack += call.inputs
            for t in call.leaf_inputs:
                nodes.setdefault(("leaf", id(t)), _leaf(t, name_of))
            continue
        if type(fn).__name__ == "AccumulateGrad":
            t = fn.variable
            nodes[fn] = _leaf(t, name_of)
            continue
        op = autograd_name(fn)
        full = type(fn).__name__
        if full in custom or op in custom:
            category = check_category(custom.get(full, custom.get(op, "")), f"autograd node {full!r}")
        elif op in AUTOGRAD_OPS:
            category = AUTOGRAD_OPS[op]
        else:
            raise ConfigError(
                f"unsupported operation {full!r} (autograd node of {op!r}) in the forward pass: expected one of the "
                f"{len(AUTOGRAD_OPS)} autograd operations the GHN knows, got this one; "
                f"map it to a category, e.g. custom_ops={{{full!r}: 'other'}}"
            )
        nexts = [g for g, _ in fn.next_functions if g is not None]
        nodes[fn] = [category, full, [by_output.get(g, g) for g in nexts] or ["input"], fn._sequence_nr(), None]
        stack += nexts
    sinks = list(dict.fromkeys(by_output.get(o.grad_fn, o.grad_fn) for o in outs))
    return _order(nodes, name_of, sinks)


def _leaf(t: torch.Tensor, name_of: dict[int, str]) -> list[Any]:
    name = name_of.get(id(t))
    if name is None:
        return ["input", "input", [], -math.inf, None]
    return ["param", name, [], None, name]


def _order(nodes: dict[Any, list[Any]], name_of: dict[int, str], sinks: list[Any]) -> RawNodes:
    # parameter leaves and inputs get the position just before their first reader
    readers: dict[Any, list[float]] = {}
    for _, _, preds, order, _ in nodes.values():
        for p in preds:
            if order is not None:
                readers.setdefault(p, []).append(order)
    sort_key: dict[Any, float] = {}
    for key, node in nodes.items():
        if node[3] is None:  # a parameter leaf
            sort_key[key] = min(readers.get(key, [math.inf])) - 0.5
        else:
            sort_key[key] = node[3]
    sort_key["input"] = -math.inf
    keys = sorted(nodes, key=lambda k: sort_key[k])
    keys = [k for k in keys if nodes[k][0] != "input"]
    position = {"input": 0}
    ops, names, params, preds_out, transposed = ["input"], ["input"], [{}], [[]], []  # type: ignore[var-annotated]
    owned: set[str] = set()
    input_keys = {k for k, n in nodes.items() if n[0] == "input"}
    for key in keys:
        category, name, preds, _, extra = nodes[key]
        own: dict[str, str] = {}
        if isinstance(extra, _Call):
            for pname, t in extra.params:
                full = name_of.get(id(t))
                if full is not None and full not in owned:
                    own[pname] = full
                    owned.add(full)
                    if pname == "weight" and is_transposed(extra.module):
                        transposed.append(full)
        elif isinstance(extra, str):
            if extra in owned:
                continue  # already read by a hooked module: that module owns it
            own["weight"] = extra
            owned.add(extra)
        position[key] = len(ops)
        ops.append(category)
        names.append(name)
        params.append(own)
        preds_out.append(sorted({position["input" if p in input_keys else p] for p in preds if (p in position or p in input_keys)}))
    ops.append("output")
    names.append("output")
    params.append({})
    preds_out.append(sorted({position[k] for k in sinks if k in position}))
    return ops, names, params, preds_out, transposed
