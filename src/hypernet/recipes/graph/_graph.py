"""The computational graph of a module, from ``torch.fx`` or one forward pass: nodes are operations, edges data flow.

:func:`build_graph` traces any ``nn.Module`` with ``torch.fx.symbolic_trace`` semantics (models fx cannot
trace are read from the autograd graph of one forward pass instead, see :mod:`._autograd`), keeps one
node per operation (module call, function, method, parameter read), removes pass-through
operations (reshapes, dropout, identity) by wiring their inputs to their outputs, and records for
every node its category (:data:`~._ops.OPS`), the parameters it owns and their shapes. Skip
connections are ordinary edges (an ``add`` node with two inputs). Shortest-path distances give
GHN-2's virtual edges.

Example:
    >>> from torch import nn
    >>> g = build_graph(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)))
    >>> g.ops, g.edges
    (['input', 'linear', 'relu', 'linear', 'output'], [(0, 1), (1, 2), (2, 3), (3, 4)])
    >>> g.params[1], g.gains[1], g.classifier
    ({'weight': '0.weight', 'bias': '0.bias'}, 2.0, [3])
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch
from torch import fx, nn

from ..._boundary import guarded_function
from ..._validation import check_int
from ...errors import ConfigError
from ._ops import FUNCTION_OPS, METHOD_OPS, NORMS, PARAMETRIC, PASS_THROUGH, RELU_LIKE, check_category, is_transposed, module_category

_MAP_PRESERVING = frozenset({*RELU_LIKE, "tanh", "sigmoid", "max_pool", "avg_pool", "bn", "gn"})
"""Operations that keep a convolution map's channels (walked through by :meth:`ModelGraph.flatten_map`)."""


@dataclass
class ModelGraph:
    """A traced model as a DAG in topological order.

    Attributes:
        ops: category of each node; names: a readable name (module path or function).
        edges: ``(src, dst)`` pairs, ``src < dst``.
        params: per node, role (``"weight"``, ``"bias"``, or the parameter's own name) to the full parameter name.
        shapes: full parameter name to shape.
        gains: per node, the fan-in gain of its weight (2 when a ReLU-like activation follows, possibly after a norm; else 1).
        classifier: the parametric nodes with no parametric node after them (the output layer).
        unused: parameters the forward pass never reads (kept as they are by the GHN).
        transposed: 2-d weights stored as ``(in, out)`` (Hugging Face ``Conv1D``): predicted as ``(out, in)``, then transposed.
        source: how the graph was read: ``"fx"`` (symbolic tracing) or ``"autograd"`` (one forward pass).
    """

    ops: list[str]
    names: list[str]
    edges: list[tuple[int, int]]
    params: list[dict[str, str]]
    shapes: dict[str, tuple[int, ...]]
    gains: list[float] = field(default_factory=list)
    classifier: list[int] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    transposed: list[str] = field(default_factory=list)
    source: str = "fx"

    @property
    def num_nodes(self) -> int:
        return len(self.ops)

    @cached_property
    def _predecessors(self) -> dict[int, list[int]]:
        """Node -> the nodes with an edge into it (computed once per graph)."""
        preds: dict[int, list[int]] = {}
        for a, b in self.edges:
            preds.setdefault(b, []).append(a)
        return preds

    def flatten_map(self, v: int) -> tuple[int, int, int] | None:
        """``(C, H, W)`` if node ``v``'s 2-d weight reads a flattened ``C x H x W`` convolution map, else ``None``.

        LeNet- and VGG-style heads: walking back from ``v`` through single-input activations, pools and
        BatchNorm / GroupNorm reaches the convolution that made the map, ``C`` is its output channels and
        ``H = W = sqrt(in_features / C)`` (square maps, ``H > 1``). Anything else (a global pool, a skip
        connection, a transpose, token sequences) gives ``None``.

        Example:
            >>> from torch import nn
            >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 2))
            >>> g = build_graph(net)
            >>> g.flatten_map(g.classifier[0])
            (4, 3, 3)
        """
        check_int(v, "v", low=0, high=self.num_nodes - 1, owner="ModelGraph.flatten_map", hint="pass a node index of the graph")
        weight = self.params[v].get("weight") if self.ops[v] == "linear" else None
        if weight is None or len(self.layout(weight)) != 2:
            return None
        preds = self._predecessors
        u = v
        while True:
            before = preds.get(u, [])
            if len(before) != 1:
                return None
            u = before[0]
            if self.ops[u] in ("conv", "dwconv") and "weight" in self.params[u]:
                conv = self.layout(self.params[u]["weight"])
                if len(conv) != 4:  # a 1-d convolution's sequence is not a square map
                    return None
                channels = conv[0]
                break
            if self.ops[u] not in _MAP_PRESERVING:
                return None
        features = self.layout(weight)[1]
        side = math.isqrt(features // channels)
        if features % channels or side < 2 or side * side * channels != features:
            return None
        return channels, side, side

    def layout(self, full: str) -> tuple[int, ...]:
        """The shape of parameter ``full`` as ``(out, in, ...)`` (a transposed ``(in, out)`` weight reversed)."""
        if not isinstance(full, str) or full not in self.shapes:
            raise ConfigError(f"expected a parameter name of the graph, got {full!r}; pass one of {sorted(self.shapes)[:5]}...")
        shape = self.shapes[full]
        return shape[::-1] if full in self.transposed else shape

    def distances(self, cutoff: int = 50) -> torch.Tensor:
        """``(N, N)`` shortest-path lengths ``d[dst, src]`` along edges (0 where unreachable or beyond ``cutoff``)."""
        check_int(cutoff, "cutoff", low=0, owner="ModelGraph.distances")
        n = self.num_nodes
        succ: list[list[int]] = [[] for _ in range(n)]
        for a, b in self.edges:
            succ[a].append(b)
        d = torch.zeros(n, n)
        for s in range(n):
            seen = {s: 0}
            queue = deque([s])
            while queue:
                u = queue.popleft()
                if seen[u] >= cutoff:
                    continue
                for v in succ[u]:
                    if v not in seen:
                        seen[v] = seen[u] + 1
                        queue.append(v)
            for v, k in seen.items():
                if k > 0:
                    d[v, s] = k
        return d


class _Tracer(fx.Tracer):
    """An fx tracer that treats given classes as leaves and remembers the innermost module that failed."""

    def __init__(self, leaves: tuple[type[nn.Module], ...]) -> None:
        super().__init__()
        self.leaves = leaves
        self.failed_at: tuple[str, nn.Module] | None = None

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, self.leaves) or super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m: nn.Module, forward: Any, args: Any, kwargs: Any) -> Any:
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_at is None:
                self.failed_at = (self.path_of_module(m), m)
            raise


