"""Which weight statistics fine-tune well? Random inits of a GPT-2 validation config (issue 30 pilot, one seed).

Not a GHN run: it checks what the LoGAH-style decoder's output should look like before training one.
Config L2-d128-h4 (in the training ranges, not a held-out config), character-level BBC News + fortunes,
200 AdamW steps (lr 1e-3, 50 warm-up, batch 8 x 32 characters), validation loss every 50 steps. Inits:
Hugging Face default (std 0.02), fan-in scaled Gaussian (std 1/sqrt(fan_in), the GHN's normalisation),
the same with rank r (random ``(n, r) x (r, m)`` factors), and the same times 0.25.

    python benchmarks/ghn_lm_initcheck.py
"""

from __future__ import annotations

import copy
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from ghn_lm import CharCorpus, lm_loss, mean_loss, windows

from hypernet.recipes.graph._gpt2 import GPT2Spec

INITS = ("default", "fanin", "fanin-rank16", "fanin*0.25", "fanin-rank16*0.25", "fanin-rank64*0.25")


def reinit(model: torch.nn.Module, name: str) -> None:
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if p.dim() != 2:
                continue
            rows, cols = p.shape
            fan = rows if ".c_" in pname else cols  # Conv1D stores (in, out)
            if "rank" in name:
                r = int(name.split("rank")[1].split("*")[0])
                w = torch.randn(rows, r) @ torch.randn(r, cols) / math.sqrt(r)
            else:
                w = torch.randn(rows, cols)
            p.copy_(w / math.sqrt(fan) * (0.25 if name.endswith("*0.25") else 1.0))


def main() -> int:
    torch.set_num_threads(1)
    corpus = CharCorpus()
    g = torch.Generator().manual_seed(0)
    train, val = windows(corpus.train, 200, 8, 32, g), windows(corpus.val, 4, 16, 32, g)
    torch.manual_seed(0)
    base = GPT2Spec(2, 128, 4).build(corpus.vocab, 32)
    for name in INITS:
        model = copy.deepcopy(base)
        if name != "default":
            reinit(model, name)
        opt = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=0.01)
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 50))
        curve = []
        for step, (x, y) in enumerate(train, 1):
            model.train()
            loss = lm_loss(model, x, y)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            schedule.step()
            if step % 50 == 0:
                curve.append(round(mean_loss(model, val), 3))
        print(name, curve, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
