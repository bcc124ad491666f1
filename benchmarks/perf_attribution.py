"""Where HyperModel's fixed per-call overhead goes: cProfile cumulative time of the core's helpers per forward + backward.

Tiny target (MLP 4-4-4-4, batch 8, 1 thread, chunked generator), 3,000 profiled calls after 300 warm-up calls.
cProfile inflates Python-heavy code several times over, so read the numbers as shares, not as the overhead itself
(that is ``perf.py --sections overhead``). Compare library versions by pointing ``PYTHONPATH`` at each::

    PYTHONPATH=/path/to/old/src python benchmarks/perf_attribution.py
    PYTHONPATH=src python benchmarks/perf_attribution.py
"""

from __future__ import annotations

import cProfile
import pstats
import sys

import torch
from torch import nn

import hypernet as hn

HELPERS = (
    "functional_call", "_swapped_call", "_call_target", "_inputs", "tree_flatten", "_protect_buffers",
    "sizes", "numel", "check_allocation", "unflatten",
)  # fmt: skip
CALLS, WARMUP = 3000, 300


def main(names: tuple[str, ...]) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    target = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    model = hn.HyperModel(target, condition=hn.Embedding(8, 8), generator="chunked")
    x = torch.randn(8, 4)

    def step() -> None:
        model(x, 3).sum().backward()

    for _ in range(WARMUP):
        step()
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(CALLS):
        step()
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    rows = [
        (fn, cumulative / CALLS * 1e6, calls / CALLS)
        for (path, _, fn), (_, calls, _, cumulative, _) in stats.items()
        if fn in names and ("hypernet" in path or fn in ("functional_call", "tree_flatten"))
    ]
    print(f"hypernet from {hn.__file__}")
    for fn, us, calls in sorted(rows, key=lambda r: -r[1]):
        print(f"{fn:20s} {us:8.1f} us per call (cumulative, profiled), {calls:.1f} calls")


if __name__ == "__main__":
    main(tuple(sys.argv[1].split(",")) if len(sys.argv) > 1 else HELPERS)