def trace(module: nn.Module, leaf_modules: Sequence[type[nn.Module]] = ()) -> fx.Graph:
    """The fx graph of ``module``; a failure raises :class:`~hypernet.ConfigError` naming the module that could not be traced."""
    tracer = _Tracer(tuple(leaf_modules))
    try:
        return tracer.trace(module)
    except Exception as exc:
        name, culprit = tracer.failed_at or ("", module)
        where = f"module {name!r} ({type(culprit).__name__})" if name else f"the forward of {type(module).__name__} itself"
        raise ConfigError(
            f"expected a torch.fx-traceable model, got one where {where} could not be traced: {type(exc).__name__}: {exc}. "
            f"Fix: remove data-dependent Python control flow from its forward, or treat it as a leaf: "
            f"GraphHyperNetwork(..., leaf_modules=[{type(culprit).__name__}], custom_ops={{{type(culprit).__name__}: 'conv'}}) "
            "(the category says what the leaf computes)"
        ) from exc


def _category(node: fx.Node, module: nn.Module, custom: Mapping[Any, str]) -> str:
    if node.op == "placeholder":
        return "input"
    if node.op == "output":
        return "output"
    if node.op == "get_attr":
        return "param"
    if node.op == "call_module":
        sub = module.get_submodule(str(node.target))
        found = module_category(sub, dict(custom))
        if found is None:
            has_params = any(True for _ in sub.parameters())
            what = "has parameters the GHN does not know how to predict" if has_params else "is an operation the GHN does not know"
            raise ConfigError(
                f"unsupported module {node.target!r} ({type(sub).__name__}): expected a module the GHN knows (with parameters: "
                f"{', '.join(sorted(c.__name__ for c in PARAMETRIC))}), got one that {what}; map it to a category, e.g. "
                f"GraphHyperNetwork(..., custom_ops={{{type(sub).__name__}: 'linear'}})"
            )
        return check_category(found, f"module {node.target!r}")
    if node.op == "call_function":
        if node.target in custom:
            return check_category(custom[node.target], f"function {node.target!r}")
        if node.target in FUNCTION_OPS:
            return FUNCTION_OPS[node.target]
        name = getattr(node.target, "__name__", repr(node.target))
    else:  # call_method
        if node.target in custom:
            return check_category(custom[node.target], f"method {node.target!r}")
        if node.target in METHOD_OPS:
            return METHOD_OPS[str(node.target)]
        name = f"Tensor.{node.target}"
    raise ConfigError(
        f"unsupported operation {name!r} (graph node {node.name!r}): expected one of the {len(FUNCTION_OPS)} functions and "
        f"{len(METHOD_OPS)} tensor methods the GHN knows, got this one; map it to a category, e.g. custom_ops={{{name!r}: 'other'}}"
        + (" (use the function object itself as the key)" if node.op == "call_function" else "")
    )


