"""``hn.GraphHyperNetwork``: parameters for any model from its computational graph (GHN-2 / GHN-3 / LoGAH style).

The GHN reads a model as a graph of operations (:mod:`._graph`: ``torch.fx`` where the model traces,
else the autograd graph of one forward pass, :mod:`._autograd`, so Hugging Face GPT-2 / BERT / ViT
work), embeds every node from its
operation type and parameter shapes, propagates the embeddings with a gated GNN sweeping the
graph forwards and backwards (:mod:`._encoder`), and decodes each node's parameters with a
shape-aware decoder that tiles fixed-size blocks to any shape, normalised by operation
(:mod:`._decoder`), or with ``lowrank=r`` LoGAH's low-rank decoder for every 2-d weight
(``(n, r) x (r, m)`` factors tiled to any width). It is trained on architectures drawn from a sampler
(:class:`~.ArchitectureSampler`) by backpropagating the task loss through the predicted
parameters; afterwards one forward pass predicts the parameters of an unseen model.

BatchNorm running statistics are buffers, not predicted: :meth:`GraphHyperNetwork.initialize_`
resets them and, given a few input batches (``data=``), recomputes them with the predicted
weights (a cumulative average over those batches), so the model can be used in ``eval()`` mode.

Example:
    >>> import torch, hypernet as hn
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> ghn = hn.GraphHyperNetwork(hidden=16, block=(16, 16, 3, 3))
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 20), nn.ReLU(), nn.Linear(20, 3))
    >>> params = ghn.predict(net)
    >>> sorted(params) == sorted(n for n, _ in net.named_parameters())
    True
    >>> params["1.weight"].shape
    torch.Size([20, 12])
    >>> _ = ghn.initialize_(net)
    >>> torch.equal(net[1].weight, params["1.weight"])
    True
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn
from torch.func import functional_call

from ..._boundary import guarded, guarded_function
from ..._io import atomic_write_bytes, atomic_write_text
from ..._limits import check_allocation
from ..._validation import check_bool, check_choice, check_float, check_int, check_path, is_int
from ...errors import CheckpointError, ConfigError, describe
from ...training.errors import TrainingError
from ._decoder import LowRankDecoder, ShapeDecoder, fit_shape, normalize_bias, normalize_scale, normalize_weight
from ._encoder import GatedGNN, sinusoid_positions
from ._graph import ModelGraph, build_graph
from ._graphormer import GraphormerEncoder
from ._ops import NORMS, OPS

WEIGHTS = Path(__file__).parent / "weights"
_FEATURES = 9


def _node_features(graph: ModelGraph) -> torch.Tensor:
    """``(N, 9)`` shape features: log-channels, kernel, dimensions, bias, classifier, gain, size."""
    rows = []
    for v, params in enumerate(graph.params):
        shapes = [graph.layout(full) for full in params.values()]
        main = max(shapes, key=lambda s: (len(s), math.prod(s)), default=())
        dims = [*main, 1, 1, 1, 1][:4] if main else [0, 0, 0, 0]
        if len(main) == 1:
            dims[1] = 0
        size = sum(math.prod(s) for s in shapes)
        rows.append(
            [
                math.log2(1 + dims[0]) / 7,
                math.log2(1 + dims[1]) / 7,
                dims[2] / 7 if len(main) > 2 else 0.0,
                dims[3] / 7 if len(main) > 3 else 0.0,
                len(main) / 4,
                float("bias" in params),
                float(v in graph.classifier),
                graph.gains[v] - 1.0,
                math.log2(1 + size) / 20,
            ]
        )
    return torch.tensor(rows, dtype=torch.float32)


@guarded(mutating=("fit",))
class GraphHyperNetwork(nn.Module):
    """A graph hypernetwork: ``predict(model)`` gives all of ``model``'s parameters in one forward pass.

    Args:
        hidden: node embedding size (GHN-2: 32).
        block: ``(O, I, K, K)`` size of the decoded block tiled to every weight shape (GHN-2 on CIFAR-10: 64, 64, 11, 11).
        virtual_edges: the cutoff of GHN-2's virtual edges (shortest paths up to this many hops; 0 or 1: none).
        rounds: forward+backward sweeps of the gated GNN (GHN-2: 1).
        layernorm: layer-normalise node embeddings before decoding (GHN-2's ``--ln``).
        custom_ops: map extra module classes, functions or method names to a node category (see ``_ops.OPS``),
            e.g. ``{MyAttention: "linear"}``; mapped module classes are not traced into.
        leaf_modules: module classes not traced into.
        lowrank: LoGAH's low-rank decoder: ``r > 0`` predicts every 2-d weight ``(n, m)`` as a product of
            factors ``(n, r) x (r, m)`` (rank at most ``r``); ``0`` tiles the block decoder's output as GHN-2.
        lowrank_rows: rows of each predicted factor block (widths beyond it repeat the block).
        encoder: ``"gated"`` (GHN-2's gated GNN sweeps) or ``"graphormer"`` (GHN-3's transformer layers over all
            nodes with shortest-path-distance attention biases; ``layers`` x ``heads``, ``hidden`` divisible by ``heads``).
        layers: Graphormer layers.
        heads: Graphormer attention heads.
        weight_scale: multiplies every predicted weight after the fan-in normalisation (transformers fine-tune
            better from smaller weights: Hugging Face GPT-2 initialises with std 0.02).
        bias_scale: multiplies every predicted bias (every 1-d parameter but norm scales); ``0`` keeps them at zero, as transformers
            initialise them (a GHN free to predict biases can encode a language model's unigram distribution in
            them and swamp the token signal, see ``benchmarks/results/ghn_lm_pilot_diagnosis.md``).
        flatten_maps: a linear layer that reads a flattened ``C x H x W`` convolution map (LeNet / VGG heads,
            :meth:`~._graph.ModelGraph.flatten_map`) is predicted as the convolution it equals, ``(out, C, H, W)``:
            the decoder's ``K x K`` spatial block resized (bilinear) to ``H x W``, then flattened. ``False`` tiles
            its 2-d weight like any other (GHN-2; GHNs saved before this option load with ``False``).
        positions: add sinusoids of each node's index in topological order to its embedding before decoding, so
            nodes of the same kind in different blocks (a transformer's repeated layers) can get different
            parameters (the GNN alone gives them nearly the same embedding; see
            ``benchmarks/results/ghn_lm_pilot_diagnosis.md``). GHNs saved without it load with ``False``.
        residual: predict a correction that is added to the module's current parameters (its default
            initialisation when freshly built) instead of the parameters themselves; norm scales get
            ``scale - 1``. Training sees a new random initialisation with every sampled model, so the GHN learns
            corrections that work on top of any of them, and the result keeps the full-rank random bulk that
            makes default initialisation easy to fine-tune. :meth:`initialize_` adds the correction once per call.

    Raises:
        ConfigError: a size is not positive.
    """

    def __init__(
        self,
        hidden: int = 32,
        block: Sequence[int] = (64, 64, 5, 5),
        virtual_edges: int = 50,
        rounds: int = 1,
        layernorm: bool = True,
        custom_ops: Mapping[Any, str] | None = None,
        leaf_modules: Sequence[type[nn.Module]] = (),
        lowrank: int = 0,
        lowrank_rows: int = 256,
        encoder: str = "gated",
        layers: int = 3,
        heads: int = 8,
        weight_scale: float = 1.0,
        flatten_maps: bool = True,
        bias_scale: float = 1.0,
        positions: bool = False,
        residual: bool = False,
    ) -> None:
        super().__init__()
        _check_arguments(hidden, block, virtual_edges, rounds, layernorm, custom_ops, leaf_modules)
        owner = "GraphHyperNetwork"
        weight_scale = check_float(weight_scale, "weight_scale", low=0.0, low_open=True, owner=owner)
        bias_scale = check_float(bias_scale, "bias_scale", low=0.0, owner=owner)
        check_choice(encoder, "encoder", ("gated", "graphormer"), owner=owner)
        layers = check_int(layers, "layers", low=1, owner=owner)
        heads = check_int(heads, "heads", low=1, owner=owner)
        lowrank = check_int(lowrank, "lowrank", low=0, owner=owner, hint="0 turns the low-rank decoder off")
        lowrank_rows = check_int(lowrank_rows, "lowrank_rows", low=1, owner=owner)
        if encoder == "graphormer" and hidden % heads:
            raise ConfigError(
                f"expected hidden divisible by heads for encoder='graphormer', got hidden={hidden}, heads={heads}; "
                "pick heads that divide hidden (e.g. heads=8 with hidden=64)"
            )
        self.lowrank, self.lowrank_rows = int(lowrank), int(lowrank_rows)
        self.encoder, self.layers, self.heads = encoder, int(layers), int(heads)
        self.weight_scale, self.bias_scale = float(weight_scale), float(bias_scale)
        check_bool(flatten_maps, "flatten_maps", owner="GraphHyperNetwork")
        self.flatten_maps = flatten_maps
        self.positions = check_bool(positions, "positions", owner="GraphHyperNetwork")
        self.residual = check_bool(residual, "residual", owner="GraphHyperNetwork")
        self.hidden, self.block = hidden, tuple(int(b) for b in block)
        self.virtual_edges, self.rounds, self.layernorm = virtual_edges, rounds, layernorm
        self.custom_ops = dict(custom_ops or {})
        self.leaf_modules = tuple(leaf_modules)
        self.op_embedding = nn.Embedding(len(OPS), hidden)
        self.shape_encoder = nn.Linear(_FEATURES, hidden)
        self.gnn: nn.Module = (
            GatedGNN(hidden, virtual_edges=virtual_edges > 1, rounds=rounds)
            if encoder == "gated"
            else GraphormerEncoder(hidden, layers=layers, heads=heads, max_distance=8)
        )
        self.norm = nn.LayerNorm(hidden) if layernorm else nn.Identity()
        self.decoder = ShapeDecoder(hidden, self.block)  # type: ignore[arg-type]
        self.lowrank_decoder = LowRankDecoder(hidden, lowrank, lowrank_rows) if lowrank else None

    def config(self) -> dict[str, Any]:
        """The constructor arguments that :meth:`load` needs (``custom_ops``/``leaf_modules`` are passed again)."""
        return {
            "hidden": self.hidden,
            "block": list(self.block),
            "virtual_edges": self.virtual_edges,
            "rounds": self.rounds,
            "layernorm": self.layernorm,
            **({"lowrank": self.lowrank, "lowrank_rows": self.lowrank_rows} if self.lowrank else {}),
            **({"encoder": self.encoder, "layers": self.layers, "heads": self.heads} if self.encoder != "gated" else {}),
            **({"weight_scale": self.weight_scale} if self.weight_scale != 1.0 else {}),
            **({"bias_scale": self.bias_scale} if self.bias_scale != 1.0 else {}),
            "flatten_maps": self.flatten_maps,
            **({"positions": True} if self.positions else {}),
            **({"residual": True} if self.residual else {}),
        }

    # -- graphs -----------------------------------------------------------------------------
    def graph(self, module: nn.Module, inputs: Any = None) -> ModelGraph:
        """The :class:`~._graph.ModelGraph` the GHN reads for ``module``.

        From ``torch.fx`` where ``module`` traces, else from the autograd graph of one forward pass on ``inputs``
        (a tensor, a tuple or a dict of keyword inputs; Hugging Face models get them from their config).
        """
        _check_module(module)
        return build_graph(module, self.custom_ops, self.leaf_modules, inputs=inputs)

    def _encode(self, graphs: Sequence[ModelGraph]) -> torch.Tensor:
        device = self.op_embedding.weight.device
        dtype = self.op_embedding.weight.dtype
        b, n = len(graphs), max(g.num_nodes for g in graphs)
        types = torch.zeros(b, n, dtype=torch.long)
        feats = torch.zeros(b, n, _FEATURES)
        adjacency = torch.zeros(b, n, n)
        virtual = torch.zeros(b, n, n)
        mask = torch.zeros(b, n, dtype=torch.bool)
        for i, g in enumerate(graphs):
            k = g.num_nodes
            types[i, :k] = torch.tensor([OPS.index(op) for op in g.ops])
            feats[i, :k] = _node_features(g)
            mask[i, :k] = True
            for src, dst in g.edges:
                adjacency[i, dst, src] = 1.0
            if self.encoder == "graphormer":
                virtual[i, :k, :k] = g.distances(max(self.virtual_edges, 8))  # integer distances for the attention biases
            elif self.virtual_edges > 1:
                d = g.distances(self.virtual_edges)
                virtual[i, :k, :k] = torch.where(d > 0, 1.0 / d.clamp(min=1), torch.zeros(()))
        x = self.op_embedding(types.to(device)) + self.shape_encoder(feats.to(device, dtype))
        x = self.norm(self.gnn(x, adjacency.to(device, dtype), virtual.to(device, dtype), mask.to(device)))
        if self.positions:
            x = x + sinusoid_positions(n, self.hidden).to(device, dtype)
        return x

    def predict_graphs(self, graphs: Sequence[ModelGraph]) -> list[dict[str, torch.Tensor]]:
        """Predicted parameters (differentiable w.r.t. the GHN) for each graph, by full parameter name."""
        if not isinstance(graphs, Sequence) or not all(isinstance(g, ModelGraph) for g in graphs):
            raise ConfigError(f"expected a list of ModelGraph, got {describe(graphs)}; build them with ghn.graph(module)")
        if not graphs:
            return []
        states = self._encode(graphs)
        out: list[dict[str, torch.Tensor]] = [{} for _ in graphs]
        groups: dict[tuple[int, int], list[tuple[int, int, str]]] = {}
        vectors: list[tuple[int, int, str, str]] = []
        matrices: dict[tuple[int, ...], list[tuple[int, int, str]]] = {}
        maps: list[tuple[int, int, str, tuple[int, int, int]]] = []  # linear layers reading a flattened conv map
        for gi, g in enumerate(graphs):
            for v, params in enumerate(g.params):
                for role, full in params.items():
                    shape = g.layout(full)
                    flat_head = self.flatten_maps and role == "weight" and len(shape) == 2 and self.lowrank_decoder is None
                    chw = g.flatten_map(v) if flat_head else None  # only 2-d weights can read a flattened map
                    if g.ops[v] in NORMS or len(shape) <= 1:
                        vectors.append((gi, v, role, full))
                    elif chw is not None:
                        maps.append((gi, v, full, chw))
                    elif len(shape) == 2 and self.lowrank_decoder is not None:
                        matrices.setdefault(shape, []).append((gi, v, full))
                    elif len(shape) <= 4:
                        key = (shape[2] if len(shape) > 2 else 1, shape[3] if len(shape) > 3 else 1)
                        groups.setdefault(key, []).append((gi, v, full))
                    else:
                        raise ConfigError(
                            f"unsupported parameter {full!r} of shape {tuple(shape)}: expected at most 4 dimensions, "
                            f"got {len(shape)}; reshape it in a module the GHN can map with custom_ops"
                        )
        for (kh, kw), items in groups.items():
            x = torch.stack([states[gi, v] for gi, v, _ in items])
            blocks = self.decoder.weight(x, kh, kw)
            for (gi, v, full), blk in zip(items, blocks, strict=True):
                out[gi][full] = self._finish(graphs[gi], v, full, fit_shape(blk, graphs[gi].layout(full)))
        if maps:
            _, _, bh, bw = self.block
            blocks = self.decoder.weight(torch.stack([states[gi, v] for gi, v, _, _ in maps]), bh, bw)
            for (gi, v, full, (c, h, w)), blk in zip(maps, blocks, strict=True):
                if blk.shape[-2:] != (h, w):
                    blk = F.interpolate(blk, size=(h, w), mode="bilinear", align_corners=True)
                out_features = graphs[gi].layout(full)[0]
                conv = fit_shape(blk, (out_features, c, h, w))
                out[gi][full] = self._finish(graphs[gi], v, full, conv.reshape(out_features, c * h * w))
        for shape, items in matrices.items():
            assert self.lowrank_decoder is not None
            mats = self.lowrank_decoder(torch.stack([states[gi, v] for gi, v, _ in items]), (shape[0], shape[1]))
            for (gi, v, full), w in zip(items, mats, strict=True):
                out[gi][full] = self._finish(graphs[gi], v, full, w)
        if vectors:
            rows = self.decoder.rows(torch.stack([states[gi, v] for gi, v, _, _ in vectors]))
            for (gi, v, role, full), row in zip(vectors, rows, strict=True):
                shape = graphs[gi].shapes[full]
                is_scale = graphs[gi].ops[v] in NORMS and role == "weight"
                flat = fit_shape(row[0 if is_scale else 1], (math.prod(shape),)).view(shape)
                if is_scale:
                    out[gi][full] = normalize_scale(flat) - 1.0 if self.residual else normalize_scale(flat)
                else:
                    out[gi][full] = normalize_bias(flat) * self.bias_scale
        return out

    def _on_base(self, module: nn.Module, predicted: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """With ``residual``, each predicted correction plus the module's current parameter; else ``predicted``."""
        if not self.residual:
            return predicted
        current = dict(module.named_parameters())
        return {name: current[name].detach().to(delta.dtype) + delta for name, delta in predicted.items()}

    def _finish(self, graph: ModelGraph, v: int, full: str, w: torch.Tensor) -> torch.Tensor:
        """Fan-in normalisation (times ``weight_scale``), then the stored layout (``(in, out)`` weights transposed back)."""
        w = normalize_weight(w, graph.gains[v] if graph.ops[v] != "param" else 1.0)
        if self.weight_scale != 1.0:
            w = w * self.weight_scale
        return w.t() if full in graph.transposed else w

    def predict(self, module: nn.Module, inputs: Any = None) -> dict[str, torch.Tensor]:
        """Every parameter of ``module`` by name, predicted in one forward pass (differentiable when grad is enabled).

        Parameters the forward pass never reads are returned as detached copies of their current values.
        Models ``torch.fx`` cannot trace are read from the autograd graph of one forward pass on ``inputs``
        (Hugging Face models: example inputs from their config when ``inputs`` is ``None``).

        Raises:
            ConfigError: ``module`` cannot be traced, has no parameters, or uses an unsupported operation (named).
        """
        _check_module(module)
        graph = self.graph(module, inputs)
        predicted = self._on_base(module, self.predict_graphs([graph])[0])
        names = dict(module.named_parameters())
        return {name: predicted[name] if name in predicted else p.detach().clone() for name, p in names.items()}

    def forward(self, module: nn.Module) -> dict[str, torch.Tensor]:
        """Same as :meth:`predict` (so ``torch.func.functional_call(ghn, params, (module,))`` works)."""
        return self.predict(module)

    @torch.no_grad()
    def initialize_(self, module: nn.Module, data: torch.Tensor | Iterable[Any] | None = None, inputs: Any = None) -> nn.Module:
        """Set ``module``'s parameters in place to the predicted ones (like GHN-3's ``ghn(model)``); returns ``module``.

        BatchNorm running statistics are reset (mean 0, variance 1); with ``data`` (an input tensor or an iterable of
        input batches, or of ``(x, y)`` pairs) they are then recomputed over those batches with the predicted weights,
        so ``module.eval()`` gives calibrated outputs. Without ``data``, evaluate BatchNorm models in train mode or
        calibrate them yourself. ``inputs`` are example inputs for models ``torch.fx`` cannot trace (see :meth:`predict`).
        On error the module is left unchanged (parameters and buffers).

        Raises:
            ConfigError: ``data`` is not a tensor or an iterable of batches, a batch does not run through ``module``,
                or :meth:`predict` fails.
        """
        _check_module(module)
        batches = _calibration_batches(data)
        predicted = self.predict(module, inputs)  # raises before anything is modified
        saved = {k: v.clone() for k, v in module.state_dict().items()}
        try:
            for name, p in module.named_parameters():
                p.copy_(predicted[name].to(p.dtype))
            recalibrate_batchnorm(module, batches)
        except Exception as exc:
            module.load_state_dict(saved)
            raise ConfigError(
                f"expected calibration batches that {type(module).__name__} accepts, got {type(exc).__name__} from a forward pass: "
                f"{exc}; the module is unchanged. Pass input batches of the model's input shape"
            ) from exc
        return module

    # -- training ---------------------------------------------------------------------------
    def loss(self, modules: Sequence[nn.Module], x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Mean cross-entropy of ``modules`` on ``(x, y)`` with predicted parameters, and their mean accuracy.

        Classifiers give logits ``(B, C)`` for labels ``(B,)``; sequence models (a Hugging Face output's ``.logits``
        included) give ``(B, T, V)`` for next-token targets ``(B, T)``.
        """
        if isinstance(modules, nn.Module) or not isinstance(modules, Sequence) or not modules:
            raise ConfigError(f"expected a non-empty list of nn.Module, got {describe(modules)}; pass e.g. [net]")
        for m in modules:
            _check_module(m)
        _check_batch(x, y)
        predicted = self.predict_graphs([self.graph(m, x[:1]) for m in modules])
        losses, correct = [], 0.0
        for module, params in zip(modules, predicted, strict=True):
            module.train()
            state = {**dict(module.named_buffers()), **self._on_base(module, params)}
            out = functional_call(module, state, (x,), strict=False)
            logits = getattr(out, "logits", out)
            flat, target = (logits.flatten(0, -2), y.flatten()) if logits.dim() > 2 else (logits, y)
            losses.append(nn.functional.cross_entropy(flat, target))
            correct += float((flat.argmax(1) == target).float().mean())
        return torch.stack(losses).mean(), correct / len(modules)

    def fit(
        self,
        arch_sampler: Any,
        train_loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
        steps: int,
        *,
        meta_batch: int = 8,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        grad_clip: float | None = 5.0,
        seed: int = 0,
        callback: Callable[[int, float, float], None] | None = None,
    ) -> list[float]:
        """Train on architectures from ``arch_sampler`` (GHN-2: each step, ``meta_batch`` architectures on one batch).

        Args:
            arch_sampler: an :class:`~.ArchitectureSampler` (its ``sample(generator)``) or any callable
                ``generator -> nn.Module``.
            train_loader: ``(x, y)`` batches; cycled until ``steps`` optimizer steps are done.
            steps: optimizer steps (Adam).
            callback: called as ``callback(step, loss, accuracy)`` after every step.

        Returns:
            the loss of every step.
        """
        steps = check_int(steps, "steps", low=1, owner="GraphHyperNetwork.fit")
        meta_batch = check_int(meta_batch, "meta_batch", low=1, owner="GraphHyperNetwork.fit")
        lr = check_float(lr, "lr", low=0, low_open=True, owner="GraphHyperNetwork.fit")
        weight_decay = check_float(weight_decay, "weight_decay", low=0, owner="GraphHyperNetwork.fit")
        grad_clip = check_float(grad_clip, "grad_clip", low=0, low_open=True, optional=True, owner="GraphHyperNetwork.fit")
        seed = check_int(seed, "seed", owner="GraphHyperNetwork.fit")
        sample = getattr(arch_sampler, "sample", arch_sampler)
        if not callable(sample):
            raise ConfigError(
                f"expected an architecture sampler (with .sample(generator)) or a callable, got {type(arch_sampler).__name__}; "
                "pass an ArchitectureSampler()"
            )
        if not isinstance(train_loader, Iterable) or isinstance(train_loader, (str, bytes, Mapping)):
            raise ConfigError(f"expected train_loader to be an iterable of (x, y) batches, got {describe(train_loader)}; pass a DataLoader")
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(self.parameters(), lr=lr, weight_decay=weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
        device = self.op_embedding.weight.device
        losses: list[float] = []
        self.train()
        while len(losses) < steps:
            before = len(losses)
            for batch in train_loader:
                if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                    raise ConfigError(f"expected (x, y) batches from train_loader, got {describe(batch)}; yield (inputs, labels) pairs")
                x, y = batch
                _check_batch(x, y)
                modules = [sample(generator).to(device) for _ in range(meta_batch)]
                loss, acc = self.loss(modules, x.to(device), y.to(device))
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"expected a finite loss, got {float(loss.detach())} at step {len(losses) + 1}; lower lr or check the data"
                    )
                optimizer.zero_grad()
                loss.backward()
                norm = nn.utils.clip_grad_norm_(self.parameters(), grad_clip or math.inf)
                if not torch.isfinite(norm):  # the step would write NaN: stop at the last finite weights
                    raise TrainingError(
                        f"expected finite gradients, got norm {float(norm)} at step {len(losses) + 1}; lower lr or check the data"
                    )
                optimizer.step()
                scheduler.step()
                losses.append(float(loss.detach()))
                if callback is not None:
                    callback(len(losses), losses[-1], acc)
                if len(losses) >= steps:
                    break
            if len(losses) == before:
                raise ConfigError(f"expected train_loader to yield batches, got none; pass a non-empty loader (steps={steps})")
        self.eval()
        return losses

    # -- files ------------------------------------------------------------------------------
    def save(self, path: str | Path, info: Mapping[str, Any] | None = None) -> Path:
        """Write the weights (safetensors, atomically) with the config as metadata, and ``<path>.json`` with config + ``info``."""
        path = check_path(path, owner="GraphHyperNetwork.save")
        if info is not None and not isinstance(info, Mapping):
            raise ConfigError(f"expected info to be None or a dict, got {describe(info)}; pass e.g. {{'dataset': 'mnist'}}")
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        meta = {"hypernet": "GraphHyperNetwork", "config": json.dumps(self.config())}
        atomic_write_bytes(path, safetensors_bytes(tensors, metadata=meta))
        atomic_write_text(path.with_suffix(".json"), json.dumps({"config": self.config(), **dict(info or {})}, indent=2) + "\n")
        return path

    @classmethod
    def load(
        cls, path: str | Path, custom_ops: Mapping[Any, str] | None = None, leaf_modules: Sequence[type[nn.Module]] = ()
    ) -> GraphHyperNetwork:
        """A GHN from a :meth:`save` file (safetensors only: loading never executes code)."""
        path = check_path(path, owner="GraphHyperNetwork.load")
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
            if meta.get("hypernet") != "GraphHyperNetwork":
                raise ValueError(f"its metadata says {meta.get('hypernet')!r}")
            config = {"flatten_maps": False, **json.loads(meta["config"])}  # saved before the option: the old decoding
            ghn = cls(**config, custom_ops=custom_ops, leaf_modules=leaf_modules)
            state = load_file(str(path))
            ops = state.get("op_embedding.weight")
            if ops is not None and ops.shape[0] < len(OPS):  # saved before new categories were added: they start at 0
                state["op_embedding.weight"] = torch.cat([ops, ops.new_zeros(len(OPS) - ops.shape[0], ops.shape[1])])
            ghn.load_state_dict(state)
        except Exception as exc:
            raise CheckpointError(
                f"expected a GraphHyperNetwork safetensors file at {path}, got an unreadable one ({exc}); write one with .save()"
            ) from exc
        return ghn.eval()

    @classmethod
    def pretrained(cls, name: str) -> GraphHyperNetwork:
        """A GHN shipped with the package: ``"fashion-mnist"`` (``benchmarks/ghn.py --save``).

        ``"gpt2-char"`` (character-level GPT-2 LMs) exists once ``benchmarks/ghn_lm.py --save`` has written it.
        """
        known = sorted(p.stem.removeprefix("ghn_") for p in WEIGHTS.glob("ghn_*.safetensors"))
        if not isinstance(name, str) or name not in known:
            raise ConfigError(f"expected a pretrained name in {known}, got {name!r}; pass one of them")
        return cls.load(WEIGHTS / f"ghn_{name}.safetensors")


def _calibration_batches(data: Any) -> list[Any] | None:
    """``data`` as a list of batches (tensors or ``(x, ...)`` tuples), checked before anything is modified."""
    if data is None:
        return None
    if isinstance(data, torch.Tensor):
        return [data]
    if isinstance(data, str | bytes | Mapping) or not isinstance(data, Iterable):
        raise ConfigError(
            f"expected data= to be None, an input tensor or an iterable of input batches (or of (x, y) pairs), "
            f"got {type(data).__name__}; fix: pass e.g. data=x[:64] or data=train_loader"
        )
    batches = list(data)
    for i, batch in enumerate(batches):
        x = batch[0] if isinstance(batch, tuple | list) and batch else batch
        if not isinstance(x, torch.Tensor):
            raise ConfigError(
                f"expected every batch of data= to be a tensor or an (x, y) pair of tensors, got {type(x).__name__} "
                f"at batch {i}; fix: pass input tensors"
            )
    return batches


@guarded_function
def recalibrate_batchnorm(module: nn.Module, data: torch.Tensor | Iterable[Any] | None) -> None:
    """Reset BatchNorm running statistics and, with ``data``, recompute them as a cumulative average over its batches."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    for m in norms:
        m.reset_running_stats()
    if data is None or not norms:
        return
    batches = [data] if isinstance(data, torch.Tensor) else data
    momenta = [m.momentum for m in norms]
    was_training = module.training
    try:
        for m in norms:
            m.momentum = None  # cumulative moving average
        module.train()
        with torch.no_grad():
            for batch in batches:
                x = batch[0] if isinstance(batch, tuple | list) else batch
                module(x)
    finally:
        for m, mom in zip(norms, momenta, strict=True):
            m.momentum = mom
        module.train(was_training)


def _check_batch(x: Any, y: Any) -> None:
    """``(x, y)``: an input tensor (floats, or token ids) and integer labels / targets with as many rows."""
    if not isinstance(x, torch.Tensor) or x.dim() < 1 or len(x) == 0:
        raise ConfigError(f"expected x to be a non-empty tensor, got {describe(x)}; pass a batch of inputs")
    if not isinstance(y, torch.Tensor) or y.dtype != torch.long or y.dim() < 1 or len(y) != len(x):
        raise ConfigError(f"expected y to be int64 labels with {len(x)} rows (as x), got {describe(y)}; pass labels as a LongTensor")


def _check_module(module: Any) -> None:
    if not isinstance(module, nn.Module):
        raise ConfigError(f"expected an nn.Module, got {describe(module)}; pass the network whose parameters to predict")
    if next(iter(module.parameters()), None) is None:
        raise ConfigError(
            f"expected a model with parameters to predict, got {type(module).__name__} with none; pass a network with parameters"
        )


def _check_arguments(hidden: Any, block: Any, virtual_edges: Any, rounds: Any, layernorm: Any, custom_ops: Any, leaf_modules: Any) -> None:
    """The constructor's arguments, checked before anything is built."""
    ok = (
        is_int(hidden)
        and hidden >= 2
        and isinstance(block, Sequence)
        and not isinstance(block, str)
        and len(block) == 4
        and all(is_int(b) and b >= 1 for b in block)
        and is_int(rounds)
        and rounds >= 1
        and is_int(virtual_edges)
        and virtual_edges >= 0
    )
    if not ok:
        raise ConfigError(
            "expected hidden >= 2, block of 4 positive sizes (O, I, K, K), rounds >= 1, virtual_edges >= 0 (ints), "
            f"got hidden={hidden!r}, block={block!r}, rounds={rounds!r}, virtual_edges={virtual_edges!r}; "
            "pass e.g. hidden=32, block=(64, 64, 5, 5)"
        )
    check_allocation(hidden * hidden * 16 + math.prod(block) * hidden, "GraphHyperNetwork(hidden=..., block=...)", "use smaller sizes")
    if not isinstance(layernorm, bool):
        raise ConfigError(f"expected layernorm to be a bool, got {describe(layernorm)}; pass True or False")
    if custom_ops is not None and not isinstance(custom_ops, Mapping):
        raise ConfigError(f"expected custom_ops to be None or a dict {{op: name}}, got {describe(custom_ops)}; pass e.g. {{my_fn: 'conv'}}")
    if isinstance(leaf_modules, (str, bytes)) or not isinstance(leaf_modules, Sequence):
        raise ConfigError(f"expected leaf_modules to be a sequence of nn.Module classes, got {describe(leaf_modules)}; pass e.g. [MyBlock]")
    if not all(isinstance(m, type) and issubclass(m, nn.Module) for m in leaf_modules):
        raise ConfigError(f"expected leaf_modules to hold nn.Module classes, got {leaf_modules!r}; pass the classes, not instances")
