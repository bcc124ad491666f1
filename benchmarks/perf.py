"""Speed and memory of hypernet against plain PyTorch, hand-written references and peer libraries.

Run (about 5-8 minutes on 2 CPU cores; ``--quick`` for a smoke run):

    pip install -e '.[bench]'          # adds the peers hypnettorch and hyperlight
    python benchmarks/perf.py          # writes benchmarks/results/perf.{csv,md} and perf_*.png

Every timing is forward + backward of a cross-entropy loss, the median of
``--reps`` repetitions after warm-up, all variants of a section interleaved
round-robin so that machine noise hits them alike; ratios are taken within one
run. Peak memory is measured in a fresh subprocess per variant as the growth of
the resident set size during one step (``ru_maxrss`` minus the RSS before it).

Sections:
 1. one weight set, MLP 784-256-256-10, batch 128: plain target; our generator
    + plain target written by hand (``torch.nn.functional``) in one graph;
    ``HyperModel``; hypnettorch and HyperLight doing the same work.
 1b. (key ``overhead``, benchmarks/perf_overhead.py) the same comparison as an independent harness states it:
    chunked generator, 2 threads, 30 interleaved repetitions of HyperModel and the hand-written reference only.
 1c. (key ``overhead``) fixed overhead on a tiny target (MLP 4-4-4-4, batch 8, 1 thread): HyperModel minus
    ``flat_weights`` alone minus the plain target.
 2. 128 distinct weight sets (one per sample): ``HyperModel`` vs a hand-written
    ``torch.bmm`` reference on the same generated weights, a per-sample Python
    loop, hypnettorch (chunked) and HyperLight (whole-output MLP).
 3. 128 samples with 8 unique conditions: ``HyperModel`` vs the per-sample loop.
 4. scaling with the number of distinct conditions (1..512) and the target
    width (64..2048); peak memory of each generator for 128 distinct sets.
 5. a small CNN target: one set, and 128 distinct sets vs a grouped-convolution reference.
 6. ``torch.compile`` of a HyperModel (one weight set, chunked): compile time and step time vs eager.
 7. (key ``hf``; needs transformers and peft, else skipped with a note) per-sample LoRA on a MiniLM-sized
    random-weight BERT, batch 32 x 64 tokens with padding, 8 tasks mixed: ``HyperModel`` generating the LoRA
    factors vs PEFT's mixed-adapter batch (``adapter_names``) vs a loop calling PEFT once per task; forward
    without grad, with grad, and forward + backward; peak memory in subprocesses. Run alone with
    ``python benchmarks/perf.py --sections hf --output perf_hf`` (writes results/perf_hf.{csv,md}).
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import hypernet as hn

sys.path.insert(0, str(Path(__file__).parent))
import itertools

import peers

RESULTS = Path(__file__).parent / "results"
SIZES = [784, 256, 256, 10]


# ----------------------------------------------------------------------------- harness
@dataclass
class Row:
    section: str
    variant: str
    median_ms: float
    q1_ms: float
    q3_ms: float
    params: dict[str, object] = field(default_factory=dict)


def measure(
    fns: dict[str, Callable[[], object]], reps: int, warmup: int = 3, raw: dict[str, list[float]] | None = None
) -> dict[str, tuple[float, float, float]]:
    """Median and quartiles (ms) of each function, repetitions interleaved round-robin; ``raw`` receives every time."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1e3)
    if raw is not None:
        raw.update(times)
    out = {}
    for name, ts in times.items():
        q = statistics.quantiles(ts, n=4) if len(ts) > 1 else [ts[0]] * 3
        out[name] = (statistics.median(ts), q[0], q[2])
    return out


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 16, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(256, 10)
    )


def hyper(target: nn.Module, num: int, generator: str) -> hn.HyperModel:
    hidden: object = 64 if generator == "ha" else (64,)  # Ha's generator takes one width
    return hn.HyperModel(target, condition=hn.Embedding(num=num, dim=8), generator=generator, generator_kwargs={"hidden": hidden})


def flat_weights(model: hn.HyperModel, ids: torch.Tensor) -> list[torch.Tensor]:
    """The hand-written reference's weights: same condition, generator, scaling and memory layout, one set per id."""
    emb = model.condition.table[ids]
    flat = torch.addcmul(model.base, model.generator(emb), model.scale)
    return list(model.spec.unflatten(flat).values())


def mlp_by_hand(x: torch.Tensor, w: list[torch.Tensor], sizes: list[int]) -> torch.Tensor:
    """The plain MLP written with torch.nn.functional, one weight set."""
    h = x
    for i in range(len(sizes) - 1):
        h = F.linear(h, w[2 * i], w[2 * i + 1])
        if i < len(sizes) - 2:
            h = F.relu(h)
    return h


def mlp_bmm(x: torch.Tensor, w: list[torch.Tensor], sizes: list[int]) -> torch.Tensor:
    """Per-sample weights by hand: one torch.baddbmm per layer, ``h (B, 1, in) @ W.T (B, in, out)``."""
    h = x.unsqueeze(1)
    for i in range(len(sizes) - 1):
        h = torch.baddbmm(w[2 * i + 1].unsqueeze(1), h, w[2 * i].transpose(1, 2))
        if i < len(sizes) - 2:
            h = F.relu(h)
    return h.squeeze(1)