@guarded_function
def build_graph(
    module: nn.Module,
    custom_ops: Mapping[Any, str] | None = None,
    leaf_modules: Sequence[type[nn.Module]] = (),
    inputs: Any = None,
    method: str = "auto",
) -> ModelGraph:
    """Read ``module``'s computational graph and return its :class:`ModelGraph`.

    With ``method="auto"`` the graph comes from ``torch.fx`` where the model traces, else from the autograd
    graph of one forward pass on ``inputs`` (as ppuda does; Hugging Face models get example inputs from their
    config when ``inputs`` is ``None``). ``method="fx"`` / ``"autograd"`` force one of them.

    Args:
        module: any ``nn.Module``.
        custom_ops: extra mappings from a module class, function, method name or autograd node name
            (e.g. ``"CumsumBackward0"``) to a category of :data:`~._ops.OPS` (or ``"identity"`` to drop it).
        leaf_modules: module classes not traced into (their parameters belong to one node).
        inputs: example inputs for the autograd path: a tensor, a tuple of positional inputs or a dict of keyword inputs.
        method: ``"auto"``, ``"fx"`` or ``"autograd"``.

    Raises:
        ConfigError: the model has no parameters, cannot be traced, or uses an unknown operation (all named).
    """
    if not isinstance(module, nn.Module):
        raise ConfigError(f"expected an nn.Module, got {type(module).__name__}; pass an nn.Module")
    if method not in ("auto", "fx", "autograd"):
        raise ConfigError(f"expected method 'auto', 'fx' or 'autograd', got {method!r}; pass one of them")
    all_params = dict(module.named_parameters())
    if not all_params:
        raise ConfigError(
            f"expected a model with parameters to predict, got {type(module).__name__} with none; pass a network with parameters"
        )
    if isinstance(leaf_modules, (str, bytes)) or not isinstance(leaf_modules, Sequence):
        raise ConfigError(f"expected leaf_modules to be a sequence of nn.Module classes, got {leaf_modules!r}; pass e.g. [MyBlock]")
    if not all(isinstance(m, type) and issubclass(m, nn.Module) for m in leaf_modules):
        raise ConfigError(f"expected leaf_modules to hold nn.Module classes, got {leaf_modules!r}; pass the classes, not instances")
    if custom_ops is not None and not isinstance(custom_ops, Mapping):
        raise ConfigError(
            f"expected custom_ops to be None or a dict {{module class or function: category}}, got {custom_ops!r}; pass a dict"
        )
    custom = dict(custom_ops or {})
    leaves = tuple(leaf_modules) + tuple(k for k in custom if isinstance(k, type) and issubclass(k, nn.Module))
    if method == "autograd":
        return _from_autograd(module, custom, leaves, inputs)
    try:
        fx_graph = trace(module, leaves)
    except ConfigError as exc:
        if method == "fx":
            raise
        from ._autograd import example_inputs

        if inputs is None and example_inputs(module) is None:
            raise ConfigError(
                f"{exc} Or give example inputs (inputs=...) so the graph is read from one forward pass instead"
            ) from exc.__cause__
        return _from_autograd(module, custom, leaves, inputs)
    return _from_fx(module, fx_graph, custom, all_params)


def _from_autograd(module: nn.Module, custom: dict[Any, str], leaves: tuple[type[nn.Module], ...], inputs: Any) -> ModelGraph:
    from ._autograd import autograd_nodes

    raw = autograd_nodes(module, custom, leaves, inputs)
    graph = assemble(*raw, all_params=dict(module.named_parameters()))
    graph.source = "autograd"
    return graph


