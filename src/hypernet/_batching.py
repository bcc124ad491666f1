"""Run a target with several weight sets in one call: vmap over groups, or a loop over unique sets.

Per-sample conditions are deduplicated upstream to U weight sets; here the B
samples are arranged so each weight set meets only its own samples:

* ``grouped``: samples are scattered into a zero-padded ``(U, G, ...)`` block
  (G = largest group) and the target is vmapped over U. Padding rows are
  discarded, so per-row targets (Linear, Conv, attention, LayerNorm) give the
  exact per-sample result.
* ``gathered``: each sample gets its own copy of its weight set and the target is
  vmapped over B (used when groups are so uneven that padding would cost more).
* ``loop``: a Python loop over the U unique weight sets (not over samples), for
  targets vmap cannot batch (recurrent layers in torch 2.x) or that couple rows
  (BatchNorm in training mode).

The model may also split the U sets into blocks (generate, run, next block) so
each block's weights stay in cache; :func:`merge_rows` and :func:`cat_sets` put
the blocks' outputs back together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten

from .errors import HypernetError

Call = Callable[[dict[str, torch.Tensor], torch.Tensor], Any]
Params = dict[str, torch.Tensor]


@contextmanager
def no_fused_attention() -> Iterator[None]:
    """vmap has no batching rule for the fused Transformer fast path or flash attention; use the math kernels."""
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel([SDPBackend.MATH]):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)


def _to_front(out: Any, batch_dim: int, size: int) -> Any:
    def move(t: torch.Tensor) -> torch.Tensor:
        if t.dim() <= batch_dim or t.shape[batch_dim] != size:
            raise HypernetError(
                f"expected every output of the target to have the batch ({size} samples) at dim {batch_dim}, "
                f"got an output of shape {tuple(t.shape)}; wrap the target so it returns batch-first tensors, "
                "or set HyperModel(batch_dim=...)"
            )
        return t.movedim(batch_dim, 0)

    return tree_map(move, out)


def _from_front(out: Any, batch_dim: int) -> Any:
    return tree_map(lambda t: t.movedim(0, batch_dim), out)


def per_sample_vmap(call: Call, params: Params, x: torch.Tensor, inverse: torch.Tensor, count: int, batch_dim: int) -> Any:
    """Per-sample outputs with ``count`` weight sets, ``inverse[i]`` naming sample i's set."""
    xb = x.movedim(batch_dim, 0)
    n = xb.shape[0]
    sizes = torch.bincount(inverse, minlength=count)
    group = int(sizes.max())
    if count * group <= 2 * n:
        order = torch.argsort(inverse, stable=True)
        starts = torch.cumsum(sizes, 0) - sizes
        sorted_sets = inverse[order]
        slots = sorted_sets * group + (torch.arange(n, device=x.device) - starts[sorted_sets])
        padded = xb.new_zeros((count * group, *xb.shape[1:])).index_copy(0, slots, xb[order])
        grouped = padded.view(count, group, *xb.shape[1:])

        def one(p: Params, xg: torch.Tensor) -> Any:
            return _to_front(call(p, xg.movedim(0, batch_dim)), batch_dim, group)

        with no_fused_attention():
            out = torch.func.vmap(one, randomness="different")(params, grouped)
        back = torch.empty_like(order)
        back[order] = torch.arange(n, device=x.device)
        rows = slots[back]
        return _from_front(tree_map(lambda t: t.flatten(0, 1).index_select(0, rows), out), batch_dim)

    per_sample = {k: v.index_select(0, inverse) for k, v in params.items()}

    def single(p: Params, xi: torch.Tensor) -> Any:
        return _to_front(call(p, xi.unsqueeze(0).movedim(0, batch_dim)), batch_dim, 1)

    with no_fused_attention():
        out = torch.func.vmap(single, randomness="different")(per_sample, xb)
    return _from_front(tree_map(lambda t: t.squeeze(1), out), batch_dim)


def per_sample_loop(call: Call, params: Params, x: torch.Tensor, inverse: torch.Tensor, count: int, batch_dim: int) -> Any:
    """Same result as :func:`per_sample_vmap`, looping over the ``count`` unique weight sets."""
    outs, index = [], []
    for u in range(count):
        rows = (inverse == u).nonzero().squeeze(1)
        sub = x.index_select(batch_dim, rows)
        outs.append(call({k: v[u] for k, v in params.items()}, sub))
        index.append(rows)
    return merge_rows(outs, index, batch_dim)


def merge_rows(outs: list[Any], rows: list[torch.Tensor], batch_dim: int) -> Any:
    """Outputs computed on disjoint subsets ``rows[i]`` of a batch, put back in the batch's order."""
    fronts = [_to_front(o, batch_dim, r.numel()) for o, r in zip(outs, rows, strict=True)]
    order = torch.cat(rows)
    back = torch.empty_like(order)
    back[order] = torch.arange(order.numel(), device=order.device)
    leaves = [tree_flatten(o)[0] for o in fronts]
    spec = tree_flatten(fronts[0])[1]
    merged = [torch.cat([lv[i] for lv in leaves]).index_select(0, back) for i in range(len(leaves[0]))]
    return _from_front(tree_unflatten(merged, spec), batch_dim)


def cat_sets(outs: list[Any]) -> Any:
    """Concatenate per-block outputs whose leaves have the weight sets first."""
    if len(outs) == 1:
        return outs[0]
    leaves = [tree_flatten(o)[0] for o in outs]
    spec = tree_flatten(outs[0])[1]
    return tree_unflatten([torch.cat([lv[i] for lv in leaves]) for i in range(len(leaves[0]))], spec)


def sets_vmap(call: Call, params: Params, x: Any, x_batched: bool) -> Any:
    """One output per weight set, stacked first; ``x`` shared (draws) or split along dim 0 (grouped)."""
    with no_fused_attention():
        return torch.func.vmap(call, in_dims=(0, 0 if x_batched else None), randomness="different")(params, x)


def sets_loop(call: Call, params: Params, x: Any, x_batched: bool, count: int) -> Any:
    """Loop version of :func:`sets_vmap`."""
    outs = [call({k: v[u] for k, v in params.items()}, x[u] if x_batched else x) for u in range(count)]
    leaves = [tree_flatten(o)[0] for o in outs]
    spec = tree_flatten(outs[0])[1]
    return tree_unflatten([torch.stack([lv[i] for lv in leaves]) for i in range(len(leaves[0]))], spec)
