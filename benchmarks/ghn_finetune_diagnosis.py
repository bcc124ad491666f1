"""Why GHN initialisation loses to PyTorch's default on some deep nets after 100 fine-tuning steps (issue 30).

Validation images only (Fashion-MNIST train images 50,000-51,999; never used by a reported number): for the
first ``--n`` architectures of a sampler split, fine-tune 100 steps from the shipped GHN's prediction and from
PyTorch's default init with the benchmark's SGD (lr 0.02, momentum 0.9, batch 60, gradient clipping at 5, the
same batches), and print the loss and gradient-norm curves (means over 20 steps) and how many steps were clipped.

    python benchmarks/ghn_finetune_diagnosis.py --split deep --n 6
"""

from __future__ import annotations

import argparse
import statistics

import torch
from torch import nn

import hypernet as hn
from hypernet.data.fashion_mnist import load_fashion_mnist
from hypernet.recipes.graph import ArchitectureSampler


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--split", default="deep")
    p.add_argument("--n", type=int, default=6)
    p.add_argument("--steps", type=int, default=100)
    args = p.parse_args()
    torch.set_num_threads(1)
    data = load_fashion_mnist()
    x_tr, y_tr = data.x_train[:50000].view(-1, 1, 28, 28), data.y_train[:50000]
    x_va, y_va = data.x_train[50000:52000].view(-1, 1, 28, 28), data.y_train[50000:52000]
    ghn = hn.GraphHyperNetwork.pretrained("fashion-mnist")
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(50000, generator=g)
    calib = [x_tr[perm[-64 * (k + 1) :][:64]] for k in range(4)]
    order = torch.randperm(50000, generator=g)

    def accuracy(net: nn.Module) -> float:
        net.eval()
        with torch.no_grad():
            return 100.0 * float((net(x_va).argmax(1) == y_va).float().mean())

    def finetune(net: nn.Module) -> tuple[list[float], list[float]]:
        optimizer = torch.optim.SGD(net.parameters(), lr=0.02, momentum=0.9)
        net.train()
        losses, norms = [], []
        for s in range(args.steps):
            idx = order[(s * 60) % 50000 :][:60]
            loss = nn.functional.cross_entropy(net(x_tr[idx]), y_tr[idx])
            optimizer.zero_grad()
            loss.backward()
            norms.append(float(nn.utils.clip_grad_norm_(net.parameters(), 5.0)))
            optimizer.step()
            losses.append(loss.item())
        return losses, norms

    def every20(values: list[float]) -> list[float]:
        return [round(statistics.mean(values[j : j + 20]), 2) for j in range(0, len(values), 20)]

    for i, spec in enumerate(ArchitectureSampler(args.split).specs(args.n, seed=0)):
        torch.manual_seed(i)
        net = spec.build()
        default = {k: v.clone() for k, v in net.state_dict().items()}
        ghn.initialize_(net, data=calib)
        predicted = accuracy(net)
        states = {"ghn": {k: v.clone() for k, v in net.state_dict().items()}, "default": default}
        print(f"{args.split}-{i}: {sum(q.numel() for q in net.parameters()):,} parameters, predicted {predicted:.1f} %")
        for name, state in states.items():
            net.load_state_dict(state)
            losses, norms = finetune(net)
            clipped = sum(n > 5 for n in norms)
            curves = f"loss {every20(losses)}  grad norm {every20(norms)}  clipped {clipped}"
            print(f"  {name:8s} after {args.steps}: {accuracy(net):.1f} %  {curves}")


if __name__ == "__main__":
    main()
