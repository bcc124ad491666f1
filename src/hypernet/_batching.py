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

Every input that carries the batch travels with its samples (see :mod:`hypernet._inputs`).
Outputs may be any pytree of tensors (tuples, dicts, Hugging Face ``ModelOutput``s, whose
type is kept); a leaf that is not a tensor (a key/value cache object) cannot be split per
sample and raises a :class:`~hypernet.HypernetError` naming it.

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
from torch.utils._pytree import keystr, tree_flatten, tree_flatten_with_path, tree_map, tree_unflatten

from ._inputs import Args, Inputs, Kwargs
from .errors import HypernetError

Call = Callable[[dict[str, torch.Tensor], Args, Kwargs], Any]
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


def _leaf_paths(out: Any) -> list[str]:
    try:
        return [keystr(path) or "(the output)" for path, _ in tree_flatten_with_path(out)[0]]
    except (NotImplementedError, ValueError, TypeError):  # a pytree node registered without key paths
        return [f"leaf {i}" for i in range(len(tree_flatten(out)[0]))]


def check_splittable(out: Any) -> None:
    """Raise a HypernetError naming the first output leaf that is not a tensor (it cannot be split per sample)."""
    leaves = tree_flatten(out)[0]
    for i, leaf in enumerate(leaves):
        if not isinstance(leaf, torch.Tensor):
            where = _leaf_paths(out)[i]
            hint = (
                "pass use_cache=False to the model (a key/value cache cannot be split per sample)"
                if "cache" in type(leaf).__name__.lower() or "past" in where
                else "wrap the target so it returns tensors only"
            )
            raise HypernetError(
                f"expected every output of the target to be a tensor so it can be split per sample, "
                f"got a {type(leaf).__name__} at output {where}; {hint}, or use a single condition for the batch"
            )


def _to_front(out: Any, batch_dim: int, size: int) -> Any:
    check_splittable(out)
    leaves, spec = tree_flatten(out)
    paths = None
    moved = []
    for i, t in enumerate(leaves):
        if t.dim() <= batch_dim or t.shape[batch_dim] != size:
            paths = paths or _leaf_paths(out)
            raise HypernetError(
                f"expected every output of the target to have the batch ({size} samples) at dim {batch_dim}, "
                f"got shape {tuple(t.shape)} at output {paths[i]}; wrap the target so it returns batch-first tensors, "
                "or set HyperModel(batch_dim=...)"
            )
        moved.append(t.movedim(batch_dim, 0))
    return tree_unflatten(moved, spec)


def _from_front(out: Any, batch_dim: int) -> Any:
    return tree_map(lambda t: t.movedim(0, batch_dim), out)


def _gather_groups(inverse: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Rows filling a ``(count, group)`` grid of samples sorted by set, and each sample's slot in it.

    Slots past a set's own samples repeat the set's first sample (never zeros: a padded
    attention mask of zeros can give NaN), and are discarded afterwards.
    """
    n = inverse.numel()
    sizes = torch.bincount(inverse, minlength=count)
    group = int(sizes.max())
    order = torch.argsort(inverse, stable=True)
    starts = torch.cumsum(sizes, 0) - sizes
    sorted_sets = inverse[order]
    slots = sorted_sets * group + (torch.arange(n, device=inverse.device) - starts[sorted_sets])
    source = order[starts].repeat_interleave(group).index_copy(0, slots, order)
    sample_slot = torch.empty_like(slots).index_copy_(0, order, slots)
    return source, sample_slot, group


def per_sample_vmap(call: Call, params: Params, inputs: Inputs, inverse: torch.Tensor, count: int) -> Any:
    """Per-sample outputs with ``count`` weight sets, ``inverse[i]`` naming sample i's set."""
    n, dim = inverse.numel(), inputs.dim
    front = inputs.front()
    sizes = torch.bincount(inverse, minlength=count)
    if count * int(sizes.max()) <= 2 * n:
        source, sample_slot, group = _gather_groups(inverse, count)
        grouped = [t.index_select(0, source).view(count, group, *t.shape[1:]) for t in front]

        def one(p: Params, leaves: list[torch.Tensor]) -> Any:
            args, kwargs = inputs.rebuild(leaves)
            return _to_front(call(p, args, kwargs), dim, group)

        with no_fused_attention():
            out = torch.func.vmap(one, randomness="different")(params, grouped)
        return _from_front(tree_map(lambda t: t.flatten(0, 1).index_select(0, sample_slot), out), dim)

    per_sample = {k: v.index_select(0, inverse) for k, v in params.items()}

    def single(p: Params, leaves: list[torch.Tensor]) -> Any:
        args, kwargs = inputs.rebuild([t.unsqueeze(0) for t in leaves])
        return _to_front(call(p, args, kwargs), dim, 1)

    with no_fused_attention():
        out = torch.func.vmap(single, randomness="different")(per_sample, front)
    return _from_front(tree_map(lambda t: t.squeeze(1), out), dim)


def per_sample_loop(call: Call, params: Params, inputs: Inputs, inverse: torch.Tensor, count: int) -> Any:
    """Same result as :func:`per_sample_vmap`, looping over the ``count`` unique weight sets."""
    outs, index = [], []
    for u in range(count):
        rows = (inverse == u).nonzero().squeeze(1)
        args, kwargs = inputs.select(rows).rebuild()
        outs.append(call({k: v[u] for k, v in params.items()}, args, kwargs))
        index.append(rows)
    return merge_rows(outs, index, inputs.dim)


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


def sets_vmap(call: Call, params: Params, inputs: Inputs) -> Any:
    """One output per weight set, stacked first; batched leaves of ``inputs`` (dim 0, one entry per set) are split along the sets."""

    def one(p: Params, leaves: list[torch.Tensor]) -> Any:
        args, kwargs = inputs.rebuild(leaves)  # vmap hands each set its own slice (the leading dim removed)
        out = call(p, args, kwargs)
        check_splittable(out)
        return out

    with no_fused_attention():
        return torch.func.vmap(one, randomness="different")(params, inputs.front())


def sets_loop(call: Call, params: Params, inputs: Inputs, count: int) -> Any:
    """Loop version of :func:`sets_vmap`."""
    outs = []
    for u in range(count):
        args, kwargs = inputs.rebuild([t[u] for t in inputs.front()])
        outs.append(call({k: v[u] for k, v in params.items()}, args, kwargs))
    for out in outs:
        check_splittable(out)
    leaves = [tree_flatten(o)[0] for o in outs]
    spec = tree_flatten(outs[0])[1]
    return tree_unflatten([torch.stack([lv[i] for lv in leaves]) for i in range(len(leaves[0]))], spec)
