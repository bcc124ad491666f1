"""Why GHN-initialised GPT-2 models fine-tune slowly (issue 30 pilot; `results/ghn_lm_pilot_diagnosis.md`).

Trains a LoGAH-style GHN for ``--steps`` steps as ``ghn_lm.py`` does, predicts one validation config, prints
parameter statistics and gradient norms at default and GHN init, then fine-tunes variants of the prediction::

    python benchmarks/ghn_lm_diagnosis.py --steps 200 --config 2

``--ghn-file F`` loads a GHN written by ``ghn_lm.py --ghn-file F --train-only`` instead, and ``--fine-tuning`` then
compares fine-tuning treatments of its prediction (learning rate, rescaling, shrink-and-perturb) with default init,
and ``--groups`` swaps one parameter group at a time between the prediction and default init::

    python benchmarks/ghn_lm_diagnosis.py --ghn-file /tmp/ghn_s0.safetensors --config 0 --fine-tuning
    python benchmarks/ghn_lm_diagnosis.py --ghn-file /tmp/ghn_s0.safetensors --config 0 --groups --ft-steps 400
"""

from __future__ import annotations

import argparse
import copy

import torch
from ghn_lm import CharCorpus, eval_specs, finetune, lm_loss, windows
from torch import nn

import hypernet as hn
from hypernet.recipes.graph._gpt2 import GPT2Sampler