# ----------------------------------------------------------------------------- sections
def section_single(reps: int, have: dict[str, bool]) -> list[Row]:
    x, y = torch.randn(128, SIZES[0]), torch.randint(0, 10, (128,))
    plain = mlp(SIZES)
    fns: dict[str, Callable[[], object]] = {}

    def plain_step() -> None:
        plain.zero_grad()
        F.cross_entropy(plain(x), y).backward()

    info: dict[str, dict[str, object]] = {"plain target": {"params": sum(p.numel() for p in plain.parameters())}}
    # Each generator's pair is measured on its own: run round-robin after the 17M-parameter "mlp" generator, whichever
    # chunked variant came first paid the cache refill (the hand-written one, which made HyperModel look 0.81x of it).
    results = measure({"plain target": plain_step}, reps)
    for gen in ("chunked", "mlp"):
        model = hyper(mlp(SIZES), 8, gen)

        def ours(model: hn.HyperModel = model) -> None:
            model.zero_grad()
            F.cross_entropy(model(x, 3), y).backward()

        def by_hand(model: hn.HyperModel = model) -> None:
            model.zero_grad()
            w = [p[0] for p in flat_weights(model, torch.tensor([3]))]
            F.cross_entropy(mlp_by_hand(x, w, SIZES), y).backward()

        results.update(measure({f"{gen}: generator + target by hand": by_hand, f"{gen}: hypernet HyperModel": ours}, reps))
        for k in (f"{gen}: generator + target by hand", f"{gen}: hypernet HyperModel"):
            info[k] = {"generator": gen, "generator_params": model.generator.num_parameters}
    chunk = hyper(mlp(SIZES), 8, "chunked").generator.chunk_size  # type: ignore[union-attr]
    if have["hypnettorch"]:
        for gen in ("chunked", "mlp"):
            step, n = peers.hypnettorch_step(SIZES, 8, gen, chunk)
            fns[f"{gen}: hypnettorch"] = lambda step=step: step(x, y, 3)
            info[f"{gen}: hypnettorch"] = {"generator": gen, "generator_params": n}
    if have["hyperlight"]:
        step, n = peers.hyperlight_step(SIZES, 8)
        fns["mlp: hyperlight"] = lambda: step(x, y, 3)
        info["mlp: hyperlight"] = {"generator": "mlp", "generator_params": n}
    if fns:
        results.update(measure(fns, reps))
    return [Row("1 one weight set", k, *v, info.get(k, {})) for k, v in results.items()]


def section_distinct(reps: int, have: dict[str, bool], n_sets: int = 128) -> list[Row]:
    x, y = torch.randn(n_sets, SIZES[0]), torch.randint(0, 10, (n_sets,))
    ids = torch.randperm(n_sets)
    fns: dict[str, Callable[[], object]] = {}
    for gen in ("chunked", "mlp"):
        model = hyper(mlp(SIZES), n_sets, gen)

        def ours(model: hn.HyperModel = model) -> None:
            model.zero_grad()
            F.cross_entropy(model(x, ids), y).backward()

        def bmm(model: hn.HyperModel = model) -> None:
            model.zero_grad()
            F.cross_entropy(mlp_bmm(x, flat_weights(model, ids), SIZES), y).backward()

        def loop(model: hn.HyperModel = model) -> None:
            model.zero_grad()
            out = torch.cat([model(x[i : i + 1], int(ids[i])) for i in range(n_sets)])
            F.cross_entropy(out, y).backward()

        fns[f"{gen}: hand-written bmm"] = bmm
        fns[f"{gen}: hypernet HyperModel"] = ours
        if gen == "chunked":  # one loop baseline is enough; the mlp one only costs minutes
            fns[f"{gen}: per-sample Python loop"] = loop
    chunk = hyper(mlp(SIZES), 8, "chunked").generator.chunk_size  # type: ignore[union-attr]
    if have["hypnettorch"]:
        step, _ = peers.hypnettorch_step(SIZES, n_sets, "chunked", chunk)
        fns["chunked: hypnettorch"] = lambda: step(x, y, ids)
    if have["hyperlight"]:
        step_hl, _ = peers.hyperlight_step(SIZES, n_sets)
        fns["mlp: hyperlight"] = lambda: step_hl(x, y, ids)
    return [Row(f"2 {n_sets} distinct weight sets", k, *v, {"sets": n_sets}) for k, v in measure(fns, reps).items()]


def section_dedupe(reps: int, n: int = 128, unique: int = 8) -> list[Row]:
    x, y = torch.randn(n, SIZES[0]), torch.randint(0, 10, (n,))
    ids = torch.arange(n) % unique
    model = hyper(mlp(SIZES), unique, "chunked")

    def ours() -> None:
        model.zero_grad()
        F.cross_entropy(model(x, ids), y).backward()

    def loop() -> None:
        model.zero_grad()
        F.cross_entropy(torch.cat([model(x[i : i + 1], int(ids[i])) for i in range(n)]), y).backward()

    return [
        Row(f"3 {n} samples, {unique} unique", k, *v)
        for k, v in measure({"hypernet HyperModel": ours, "per-sample Python loop": loop}, reps).items()
    ]


