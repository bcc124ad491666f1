"""Adapters that run the same work in the peer libraries hypnettorch and HyperLight (optional extra ``bench``).

Each adapter builds the peer's hypernetwork for an MLP target (784-w-w-10 by
default) with settings matched to ours (condition embedding of size 8, one hidden
layer of 64 units, same chunk size for chunked), and exposes
``step(x, y, ids)``: forward + backward of cross-entropy, generating one weight
set per unique id the way the library supports it (one set per call; several
sets mean a Python loop).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

Step = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | int], None]


def available() -> dict[str, bool]:
    out = {}
    for name in ("hypnettorch", "hyperlight"):
        try:
            __import__(name)
            out[name] = True
        except Exception:
            out[name] = False
    return out


def hypnettorch_step(sizes: Sequence[int], num_conds: int, generator: str, chunk_size: int = 0) -> tuple[Step, int]:
    """hypnettorch: ``HMLP`` / ``ChunkedHMLP`` generating weights of its own ``MLP`` main network."""
    from hypnettorch.hnets import HMLP, ChunkedHMLP
    from hypnettorch.mnets import MLP

    mnet = MLP(n_in=sizes[0], n_out=sizes[-1], hidden_layers=tuple(sizes[1:-1]), no_weights=True, verbose=False)
    if generator == "chunked":
        hnet: nn.Module = ChunkedHMLP(
            mnet.param_shapes, chunk_size=chunk_size, chunk_emb_size=8, cond_in_size=8, layers=(64,), num_cond_embs=num_conds, verbose=False
        )
    else:
        hnet = HMLP(mnet.param_shapes, cond_in_size=8, layers=(64,), num_cond_embs=num_conds, verbose=False)

    def step(x: torch.Tensor, y: torch.Tensor, ids: torch.Tensor | int) -> None:
        hnet.zero_grad()
        if isinstance(ids, int):
            loss = F.cross_entropy(mnet.forward(x, weights=hnet.forward(cond_id=ids)), y)
        else:
            # one weight set per call: loop over the unique conditions, then over their samples
            outs = torch.empty(x.shape[0], sizes[-1])
            uniq = ids.unique()
            for u in uniq.tolist():
                rows = (ids == u).nonzero().squeeze(1)
                outs = outs.index_put((rows,), mnet.forward(x[rows], weights=hnet.forward(cond_id=u)))
            loss = F.cross_entropy(outs, y)
        loss.backward()

    return step, sum(p.numel() for p in hnet.parameters())


def hyperlight_step(sizes: Sequence[int], num_conds: int) -> tuple[Step, int]:
    """HyperLight: ``hypernetize`` the target, a ``HyperNet`` MLP, and ``using_externals`` per weight set."""
    import hyperlight as hl

    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    target = nn.Sequential(*layers)
    mainnet = hl.hypernetize(target, modules=[m for m in target if isinstance(m, nn.Linear)])
    hypernet = hl.HyperNet(input_shapes={"c": (8,)}, output_shapes=mainnet.external_shapes(), hidden_sizes=[64])
    table = nn.Parameter(torch.rand(num_conds, 8))  # HyperLight takes inputs in [0, 1]

    def step(x: torch.Tensor, y: torch.Tensor, ids: torch.Tensor | int) -> None:
        hypernet.zero_grad()
        table.grad = None
        if isinstance(ids, int):
            with mainnet.using_externals(hypernet(c=table[ids : ids + 1])):
                out = mainnet(x)
        else:
            out = torch.empty(x.shape[0], sizes[-1])
            for u in ids.unique().tolist():
                rows = (ids == u).nonzero().squeeze(1)
                with mainnet.using_externals(hypernet(c=table[u : u + 1])):
                    out = out.index_put((rows,), mainnet(x[rows]))
        F.cross_entropy(out, y).backward()

    return step, sum(p.numel() for p in hypernet.parameters()) + table.numel()