def _from_fx(module: nn.Module, fx_graph: fx.Graph, custom: dict[Any, str], all_params: dict[str, nn.Parameter]) -> ModelGraph:
    raw_ops: list[str] = []
    raw_names: list[str] = []
    raw_params: list[dict[str, str]] = []
    raw_preds: list[list[int]] = []
    transposed: list[str] = []
    index: dict[fx.Node, int] = {}
    owned: set[str] = set()
    for node in fx_graph.nodes:
        category = _category(node, module, custom)
        params: dict[str, str] = {}
        if node.op == "call_module":
            prefix = str(node.target)
            sub = module.get_submodule(prefix)
            for pname, _ in sub.named_parameters():
                full = f"{prefix}.{pname}"
                if full not in owned:  # a module called twice owns its parameters at its first call
                    params[pname] = full
                    owned.add(full)
                    if pname == "weight" and is_transposed(sub):
                        transposed.append(full)
        elif node.op == "get_attr":
            full = str(node.target)
            if full in all_params:
                if full not in owned:
                    params["weight"] = full
                    owned.add(full)
            else:
                category = "identity"  # a buffer or constant: not an operation
        raw_ops.append(category)
        raw_names.append(str(node.target) if node.op in ("call_module", "get_attr") else node.name)
        raw_params.append(params)
        raw_preds.append(sorted({index[p] for p in node.all_input_nodes}))
        index[node] = len(raw_ops) - 1
    return assemble(raw_ops, raw_names, raw_params, raw_preds, transposed, all_params=all_params)


def assemble(
    raw_ops: list[str],
    raw_names: list[str],
    raw_params: list[dict[str, str]],
    raw_preds: list[list[int]],
    transposed: list[str],
    *,
    all_params: Mapping[str, torch.Tensor],
) -> ModelGraph:
    """A :class:`ModelGraph` from raw nodes in topological order: pass-through nodes dropped, gains and classifier set."""
    keep: list[int] = []
    new_index: dict[int, int] = {}
    resolved: list[list[int]] = []  # for each raw node, the kept nodes it stands for
    preds = [list(p) for p in raw_preds]
    for i, category in enumerate(raw_ops):
        sources = sorted({s for p in preds[i] for s in resolved[p]})
        if category in PASS_THROUGH and not raw_params[i]:
            resolved.append(sources)
            continue
        new_index[i] = len(keep)
        keep.append(i)
        resolved.append([new_index[i]])
        preds[i] = sources
    ops = [raw_ops[i] for i in keep]
    names = [raw_names[i] for i in keep]
    node_params = [raw_params[i] for i in keep]
    edges = sorted({(s, new_index[i]) for i in keep for s in preds[i]})
    owned = {full for p in node_params for full in p.values()}
    shapes = {full: tuple(all_params[full].shape) for full in owned}
    graph = ModelGraph(
        ops, names, edges, node_params, shapes, unused=[n for n in all_params if n not in owned],
        transposed=[t for t in transposed if t in owned and len(shapes[t]) == 2],
    )  # fmt: skip
    graph.gains = _gains(graph)
    graph.classifier = _classifier(graph)
    return graph


_LAYERS = ("linear", "conv", "dwconv")


def _successors(graph: ModelGraph) -> list[list[int]]:
    succ: list[list[int]] = [[] for _ in graph.ops]
    for a, b in graph.edges:
        succ[a].append(b)
    return succ


def _gains(graph: ModelGraph) -> list[float]:
    """Gain 2 for nodes followed (through norms) by a ReLU-like activation, else 1 (GHN-2's beta)."""
    succ = _successors(graph)

    def relu_after(i: int, depth: int = 0) -> bool:
        for j in succ[i]:
            if graph.ops[j] in RELU_LIKE or (graph.ops[j] in NORMS and depth < 3 and relu_after(j, depth + 1)):
                return True
        return False

    return [2.0 if relu_after(i) else 1.0 for i in range(graph.num_nodes)]


def _classifier(graph: ModelGraph) -> list[int]:
    """Parametric nodes (linear/conv) with no linear/conv node after them."""
    succ = _successors(graph)
    after = [False] * graph.num_nodes
    found: list[int] = []
    for i in reversed(range(graph.num_nodes)):
        after[i] = any(after[j] or graph.ops[j] in _LAYERS for j in succ[i])
        if graph.ops[i] in _LAYERS and graph.params[i] and not after[i]:
            found.append(i)
    return sorted(found)