def section_scaling(reps: int, quick: bool) -> list[Row]:
    rows: list[Row] = []
    batch = 512
    x, y = torch.randn(batch, SIZES[0]), torch.randint(0, 10, (batch,))
    model = hyper(mlp(SIZES), 512, "chunked")
    counts = [1, 8, 64, 512] if quick else [1, 4, 16, 64, 128, 256, 512]
    for u in counts:
        ids = torch.arange(batch) % u

        def ours(ids: torch.Tensor = ids) -> None:
            model.zero_grad()
            F.cross_entropy(model(x, ids), y).backward()

        def bmm(ids: torch.Tensor = ids) -> None:
            model.zero_grad()
            uniq, inverse = ids.unique(return_inverse=True)
            w = [p.index_select(0, inverse) for p in flat_weights(model, uniq)]
            F.cross_entropy(mlp_bmm(x, w, SIZES), y).backward()

        for k, v in measure({"hypernet HyperModel": ours, "hand-written bmm": bmm}, max(5, reps // 4)).items():
            rows.append(Row("4a distinct conditions (batch 512)", k, *v, {"unique": u}))
    widths = [64, 256, 1024] if quick else [64, 256, 1024, 2048]
    xw, yw = torch.randn(128, SIZES[0]), torch.randint(0, 10, (128,))
    for width in widths:
        sizes = [784, width, width, 10]
        plain = mlp(sizes)
        m = hyper(mlp(sizes), 16, "chunked")
        ids16 = torch.arange(128) % 16

        def plain_step(plain: nn.Module = plain) -> None:
            plain.zero_grad()
            F.cross_entropy(plain(xw), yw).backward()

        def one(m: hn.HyperModel = m) -> None:
            m.zero_grad()
            F.cross_entropy(m(xw, 3), yw).backward()

        def sixteen(m: hn.HyperModel = m, ids16: torch.Tensor = ids16) -> None:
            m.zero_grad()
            F.cross_entropy(m(xw, ids16), yw).backward()

        res = measure({"plain target": plain_step, "HyperModel, one set": one, "HyperModel, 16 sets": sixteen}, max(5, reps // 4))
        for k, v in res.items():
            rows.append(Row("4b target width (batch 128)", k, *v, {"width": width, "generated": m.spec.numel}))
    return rows


def section_cnn(reps: int) -> list[Row]:
    b = 128
    x, y = torch.randn(b, 1, 28, 28), torch.randint(0, 10, (b,))
    plain = cnn()
    model = hyper(cnn(), b, "chunked")
    ids = torch.randperm(b)
    shapes = [model.spec.shapes[n] for n in model.spec.names]

    def by_hand_grouped(w: list[torch.Tensor]) -> torch.Tensor:
        """Per-sample conv weights as one grouped convolution per layer."""
        h = x.reshape(1, b * 1, 28, 28)
        h = F.relu(F.conv2d(h, w[0].reshape(b * 8, *shapes[0][1:]), w[1].reshape(-1), groups=b))
        h = F.relu(F.conv2d(h, w[2].reshape(b * 16, *shapes[2][1:]), w[3].reshape(-1), groups=b))
        # w[4] is the Linear weight (b, 10, 256) viewed from its (b, 256, 10) storage
        h = F.adaptive_avg_pool2d(h, 4).reshape(b, 256)
        return torch.baddbmm(w[5].unsqueeze(1), h.unsqueeze(1), w[4].transpose(1, 2)).squeeze(1)

    def plain_step() -> None:
        plain.zero_grad()
        F.cross_entropy(plain(x), y).backward()

    def one() -> None:
        model.zero_grad()
        F.cross_entropy(model(x, 3), y).backward()

    def distinct() -> None:
        model.zero_grad()
        F.cross_entropy(model(x, ids), y).backward()

    def grouped() -> None:
        model.zero_grad()
        F.cross_entropy(by_hand_grouped(flat_weights(model, ids)), y).backward()

    def loop() -> None:
        model.zero_grad()
        F.cross_entropy(torch.cat([model(x[i : i + 1], int(ids[i])) for i in range(b)]), y).backward()

    fns = {
        "plain target": plain_step,
        "HyperModel, one set": one,
        "hand-written grouped conv, 128 sets": grouped,
        "HyperModel, 128 sets": distinct,
        "per-sample Python loop, 128 sets": loop,
    }
    return [Row("5 CNN (batch 128)", k, *v) for k, v in measure(fns, reps).items()]


def section_compile(reps: int) -> list[Row]:
    x, y = torch.randn(128, SIZES[0]), torch.randint(0, 10, (128,))
    model = hyper(mlp(SIZES), 8, "chunked")
    compiled = torch.compile(model)
    start = time.perf_counter()
    F.cross_entropy(compiled(x, 3), y).backward()
    compile_s = time.perf_counter() - start

    def eager() -> None:
        model.zero_grad()
        F.cross_entropy(model(x, 3), y).backward()

    def fast() -> None:
        model.zero_grad()
        F.cross_entropy(compiled(x, 3), y).backward()

    res = measure({"eager HyperModel": eager, "torch.compile(HyperModel)": fast}, reps)
    return [Row("6 torch.compile, one set (chunked)", k, *v, {"compile_s": round(compile_s, 1)}) for k, v in res.items()]


# ----------------------------------------------------------------------------- 7: per-sample LoRA on a Hugging Face encoder
HF_TASKS, HF_BATCH, HF_TOKENS, HF_RANK = 8, 32, 64, 8
HF_MODES = {"no_grad": "forward, no grad", "grad": "forward with grad", "train": "forward + backward"}
HF_VARIANTS = {
    "a": "(a) HyperModel, per-sample LoRA generated",
    "b": "(b) PEFT, 8 adapters, adapter_names",
    "c": "(c) PEFT, loop over task groups",
    "d": "(d) HyperModel per_sample='linear'",
}


def hf_available() -> str | None:
    """None if transformers and peft import, else why not (the section is then skipped)."""
    try:
        import peft  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as error:
        return str(error)
    return None


@dataclass
class HFWorkload:
    """A MiniLM-sized BERT, per-sample LoRA three ways on the same weights and inputs."""

    hyper: hn.HyperModel  # (a) target: get_peft_model(bert, LoRA r=8 on query/value); generates the LoRA factors
    linear: hn.HyperModel  # (d) the same model (same weights) with per_sample="linear": one batched call, no vmap
    mixed: nn.Module  # (b) PeftModel with adapters task0..task7 holding the generated factors, called with adapter_names
    looped: nn.Module  # (c) the same adapters in a second PeftModel, one call per task group after set_adapter
    input_ids: torch.Tensor
    mask: torch.Tensor
    ids: torch.Tensor
    groups: list[torch.Tensor]  # rows of each task
    looped_lora: list[torch.Tensor] = field(default_factory=list)  # the LoRA factors of ``looped``

    def step(self, variant: str, mode: str) -> Callable[[], object]:
        """One call of ``variant`` in ``mode`` (no_grad / grad / train); train adds ``last_hidden_state.mean().backward()``."""
        run = {"a": self.run_hyper, "b": self.run_mixed, "c": self.run_looped, "d": self.run_linear}[variant]
        model = {"a": self.hyper, "b": self.mixed, "c": self.looped, "d": self.linear}[variant]

        def fn() -> object:
            if mode == "no_grad":
                with torch.no_grad():
                    return run()
            if mode == "grad":
                return run()
            model.zero_grad(set_to_none=True)
            loss = run().mean()
            loss.backward()
            return loss

        return fn

    def run_hyper(self) -> torch.Tensor:
        return self.hyper(self.input_ids, self.ids, attention_mask=self.mask).last_hidden_state

    def run_linear(self) -> torch.Tensor:
        return self.linear(self.input_ids, self.ids, attention_mask=self.mask).last_hidden_state

    def run_mixed(self) -> torch.Tensor:
        names = [f"task{t}" for t in self.ids.tolist()]
        return self.mixed(self.input_ids, attention_mask=self.mask, adapter_names=names).last_hidden_state

    def run_looped(self) -> torch.Tensor:
        outs = []
        for task, rows in enumerate(self.groups):
            self.looped.set_adapter(f"task{task}")
            outs.append(self.looped(self.input_ids[rows], attention_mask=self.mask[rows]).last_hidden_state)
        # PEFT's set_adapter freezes the other adapters, and autograd skips a leaf that no longer
        # requires grad: without this, backward would reach only the last task's factors
        for p in self.looped_lora:
            p.requires_grad_(True)
        out = torch.cat(outs)
        return out.index_select(0, torch.cat(self.groups).argsort())  # back in the batch's order


def hf_workload(seed: int = 0) -> HFWorkload:
    """Random-weight BERT (MiniLM-L6 sizes), batch 32 x 64 tokens with padding, 8 tasks mixed (4 samples each, shuffled)."""
    from peft import LoraConfig, get_peft_model
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536, vocab_size=30522)
    bert = BertModel(config).eval()
    state = bert.state_dict()

    def lora() -> LoraConfig:
        return LoraConfig(r=HF_RANK, target_modules=["query", "value"], lora_alpha=16, lora_dropout=0.0)

    hyper = hn.HyperModel(get_peft_model(bert, lora()), condition=hn.Embedding(HF_TASKS, 16), generator="mlp", generate="*lora_*").eval()
    twin = BertModel(config).eval()
    twin.load_state_dict(state)
    linear = hn.HyperModel(
        get_peft_model(twin, lora()), condition=hn.Embedding(HF_TASKS, 16), generator="mlp", generate="*lora_*", per_sample="linear"
    ).eval()
    linear.load_state_dict(hyper.state_dict())
    peft_models = []
    for _ in range(2):
        twin = BertModel(config).eval()
        twin.load_state_dict(state)
        pm = get_peft_model(twin, lora(), adapter_name="task0")
        for task in range(1, HF_TASKS):
            pm.add_adapter(f"task{task}", lora())
        with torch.no_grad():
            for task in range(HF_TASKS):
                generated = hyper.generate(task)
                for name in hyper.spec.names:
                    pm.get_parameter(name.replace(".default.", f".task{task}.")).copy_(generated[name])
        for name, p in pm.named_parameters():
            p.requires_grad_("lora_" in name)  # every adapter trainable (backward reaches all LoRA factors)
        peft_models.append(pm.eval())
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1, config.vocab_size, (HF_BATCH, HF_TOKENS), generator=g)
    lengths = torch.randint(HF_TOKENS // 2, HF_TOKENS + 1, (HF_BATCH,), generator=g)
    lengths[0] = HF_TOKENS
    mask = (torch.arange(HF_TOKENS) < lengths[:, None]).long()
    input_ids = input_ids * mask  # padding token 0
    ids = (torch.arange(HF_BATCH) % HF_TASKS)[torch.randperm(HF_BATCH, generator=g)]
    groups = [(ids == t).nonzero().squeeze(1) for t in range(HF_TASKS)]
    looped_lora = [p for n, p in peft_models[1].named_parameters() if "lora_" in n]
    return HFWorkload(hyper, linear, peft_models[0], peft_models[1], input_ids, mask, ids, groups, looped_lora)


def section_hf(reps: int) -> list[Row]:
    why = hf_available()
    if why is not None:
        print(f"section hf skipped: transformers and peft are needed ({why}); pip install 'hypernet[hf]'", flush=True)
        return []
    w = hf_workload()
    with torch.no_grad():  # the three variants compute the same function
        ref = w.run_hyper()
        for variant, run in (("b", w.run_mixed), ("c", w.run_looped), ("d", w.run_linear)):
            err = (run() - ref).abs().max().item()
            if err > 1e-4:
                raise AssertionError(f"hf section: variant {variant} differs from (a) by {err:.2e}")
    fns: dict[str, Callable[[], object]] = {}
    info: dict[str, dict[str, object]] = {}
    for mode, mode_name in HF_MODES.items():
        for variant, name in HF_VARIANTS.items():
            fns[f"{mode_name}: {name}"] = w.step(variant, mode)
            info[f"{mode_name}: {name}"] = {"mode": mode}
    for variant, model in (("b", w.mixed), ("c", w.looped), ("d", w.linear)):  # backward reaches every adapter's factors
        fns[f"{HF_MODES['train']}: {HF_VARIANTS[variant]}"]()
        missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        if missing:
            raise AssertionError(f"hf section: variant {variant} backward missed {len(missing)} LoRA factors, e.g. {missing[0]}")
    raw: dict[str, list[float]] = {}
    res = measure(fns, reps, raw=raw)
    section = f"7a BERT (MiniLM size) per-sample LoRA: batch {HF_BATCH}x{HF_TOKENS}, {HF_TASKS} tasks mixed, rank {HF_RANK}"
    rows = [Row(section, k, *v, {**info[k], "min_ms": round(min(raw[k]), 1)}) for k, v in res.items()]
    # On a shared machine load comes in bursts of seconds: calls of one repetition (adjacent in time) see
    # the same load, so the per-repetition ratio is steadier than the ratio of two medians.
    for mode_name in HF_MODES.values():
        for num, den in (("a", "b"), ("c", "a"), ("d", "b")):
            ts = [x / y for x, y in zip(raw[f"{mode_name}: {HF_VARIANTS[num]}"], raw[f"{mode_name}: {HF_VARIANTS[den]}"], strict=True)]
            q = statistics.quantiles(ts, n=4) if len(ts) > 1 else [ts[0]] * 3
            name = f"{mode_name}: ({num}) / ({den})"
            rows.append(Row("7c per-repetition time ratios", name, statistics.median(ts), q[0], q[2], {"unit": "ratio"}))
    return rows


def _hf_memory_child(variant: str, mode: str) -> None:
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    fn = hf_workload().step(variant, mode)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _vm_kb("VmRSS")
    fn()
    print(json.dumps({"peak_growth_mb": (_vm_kb("VmHWM") - before) / 1024}))


def section_hf_memory() -> list[Row]:
    if hf_available() is not None:
        return []
    rows = []
    for mode in ("no_grad", "train"):
        for variant, name in HF_VARIANTS.items():
            done = subprocess.run(
                [sys.executable, __file__, "--hf-memory-child", variant, mode], capture_output=True, text=True, check=True
            )
            mb = json.loads(done.stdout.strip().splitlines()[-1])["peak_growth_mb"]
            rows.append(Row("7b peak memory, BERT per-sample LoRA", f"{HF_MODES[mode]}: {name}", mb, mb, mb, {"unit": "MB"}))
    return rows


def _section_overhead(reps: int) -> list[Row]:
    from perf_overhead import section_overhead

    return section_overhead(reps)


# ----------------------------------------------------------------------------- memory (subprocess)
def _memory_child(generator: str, variant: str, n_sets: int) -> None:
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    x, y = torch.randn(n_sets, SIZES[0]), torch.randint(0, 10, (n_sets,))
    ids = torch.randperm(n_sets)
    model = hyper(mlp(SIZES), n_sets, generator)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:  # reset the kernel's peak-RSS mark (VmHWM) to the current RSS
        f.write("5")
    before = _vm_kb("VmRSS")
    if variant == "ours":
        loss = F.cross_entropy(model(x, ids), y)
    else:
        loss = F.cross_entropy(mlp_bmm(x, flat_weights(model, ids), SIZES), y)
    loss.backward()
    print(json.dumps({"peak_growth_mb": (_vm_kb("VmHWM") - before) / 1024}))


def _vm_kb(field: str) -> int:
    """A ``/proc/self/status`` memory field in kB (VmRSS: resident now; VmHWM: peak since the last reset)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def section_memory(n_sets: int = 128) -> list[Row]:
    rows = []
    for gen in hn.list_generators():
        for variant in ("bmm", "ours"):
            done = subprocess.run(
                [sys.executable, __file__, "--memory-child", gen, variant, str(n_sets)], capture_output=True, text=True, check=True
            )
            mb = json.loads(done.stdout.strip().splitlines()[-1])["peak_growth_mb"]
            name = "hypernet HyperModel" if variant == "ours" else "hand-written bmm"
            rows.append(Row("4c peak memory, 128 distinct sets", f"{gen}: {name}", mb, mb, mb, {"unit": "MB"}))
    return rows


# ----------------------------------------------------------------------------- report
def write_report(rows: list[Row], args: argparse.Namespace, have: dict[str, bool], seconds: float) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (RESULTS / f"{args.output}.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["section", "variant", "median_ms", "q1_ms", "q3_ms", "params"])
        for r in rows:
            w.writerow([r.section, r.variant, f"{r.median_ms:.4f}", f"{r.q1_ms:.4f}", f"{r.q3_ms:.4f}", json.dumps(r.params)])
    lines = [
        "# hypernet performance",
        "",
        f"Command: `python benchmarks/perf.py {' '.join(sys.argv[1:])}`; {seconds / 60:.1f} min.",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, threads {args.threads}, "
        f"Python {platform.python_version()}; medians of {args.reps} interleaved repetitions (forward + backward"
        + (", and the forward modes named in section 7" if any(r.section.startswith("7") for r in rows) else "")
        + ").",
        f"Peers installed: {', '.join(k for k, v in have.items() if v) or 'none (pip install -e .[bench])'}.",
        *_hf_versions(rows),
        f"Load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        " (the machine may be shared: compare ratios within this run, not times across runs).",
        "",
        *_overhead_notes(rows),
    ]
    for section in dict.fromkeys(r.section for r in rows):
        lines += [f"## {section}", "", "| variant | params | median ms | IQR ms |", "|---|---|---:|---:|"]
        for r in rows:
            if r.section == section:
                p = ", ".join(f"{k}={v}" for k, v in r.params.items())
                lines.append(f"| {r.variant} | {p} | {r.median_ms:.2f} | {r.q1_ms:.2f}-{r.q3_ms:.2f} |")
        lines.append("")
    lines += ["## Ratios (same run)", "", "| claim | target | measured |", "|---|---|---:|"]
    for claim, target, fn in _claims(have):
        try:
            lines.append(f"| {claim} | {target} | {fn(rows):.3f} |")
        except StopIteration:  # a section not run (--sections)
            pass
    (RESULTS / f"{args.output}.md").write_text("\n".join(lines) + "\n")
    if any(r.section[:2] in ("4a", "4b", "4c") for r in rows):
        _plots(rows, RESULTS / f"{args.output}_scaling.png")


def _hf_versions(rows: list[Row]) -> list[str]:
    if not any(r.section.startswith("7") for r in rows):
        return []
    import peft
    import transformers

    return [
        f"Section 7: transformers {transformers.__version__}, peft {peft.__version__}; BertConfig(hidden_size=384, num_hidden_layers=6, "
        "num_attention_heads=12, intermediate_size=1536), random weights, eval mode, default attention implementation "
        "((a) HyperModel runs the target under vmap, which uses the math SDPA kernel; (d) per_sample='linear' runs it "
        "once, fused SDPA kept); LoRA r=8, alpha=16 on query/value; "
        "condition hn.Embedding(8, 16), generator 'mlp' (hidden 64). Forward with grad and forward + backward (loss = "
        "last_hidden_state.mean()) reach the hypernetwork for (a) and (d) and every adapter's LoRA factors for (b) and (c); "
        "PEFT refuses adapter_names in training mode, so (b) runs in eval mode (no dropout, as all variants here).",
        "Section 7 on a shared machine: 7a gives each variant's fastest repetition (min_ms) next to the median; 7c gives the "
        "ratio of two variants within each repetition (calls adjacent in time see the same load), median and IQR over repetitions.",
    ]


def _claims(have: dict[str, bool]) -> list[tuple[str, str, Callable[[list[Row]], float]]]:
    """(claim, target, how to compute it from the rows): each a ratio of two medians of one section."""
    spec: list[tuple[str, str, str, str, str]] = [
        (
            "one set, chunked: HyperModel / (generator + target by hand)",
            "<= 1.05",
            "1",
            "chunked: hypernet HyperModel",
            "chunked: generator + target by hand",
        ),
        (
            "one set, mlp: HyperModel / (generator + target by hand)",
            "<= 1.05",
            "1",
            "mlp: hypernet HyperModel",
            "mlp: generator + target by hand",
        ),
        ("one set, chunked: HyperModel / plain target (information)", "-", "1", "chunked: hypernet HyperModel", "plain target"),
        ("128 sets, chunked: HyperModel / hand-written bmm", "<= 1.10", "2", "chunked: hypernet HyperModel", "chunked: hand-written bmm"),
        ("128 sets, mlp: HyperModel / hand-written bmm", "<= 1.10", "2", "mlp: hypernet HyperModel", "mlp: hand-written bmm"),
        ("8 unique in 128: per-sample loop / HyperModel", ">= 8", "3", "per-sample Python loop", "hypernet HyperModel"),
        ("CNN 128 sets: HyperModel / grouped conv by hand", "-", "5", "HyperModel, 128 sets", "hand-written grouped conv, 128 sets"),
        ("CNN 128 sets: per-sample loop / HyperModel", "-", "5", "per-sample Python loop, 128 sets", "HyperModel, 128 sets"),
        ("torch.compile / eager, one set", "-", "6", "torch.compile(HyperModel)", "eager HyperModel"),
    ]
    hf = [f"{HF_MODES[m]}: {HF_VARIANTS[v]}" for m in ("no_grad", "grad", "train") for v in "abc"]
    no_grad_a, no_grad_b, no_grad_c, grad_a, grad_b, grad_c, train_a, train_b, train_c = hf
    no_grad_d, grad_d, train_d = (f"{HF_MODES[m]}: {HF_VARIANTS['d']}" for m in ("no_grad", "grad", "train"))
    spec += [
        ("BERT per-sample LoRA, forward no grad: (d) linear path / (b) PEFT adapter_names", "-", "7a", no_grad_d, no_grad_b),
        ("BERT per-sample LoRA, forward with grad: (d) linear path / (b) PEFT adapter_names", "-", "7a", grad_d, grad_b),
        ("BERT per-sample LoRA, forward + backward: (d) linear path / (b) PEFT adapter_names (eval mode)", "-", "7a", train_d, train_b),
        ("BERT per-sample LoRA, forward + backward: (a) vmap / (d) linear path", "-", "7a", train_a, train_d),
        ("BERT per-sample LoRA, forward no grad: (d) / (b), median per-rep ratio", "-", "7c", "forward, no grad: (d) / (b)", ""),
        ("BERT per-sample LoRA, forward + backward: (d) / (b), median per-rep ratio", "-", "7c", "forward + backward: (d) / (b)", ""),
        ("BERT peak memory, forward no grad: (d) linear path / (b) PEFT adapter_names", "-", "7b", no_grad_d, no_grad_b),
    ]
    spec += [
        ("BERT per-sample LoRA, forward no grad: (a) HyperModel / (b) PEFT adapter_names", "<= 1.25", "7a", no_grad_a, no_grad_b),
        ("BERT per-sample LoRA, forward with grad: (a) HyperModel / (b) PEFT adapter_names", "<= 1.25", "7a", grad_a, grad_b),
        ("BERT per-sample LoRA, forward no grad: (c) PEFT loop over tasks / (a) HyperModel", "> 1", "7a", no_grad_c, no_grad_a),
        ("BERT per-sample LoRA, forward with grad: (c) PEFT loop over tasks / (a) HyperModel", "> 1", "7a", grad_c, grad_a),
        ("BERT per-sample LoRA, forward + backward: (c) PEFT loop over tasks / (a) HyperModel", "> 1", "7a", train_c, train_a),
        ("BERT per-sample LoRA, forward + backward: (a) HyperModel / (b) PEFT adapter_names (eval mode)", "-", "7a", train_a, train_b),
        ("BERT per-sample LoRA, forward no grad: (a) / (b), median per-rep ratio", "<= 1.25", "7c", "forward, no grad: (a) / (b)", ""),
        ("BERT per-sample LoRA, forward with grad: (a) / (b), median per-rep ratio", "<= 1.25", "7c", "forward with grad: (a) / (b)", ""),
        ("BERT per-sample LoRA, forward no grad: (c) / (a), median per-rep ratio", "> 1", "7c", "forward, no grad: (c) / (a)", ""),
        ("BERT per-sample LoRA, forward + backward: (c) / (a), median per-rep ratio", "> 1", "7c", "forward + backward: (c) / (a)", ""),
        ("BERT per-sample LoRA, forward no grad: (a) / (b), fastest repetitions", "-", "7a min", no_grad_a, no_grad_b),
        ("BERT per-sample LoRA, forward with grad: (a) / (b), fastest repetitions", "-", "7a min", grad_a, grad_b),
        ("BERT per-sample LoRA, forward no grad: (c) / (a), fastest repetitions", "-", "7a min", no_grad_c, no_grad_a),
        ("BERT per-sample LoRA, forward + backward: (c) / (a), fastest repetitions", "-", "7a min", train_c, train_a),
        ("BERT peak memory, forward no grad: (a) HyperModel / (b) PEFT adapter_names", "-", "7b", no_grad_a, no_grad_b),
        ("BERT peak memory, forward + backward: (a) HyperModel / (c) PEFT loop over tasks", "-", "7b", train_a, train_c),
    ]
    spec += [(claim, target, "federated", a, b) for claim, target, a, b in __import__("perf_federated").CLAIMS]
    spec += [(claim, target, "moe", a, b) for claim, target, a, b in __import__("perf_moe").CLAIMS]
    for gen in hn.list_generators():
        spec.append(
            (f"peak memory 128 sets, {gen}: HyperModel / bmm", "<= 1.2", "4c", f"{gen}: hypernet HyperModel", f"{gen}: hand-written bmm")
        )
    if have["hypnettorch"]:
        spec.append(("128 sets, chunked: hypnettorch / HyperModel", ">= 1.45", "2", "chunked: hypnettorch", "chunked: hypernet HyperModel"))
        spec.append(("one set, chunked: hypnettorch / plain target", "(1.03 reported)", "1", "chunked: hypnettorch", "plain target"))
    if have["hyperlight"]:
        spec.append(("128 sets, mlp: HyperLight / HyperModel", ">= 1.45", "2", "mlp: hyperlight", "mlp: hypernet HyperModel"))
        spec.append(("one set, mlp: HyperLight / HyperModel", "-", "1", "mlp: hyperlight", "mlp: hypernet HyperModel"))
    claims = [(claim, target, lambda r, sec=sec, a=a, b=b: ratio(r, sec, a, b)) for claim, target, sec, a, b in spec]
    return _overhead_claims() + claims


def _overhead_notes(rows: list[Row]) -> list[str]:
    if not any(r.section.startswith(("1b", "1c")) for r in rows):
        return []
    from perf_overhead import NOTES

    return [NOTES]


def _overhead_claims() -> list[tuple[str, str, Callable[[list[Row]], float]]]:
    from perf_overhead import fixed_overhead_us

    one = ("1b", "HyperModel", "generator output split by hand + F.linear")
    return [
        ("harness (1b), one set, chunked, 2 threads: HyperModel / hand-written reference", "<= 1.05", lambda r: ratio(r, *one)),
        ("fixed overhead (1c), tiny target: HyperModel - flat_weights - plain target, us", "<= 60", fixed_overhead_us),
    ]


def ratio(rows: list[Row], section: str, a: str, b: str, **match: object) -> float:
    """``a / b`` of two medians of a section; ``b=""`` reads ``a``'s own median (a ratio row);
    a section given as ``"7a min"`` compares the fastest repetitions (``min_ms``) instead."""
    field = "min_ms" if section.endswith(" min") else None
    section = section.removesuffix(" min")

    def find(v: str) -> Row:
        return next(
            r for r in rows if r.section.startswith(section) and r.variant == v and all(r.params.get(k) == m for k, m in match.items())
        )

    if not b:
        return find(a).median_ms
    if field:
        return float(find(a).params[field]) / float(find(b).params[field])  # type: ignore[arg-type]
    return find(a).median_ms / find(b).median_ms


def _plots(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for variant in ("hypernet HyperModel", "hand-written bmm"):
        pts = [(r.params["unique"], r.median_ms) for r in rows if r.section.startswith("4a") and r.variant == variant]
        if pts:
            axes[0].plot(*zip(*pts, strict=True), marker="o", label=variant)
    axes[0].set(xscale="log", yscale="log", xlabel="distinct conditions in a batch of 512", ylabel="ms / step", title="per-sample weights")
    axes[0].legend()
    for variant in ("plain target", "HyperModel, one set", "HyperModel, 16 sets"):
        pts = [(r.params["width"], r.median_ms) for r in rows if r.section.startswith("4b") and r.variant == variant]
        if pts:
            axes[1].plot(*zip(*pts, strict=True), marker="o", label=variant)
    axes[1].set(xscale="log", yscale="log", xlabel="hidden width of 784-w-w-10", ylabel="ms / step", title="target width")
    axes[1].legend()
    mem = [r for r in rows if r.section.startswith("4c")]
    if mem:
        axes[2].barh([r.variant for r in mem], [r.median_ms for r in mem])
        axes[2].set(xlabel="peak RSS growth, MB", title="memory, 128 distinct sets")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="few repetitions and points: a smoke run")
    parser.add_argument(
        "--sections",
        default="1,overhead,2,3,4,5,6,hf,moe",
        help="comma-separated section keys: 1-6, overhead (1b, 1c: perf_overhead.py), hf (section 7, needs transformers and peft), "
        "moe, federated (not in the default)",
    )
    parser.add_argument("--output", default="perf", help="report name: writes benchmarks/results/<output>.{csv,md}")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--hf-memory-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        _memory_child(args.memory_child[0], args.memory_child[1], int(args.memory_child[2]))
        return
    if args.hf_memory_child:
        _hf_memory_child(*args.hf_memory_child)
        return
    if args.quick:
        args.reps = min(args.reps, 3)
    torch.set_num_threads(args.threads)
    os.environ["BENCH_THREADS"] = str(args.threads)
    torch.manual_seed(0)
    have = peers.available()
    wanted = set(args.sections.split(","))
    start = time.perf_counter()
    rows: list[Row] = []
    steps: list[tuple[str, Callable[[], list[Row]]]] = [
        ("1", lambda: section_single(args.reps, have)),
        ("overhead", lambda: _section_overhead(args.reps)),
        ("2", lambda: section_distinct(args.reps, have)),
        ("3", lambda: section_dedupe(args.reps)),
        ("4", lambda: section_scaling(args.reps, args.quick) + section_memory()),
        ("5", lambda: section_cnn(args.reps)),
        ("6", lambda: section_compile(args.reps)),
        ("hf", lambda: section_hf(args.reps) + section_hf_memory()),
        ("federated", lambda: __import__("perf_federated").section_federated(args.reps)),  # not in the default: rounds are long
        ("moe", lambda: __import__("perf_moe").section_moe(args.reps)),
        ("retrieval", lambda: __import__("perf_retrieval").section_retrieval(args.reps)),  # run it alone
    ]
    for key, run in steps:
        if key in wanted:
            t = time.perf_counter()
            rows += run()
            print(f"section {key} done in {time.perf_counter() - t:.0f}s", flush=True)
            write_report(rows, args, have, time.perf_counter() - start)  # after every section: a crash keeps what ran
    print((RESULTS / f"{args.output}.md").read_text())


if __name__ == "__main__":
    main()