def stats(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    model.train()
    model.zero_grad()
    loss = lm_loss(model, x, y)
    loss.backward()
    print(f"  loss {loss.item():.3f}")
    for name, p in model.named_parameters():
        if not any(k in name for k in ("h.0.", "wte", "wpe", "ln_f")):
            continue
        erank = float("nan")
        if p.dim() == 2:
            sv = torch.linalg.svdvals(p.detach())
            erank = float(sv.sum() ** 2 / (sv**2).sum())
        grad = p.grad.norm().item() if p.grad is not None else 0.0
        print(f"  {name:36s} std {p.std().item():.4f} erank {erank:6.1f} grad {grad:.2e}")


def variant(model: nn.Module, default: nn.Module, zero_bias: bool, default_embeddings: bool, mix: float) -> nn.Module:
    out = copy.deepcopy(model)
    with torch.no_grad():
        for (name, p), p0 in zip(out.named_parameters(), default.parameters(), strict=True):
            embedding = "wte" in name or "wpe" in name
            if zero_bias and name.endswith(".bias") and "ln" not in name:
                p.zero_()
            if default_embeddings and embedding:
                p.copy_(p0)
            if mix and p.dim() == 2 and not embedding:
                p.add_(mix * p0)
    return out


def rescaled(
    model: nn.Module, default: nn.Module, shrink: float, mix: float, match_std: bool, default_vectors: bool = False,
    default_embeddings: bool = False,
) -> nn.Module:  # fmt: skip
    """The prediction with each matrix x ``shrink`` (or scaled to the default init's std) + ``mix`` x the default init.

    ``default_vectors`` puts every bias and layer-norm parameter back to its default init (zeros, ones);
    ``default_embeddings`` does the same for the token and position embeddings.
    """
    out = copy.deepcopy(model)
    with torch.no_grad():
        for (name, p), p0 in zip(out.named_parameters(), default.parameters(), strict=True):
            if p.dim() < 2:
                if default_vectors:
                    p.copy_(p0)
                continue
            if default_embeddings and ("wte" in name or "wpe" in name):
                p.copy_(p0)
                continue
            p.mul_(p0.std() / p.std() if match_std else shrink).add_(mix * p0)
    return out


Batches = list[tuple[torch.Tensor, torch.Tensor]]


def validation(corpus: CharCorpus) -> Batches:
    """The validation windows every start is scored on."""
    return windows(corpus.val, 8, 16, 32, torch.Generator().manual_seed(12345))


def compare(starts: dict[str, tuple[nn.Module, float]], corpus: CharCorpus, steps: int, every: int) -> None:
    """Fine-tune a copy of each start (AdamW at its learning rate) on the same batches; print its validation curve."""
    val, batches = validation(corpus), windows(corpus.train, steps, 8, 32, torch.Generator().manual_seed(7))
    for name, (m, lr) in starts.items():
        curve, _ = finetune(copy.deepcopy(m), batches, val, argparse.Namespace(ft_lr=lr, ft_steps=steps, eval_every=every))
        print(f"{name}: validation loss every {every} steps {[round(v, 3) for _, v in curve]}", flush=True)


def fine_tuning(model: nn.Module, default: nn.Module, corpus: CharCorpus, steps: int, only_new: bool) -> None:
    val = validation(corpus)
    warm = copy.deepcopy(default)  # control: a start as good as the prediction, reached by training the default init
    other = windows(corpus.train, 200, 8, 32, torch.Generator().manual_seed(8))
    finetune(warm, other, val[:1], argparse.Namespace(ft_lr=1e-3, ft_steps=200, eval_every=200))
    starts = {
        "control: default init after 200 steps on other batches, fresh AdamW": (warm, 1e-3),
        "GHN, vectors to default": (rescaled(model, default, 1.0, 0.0, False, True), 1e-3),
        "GHN, vectors to default, matrices x 0.5 + default init": (rescaled(model, default, 0.5, 1.0, False, True), 1e-3),
        "GHN, vectors and embeddings to default": (rescaled(model, default, 1.0, 0.0, False, True, True), 1e-3),
        "GHN, vectors and embeddings to default, matrices to default std": (rescaled(model, default, 1.0, 0.0, True, True, True), 1e-3),
        "GHN, matrices to default std, + default init": (rescaled(model, default, 1.0, 1.0, True), 1e-3),
    }
    if not only_new:
        starts |= first_round(model, default)
    compare(starts, corpus, steps, 50)


GROUPS = {  # parameter groups of a Hugging Face GPT-2: (name test, column slice of c_attn as thirds or None)
    "attention queries and keys": (lambda n: "attn.c_attn" in n, (0, 2)),
    "attention values and output": (lambda n: "attn.c_attn" in n or "attn.c_proj" in n, (2, 3)),
    "MLP matrices and biases": (lambda n: ".mlp." in n, None),
    "layer norms": (lambda n: ".ln_" in n, None),
    "token and position embeddings": (lambda n: "wte" in n or "wpe" in n, None),
}


def with_group(start: nn.Module, source: nn.Module, group: str) -> nn.Module:
    """``start`` with the parameters of ``group`` copied from ``source`` (for c_attn only the group's thirds)."""
    test, thirds = GROUPS[group]
    out = copy.deepcopy(start)
    with torch.no_grad():
        for (name, p), q in zip(out.named_parameters(), source.parameters(), strict=True):
            if not test(name):
                continue
            if thirds is not None and "c_attn" in name:
                third = p.shape[-1] // 3
                cols = slice(thirds[0] * third, thirds[1] * third)
                p[..., cols] = q[..., cols]
            elif thirds is None or "c_proj" in name:
                p.copy_(q)
    return out


@torch.no_grad()
def attention_entropy(model: nn.Module, x: torch.Tensor) -> list[float]:
    """Mean entropy (nats) of each layer's attention rows; uniform attention over ``t`` keys gives ``log t``."""
    model = copy.deepcopy(model).eval()
    model.set_attn_implementation("eager")  # SDPA returns no attention weights
    out = model(x, output_attentions=True)
    return [round(float(-(a.clamp_min(1e-12).log() * a).sum(-1).mean()), 3) for a in out.attentions]


def groups(model: nn.Module, default: nn.Module, corpus: CharCorpus, steps: int) -> None:
    """Fine-tune default init with one group of the prediction, and the prediction with one group at default init."""
    x = validation(corpus)[0][0]
    print(f"attention entropy per layer (uniform causal: {float(torch.log(torch.arange(1, 33.0)).mean()):.3f}): "
          f"default {attention_entropy(default, x)}, GHN {attention_entropy(model, x)}")  # fmt: skip
    starts = {"default init": (default, 1e-3), "GHN": (model, 1e-3)}
    for group in GROUPS:
        starts[f"default init + GHN's {group}"] = (with_group(default, model, group), 1e-3)
        starts[f"GHN with default {group}"] = (with_group(model, default, group), 1e-3)
    compare(starts, corpus, steps, 100)


def first_round(model: nn.Module, default: nn.Module) -> dict[str, tuple[nn.Module, float]]:
    return {
        "default init, lr 1e-3": (default, 1e-3),
        "default init, lr 3e-3": (default, 3e-3),
        "GHN, lr 1e-3": (model, 1e-3),
        "GHN, lr 3e-4": (model, 3e-4),
        "GHN, lr 3e-3": (model, 3e-3),
        "GHN, matrices to default std": (rescaled(model, default, 1.0, 0.0, True), 1e-3),
        "GHN, matrices x 0.5": (rescaled(model, default, 0.5, 0.0, False), 1e-3),
        "GHN x 0.5 + default init (shrink-perturb)": (rescaled(model, default, 0.5, 1.0, False), 1e-3),
        "GHN + default init": (rescaled(model, default, 1.0, 1.0, False), 1e-3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--config", type=int, default=2, help="which of the 4 validation configs")
    p.add_argument("--ft-steps", type=int, default=200)
    p.add_argument("--ghn-file", default="", help="load this GHN instead of training one")
    p.add_argument("--fine-tuning", action="store_true", help="compare fine-tuning treatments (needs --ghn-file)")
    p.add_argument("--groups", action="store_true", help="which parameter group of the prediction slows fine-tuning")
    p.add_argument("--only-new", action="store_true", help="with --fine-tuning: the second round's treatments only")
    args = p.parse_args()
    torch.manual_seed(0)
    corpus = CharCorpus()
    train = windows(corpus.train, args.steps, 8, 32, torch.Generator().manual_seed(0))
    if args.ghn_file:
        ghn = hn.GraphHyperNetwork.load(args.ghn_file)
    else:
        ghn = hn.GraphHyperNetwork(hidden=64, block=(256, 4, 1, 1), virtual_edges=50, lowrank=64, lowrank_rows=256, weight_scale=0.25)
        ghn.fit(GPT2Sampler(corpus.vocab, 32), train, steps=args.steps, meta_batch=2, lr=1e-3, seed=0)
    spec = eval_specs(argparse.Namespace(eval_set="val"))[args.config]
    torch.manual_seed(5)
    model = spec.build(corpus.vocab, 32)
    default = copy.deepcopy(model)
    ghn.initialize_(model)
    for name, m in (("default init", default), ("GHN init", model)):
        print(f"{spec}, {name}:")
        stats(m, *train[0])
    if args.groups:
        groups(model, default, corpus, args.ft_steps)
        return
    if args.fine_tuning:
        fine_tuning(model, default, corpus, args.ft_steps, args.only_new)
        return
    starts = {
        "default init": default,
        "GHN": model,
        "GHN, biases zeroed": variant(model, default, True, False, 0.0),
        "GHN, biases zeroed, + default matrices": variant(model, default, True, False, 1.0),
        "GHN, biases zeroed, default embeddings": variant(model, default, True, True, 0.0),
        "GHN, biases zeroed, default embeddings + matrices": variant(model, default, True, True, 1.0),
    }
    compare({name: (m, 1e-3) for name, m in starts.items()}, corpus, args.ft_steps, 25)


if __name__ == "__main__":
    main()
