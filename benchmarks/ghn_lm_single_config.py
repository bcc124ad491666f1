"""Can the LoGAH-style GHN fit ONE GPT-2 config as fast as that model trains directly? (issue 30 diagnosis)

Results in ``results/ghn_lm_pilot_diagnosis.md`` (validation config ``L2-d128-h8``; never a held-out one)::

    python benchmarks/ghn_lm_single_config.py --mode direct
    python benchmarks/ghn_lm_single_config.py --mode ghn --lr 1e-3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from ghn_lm import CharCorpus, lm_loss, windows

import hypernet as hn
from hypernet.recipes.graph._gpt2 import GPT2Spec


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("direct", "ghn"), default="ghn")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-scale", type=float, default=0.25, help="ghn: GraphHyperNetwork(weight_scale=) (ghn_lm.py's default)")
    p.add_argument("--positions", action="store_true", help="ghn: GraphHyperNetwork(positions=True)")
    p.add_argument("--hidden", type=int, default=64, help="ghn: node embedding size (ghn_lm.py's default)")
    args = p.parse_args()
    torch.set_num_threads(1)
    corpus = CharCorpus()
    spec = GPT2Spec(2, 128, 8)
    train = windows(corpus.train, args.steps, 8, 32, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    start = time.perf_counter()
    if args.mode == "direct":
        model = spec.build(corpus.vocab, 32)
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        losses = []
        for x, y in train:
            loss = lm_loss(model, x, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    else:
        ghn = hn.GraphHyperNetwork(
            hidden=args.hidden,
            block=(256, 4, 1, 1),
            virtual_edges=50,
            lowrank=64,
            lowrank_rows=256,
            weight_scale=args.weight_scale,
            positions=args.positions,
        )
        losses = ghn.fit(lambda g: spec.build(corpus.vocab, 32), train, steps=args.steps, meta_batch=1, lr=args.lr, seed=0)
    means = [round(statistics.mean(losses[i : i + 25]), 3) for i in range(0, args.steps, 25)]
    setting = f"lr {args.lr}" + (
        "" if args.mode == "direct" else f", weight scale {args.weight_scale}, hidden {args.hidden}, positions {args.positions}"
    )
    print(f"{args.mode} {setting}: {time.perf_counter() - start:.0f} s; training loss per 25 steps {means}")


if __name__ == "__main__":
    main()
