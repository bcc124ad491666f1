"""Text-to-LoRA on a pretrained decoder (issue 36): LoRA for SmolLM2-135M-Instruct generated from a task description.

Base: SmolLM2-135M-Instruct (``hypernet data fetch smollm2``), frozen; every LoRA method adapts the same
modules (``q_proj``, ``v_proj`` of all 30 layers, rank 8, alpha 16) and trains with the same loss (target
tokens only), steps, batch size and learning rate, on task-balanced mixed batches.

Tasks (:mod:`hypernet.data.lm_tasks`; split declared there before any run): 21 training tasks (12 string
operations, 6 two-step compositions of them, BBC topic / title, fortune category), 8 held-out tasks whose
operation no training task uses, 4 held-out compositions of trained operations. Each task's examples are
split into train / val / test by index; ``--split val`` evaluates on val (for choosing settings), the
reported run on test. Held-out tasks are described with a phrasing used by no training description.

Methods:
1. ``base``: the base model prompted with the description (zero-shot instruction following);
2. ``base_3shot``: the description + 3 training examples in the prompt;
3. ``multitask_lora``: one LoRA trained on all training tasks, prompted with the description (in training, drawn
   from the same 4 descriptions per task as ``ours_text``);
4. ``per_task_lora``: one LoRA per training task (the oracle; seen tasks only);
5. ``ours_task``: hn.TextToLoRA, task-id conditioned (seen tasks);
6. ``ours_text``: hn.TextToLoRA, description-conditioned, trained on 4 descriptions per task (seen and zero-shot).
Every prompt shows the task's description; methods 5-6 also condition the LoRA on the task.

Usage (seeds as separate processes, then merged):
    nohup python benchmarks/t2l.py --seeds 0 --out benchmarks/results/t2l_s0 > t2l_s0.log 2>&1 &
    python benchmarks/t2l.py --merge benchmarks/results/t2l_s{0,1,2} --out benchmarks/results/t2l
One seed can also be split over processes by method (``--methods``) and by per-task LoRA (``--per-task-tasks``),
each with its own ``--out`` stem; ``--merge`` takes all the stems (rows are grouped by seed).
Smoke test with a tiny random Llama (seconds): python benchmarks/t2l.py --tiny --steps 3 --per-task-steps 2 --out /tmp/t2l
"""

from __future__ import annotations

import argparse
import copy
import csv
import functools
import json
import random
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from hypernet.data import lm_tasks
from hypernet.data.lm_tasks import GenerationTask
from hypernet.recipes.adapters._lm_batch import (
    cut_answer,
    end_of_answer,
    format_prompt,
    pad_id,
    prompt_batch,
    target_loss,
    target_positions,
    training_batch,
)
from hypernet.recipes.adapters.text_to_lora import TextToLoRA

RESULTS = Path(__file__).parent / "results"
MODULES = ["q_proj", "v_proj"]
METHODS = ("base", "base_3shot", "multitask_lora", "per_task_lora", "ours_task", "ours_text")
GROUPS = {"seen": lm_tasks.TRAIN, "new": lm_tasks.HELD_OUT_NEW, "composed": lm_tasks.HELD_OUT_COMPOSED}


# ----------------------------------------------------------------------------- data
def load_tasks(args: argparse.Namespace, seed: int) -> dict[str, GenerationTask]:
    n = args.train_n + 2 * args.eval_n
    tasks = lm_tasks.string_tasks(n=n, seed=seed)
    if args.tiny:
        bbc = {"sport": ["Goal\nteam scored late"] * 3, "tech": ["Chips\nfaster chip shown"] * 3}
        fortunes = {"work": ["avoid work today"] * 3, "food": ["eat drink merry"] * 3}
    else:
        from hypernet.data.text_corpora import load_bbc, load_fortunes

        bbc, fortunes = load_bbc(), load_fortunes()
    tasks.update(lm_tasks.corpus_tasks(bbc, fortunes, n=n, seed=seed))
    return tasks


def split(task: GenerationTask, part: str, args: argparse.Namespace) -> list[tuple[str, str]]:
    ex = task.examples
    if part == "train":
        return ex[: args.train_n]
    start = args.train_n if part == "val" else args.train_n + args.eval_n
    return ex[start : start + args.eval_n]


def shown_description(name: str, task: GenerationTask) -> str:
    """Seen tasks are described canonically; held-out ones with a phrasing used by no training description."""
    return task.description if name in lm_tasks.TRAIN else task.unseen_phrasing


# ----------------------------------------------------------------------------- plain generation and plain LoRA
@torch.no_grad()
def generate_plain(lm: Any, tok: Any, texts: Sequence[str], args: argparse.Namespace, trained: bool = True) -> list[str]:
    """Greedy answers of a plain (or PEFT) LM. A trained LM sees its prompts cut to ``max_length`` tokens, as in its
    training and as ``TextToLoRA.generate`` cuts them; the untrained base keeps up to 3x that (few-shot prompts)."""
    end, out_all = end_of_answer(tok), []
    limit = args.max_length if trained else args.max_length * 3
    for i in range(0, len(texts), args.eval_batch):
        ids, mask = prompt_batch(tok, texts[i : i + args.eval_batch], limit)
        out = lm.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=args.max_new_tokens,
            do_sample=False,
            pad_token_id=pad_id(tok),
            eos_token_id=end,
        )
        out_all += [cut_answer(tok, row.tolist(), end) for row in out[:, ids.shape[1] :]]
    return out_all


def few_shot(task: GenerationTask, prompt: str, shots: Sequence[tuple[str, str]], description: str) -> tuple[str, str]:
    examples = "\n".join(f"Input: {p}\nOutput: {t}" for p, t in shots)
    return f"{description}\n{examples}", prompt


def exact(answers: Sequence[str], examples: Sequence[tuple[str, str]]) -> float:
    return sum(a == t for a, (_, t) in zip(answers, examples, strict=True)) / max(len(examples), 1)


def lora_model(base: Any, rank: int) -> Any:
    from peft import LoraConfig, get_peft_model

    return get_peft_model(copy.deepcopy(base), LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=MODULES, lora_dropout=0.0))


def train_lora(
    lm: Any,
    tok: Any,
    batches: Callable[[random.Random], list[tuple[str, str, str]]],
    steps: int,
    args: argparse.Namespace,
    log: Callable[[int, float], None] | None = None,
) -> None:
    params = [p for p in lm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)  # as TextToLoRA.fit
    rng = random.Random(args.seed_now)
    lm.train()
    for step in range(steps):
        batch = batches(rng)
        ids, mask, labels = training_batch(tok, [format_prompt(tok, p, d) for p, _, d in batch], [t for _, t, _ in batch], args.max_length)
        kept = target_positions(labels)  # as TextToLoRA.loss: logits of the answer positions only
        loss = target_loss(lm(input_ids=ids, attention_mask=mask, use_cache=False, logits_to_keep=kept).logits, labels, kept)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if log is not None:
            log(step, loss.item())
    lm.eval()


def sampler(
    tasks: dict[str, GenerationTask], names: Sequence[str], args: argparse.Namespace, paraphrases: bool = False
) -> Callable[[random.Random], list[tuple[str, str, str]]]:
    """Task-balanced batches of ``(prompt, target, description)``; with ``paraphrases`` the description shown is drawn
    from the task's canonical one and its paraphrases, as ``ours_text`` trains (else always the canonical one)."""

    def draw(rng: random.Random) -> list[tuple[str, str, str]]:
        out = []
        for _ in range(args.batch_size):
            name = rng.choice(list(names))
            p, t = rng.choice(split(tasks[name], "train", args))
            out.append((p, t, rng.choice(tasks[name].descriptions) if paraphrases else tasks[name].description))
        return out

    return draw


def minilm_encoder() -> Callable[[list[str]], torch.Tensor]:
    """Descriptions embedded by all-MiniLM-L6-v2 (``hypernet data fetch minilm``): mean-pooled, unit length, as
    sentence-transformers does; a dedicated sentence encoder, as Text-to-LoRA's (gte-large) is."""
    import torch.nn.functional as F

    from hypernet.data.minilm import load_minilm
    from hypernet.recipes.adapters._frozen import mean_pool

    encoder, tok = load_minilm()
    encoder.eval()

    @torch.no_grad()
    def encode(texts: list[str]) -> torch.Tensor:
        batch = tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        return F.normalize(mean_pool(encoder(**batch).last_hidden_state, batch["attention_mask"]), dim=-1)

    return encode


# ----------------------------------------------------------------------------- methods
def run_seed(args: argparse.Namespace, seed: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    torch.manual_seed(seed)
    args.seed_now = seed
    tasks = load_tasks(args, seed)
    if args.tiny:
        from hypernet.recipes.adapters._tiny_lm import tiny_llama

        words = tuple(sorted({w.lower() for t in tasks.values() for p, a in t.examples for w in f"{p} {a}".split()}))
        base, tok = tiny_llama(seed=seed, words=words, layers=2, hidden=32)
    else:
        from hypernet.data.smollm2 import load_smollm2

        base, tok = load_smollm2()
    train_names = [n for n in lm_tasks.TRAIN if n in tasks]
    every = [n for names in GROUPS.values() for n in names]
    part = args.split
    rows: list[dict[str, Any]] = []
    info: dict[str, Any] = {"seed": seed, "split": part, "params": {}, "minutes": {}, "tokens_per_s": {}}

    def record(method: str, name: str, score: float) -> None:
        group = next(g for g, names in GROUPS.items() if name in names)
        rows.append({"seed": seed, "method": method, "task": name, "group": group, "exact_match": score, "n": args.eval_n})

    done = load_done(args, seed)

    def timed(method: str, fn: Callable[[], None]) -> None:
        if method not in args.methods:
            return
        if method in done:  # finished by an earlier (interrupted) run with the same settings
            rows.extend(done[method]["rows"])
            for key in ("params", "minutes", "tokens_per_s"):
                info[key].update(done[method][key])
            if done[method].get("examples"):
                info["examples"] = done[method]["examples"]
            print(f"seed {seed} {method}: loaded from {done_path(args, seed)}", flush=True)
            return
        t0, start = time.time(), len(rows)
        fn()
        info["minutes"][method] = (time.time() - t0) / 60
        print(f"seed {seed} {method}: {info['minutes'][method]:.1f} min", flush=True)
        done[method] = {
            "rows": rows[start:],
            "params": {method: info["params"].get(method, 0)},
            "minutes": {method: info["minutes"][method]},
            "tokens_per_s": info["tokens_per_s"] if method == "ours_text" else {},
            "examples": info.get("examples", []) if method == "ours_text" else [],
            "commit": code_version(),
        }
        save_done(args, seed, done)

    def base_methods() -> None:
        for name in every:
            ex, desc = split(tasks[name], part, args), shown_description(name, tasks[name])
            answers = generate_plain(base, tok, [format_prompt(tok, p, desc) for p, _ in ex], args, trained=False)
            record("base", name, exact(answers, ex))
        info["params"]["base"] = 0

    def base_3shot() -> None:
        for name in every:
            ex, desc = split(tasks[name], part, args), shown_description(name, tasks[name])
            shots = split(tasks[name], "train", args)[:3]
            texts = [format_prompt(tok, p, d) for d, p in (few_shot(tasks[name], p, shots, desc) for p, _ in ex)]
            record("base_3shot", name, exact(generate_plain(base, tok, texts, args, trained=False), ex))
        info["params"]["base_3shot"] = 0

    def multitask() -> None:
        lm = lora_model(base, args.rank)
        train_lora(lm, tok, sampler(tasks, train_names, args, paraphrases=True), args.steps, args, progress("multitask_lora", args.steps))
        for name in every:
            ex, desc = split(tasks[name], part, args), shown_description(name, tasks[name])
            record("multitask_lora", name, exact(generate_plain(lm, tok, [format_prompt(tok, p, desc) for p, _ in ex], args), ex))
        info["params"]["multitask_lora"] = sum(p.numel() for p in lm.parameters() if p.requires_grad)

    def per_task() -> None:
        lm = lora_model(base, args.rank)
        init = {k: v.clone() for k, v in lm.state_dict().items() if "lora_" in k}
        for name in [n for n in train_names if args.per_task_tasks is None or n in args.per_task_tasks]:
            key = f"per_task_lora/{name}"  # each task's LoRA is kept as it finishes: a killed run resumes mid-method
            if key not in done:
                lm.load_state_dict(init, strict=False)
                train_lora(lm, tok, sampler(tasks, [name], args), args.per_task_steps, args)
                ex = split(tasks[name], part, args)
                answers = generate_plain(lm, tok, [format_prompt(tok, p, tasks[name].description) for p, _ in ex], args)
                done[key] = {"score": exact(answers, ex)}
                save_done(args, seed, done)
                print(f"  per_task_lora {name}: {100 * done[key]['score']:.0f}", flush=True)
            record("per_task_lora", name, done[key]["score"])
        info["params"]["per_task_lora"] = len(train_names) * sum(v.numel() for v in init.values())  # the whole oracle, also for a subset

    def ours(condition: str) -> None:
        method = f"ours_{condition}"
        model = TextToLoRA(
            base,
            tok,
            condition=condition,
            rank=args.rank,
            cond_dim=args.cond_dim,
            hidden=(args.hidden,),
            max_length=args.max_length,
            seed=seed,
            text_encoder=minilm_encoder() if condition == "text" and args.text_encoder == "minilm" else None,
        )
        spec = {
            n: (tasks[n].descriptions if condition == "text" else tasks[n].description, split(tasks[n], "train", args)) for n in train_names
        }
        model.fit(spec, steps=args.steps, batch_size=args.batch_size, lr=args.lr, log=progress(method, args.steps))
        for name in every if condition == "text" else train_names:
            ex = split(tasks[name], part, args)
            cond = name if name in model.tasks_ else shown_description(name, tasks[name])
            record(method, name, model.exact_match(ex, cond, batch_size=args.eval_batch, max_new_tokens=args.max_new_tokens))
        info["params"][method] = model.num_parameters
        if condition == "text":
            info["tokens_per_s"].update(speed(model, base, tok, tasks, train_names, args))
            info["examples"] = examples(model, tasks, args)

    timed("base", base_methods)
    timed("base_3shot", base_3shot)
    timed("multitask_lora", multitask)
    timed("per_task_lora", per_task)
    timed("ours_task", lambda: ours("task"))
    timed("ours_text", lambda: ours("text"))
    return rows, info


# ----------------------------------------------------------------------------- resuming
SETTINGS = ("steps", "per_task_steps", "batch_size", "lr", "rank", "cond_dim", "hidden", "max_length", "max_new_tokens",
            "train_n", "eval_n", "eval_batch", "split", "tiny", "text_encoder", "per_task_tasks")  # fmt: skip
ADDED_SETTINGS = {"text_encoder": "base", "per_task_tasks": None}  # settings added later, with the value runs made before them used


@functools.cache
def code_version() -> str:
    """The git commit the benchmark runs (``+`` if its code differs from it), recorded with each finished method.

    Read once, when the process starts (``main`` calls it first): commits made while a long run goes on do not
    change the code the process has loaded, so they must not change what it records.
    """
    import subprocess

    try:
        run = lambda *cmd: subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=Path(__file__).parent).stdout.strip()  # noqa: E731
        return run("git", "rev-parse", "--short", "HEAD") + (
            "+" if run("git", "diff", "--name-only", "HEAD", "--", "../src", "*.py") else ""
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def done_path(args: argparse.Namespace, seed: int) -> Path:
    return Path(f"{args.out}.seed{seed}.done.json")


def load_done(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """Methods an earlier run of this seed finished, if it ran with the same settings (else nothing)."""
    path = done_path(args, seed)
    if not path.exists():
        return {}
    saved = json.loads(path.read_text())
    settings = {k: getattr(args, k) for k in SETTINGS}
    if {**ADDED_SETTINGS, **saved.get("settings", {})} != settings:
        print(f"{path}: other settings ({saved.get('settings')}); starting afresh", flush=True)
        return {}
    return dict(saved["methods"])


def save_done(args: argparse.Namespace, seed: int, done: dict[str, Any]) -> None:
    """Write atomically (a kill mid-write keeps the previous file)."""
    path = done_path(args, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"settings": {k: getattr(args, k) for k in SETTINGS}, "methods": done}, indent=1))
    tmp.replace(path)


def load_seed(stem: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows and info of one seed's run: its CSV and JSON when it finished, else the methods its done file holds.

    A seed still running (or killed) is merged with the methods it has finished, so an interim report can be written;
    the report lists which methods each seed contributes.
    """
    rows: list[dict[str, Any]] = []
    if stem.with_suffix(".csv").exists():
        with stem.with_suffix(".csv").open() as f:
            rows += [{**r, "seed": int(r["seed"]), "exact_match": float(r["exact_match"])} for r in csv.DictReader(f)]
        return rows, json.loads(stem.with_suffix(".json").read_text())
    found = sorted(stem.parent.glob(f"{stem.name}.seed*.done.json"))
    if len(found) != 1:
        raise SystemExit(f"expected {stem}.csv or one {stem}.seed<S>.done.json, got {[str(f) for f in found]}; fix: run that seed first")
    saved = json.loads(found[0].read_text())
    methods = saved["methods"]
    seed = int(found[0].name.split(".seed")[1].split(".")[0])
    info: dict[str, Any] = {"seed": seed, "split": saved["settings"]["split"], "params": {}, "minutes": {}, "tokens_per_s": {}}
    for method in METHODS:  # whole methods only (a per-task LoRA still training leaves "per_task_lora/<task>" entries)
        if method in methods:
            rows += methods[method]["rows"]
            for key in ("params", "minutes", "tokens_per_s"):
                info[key].update(methods[method][key])
            if methods[method].get("examples"):
                info["examples"] = methods[method]["examples"]
    return rows, info


def progress(label: str, steps: int) -> Callable[[int, float], None]:
    """A ``log(step, loss)`` printing the mean loss and seconds per step every 50 steps."""
    t0, losses = time.time(), []

    def log(step: int, loss: float) -> None:
        losses.append(loss)
        if (step + 1) % 50 == 0 or step + 1 == steps:
            rate = (time.time() - t0) / (step + 1)
            print(f"  {label} step {step + 1}/{steps}: loss {statistics.mean(losses[-50:]):.3f}, {rate:.2f} s/step", flush=True)

    return log


def speed(
    model: TextToLoRA, base: Any, tok: Any, tasks: dict[str, GenerationTask], names: Sequence[str], args: argparse.Namespace
) -> dict[str, float]:
    """Generated tokens per second, greedy, 16 prompts: base, a merged LoRA, ours with 4 tasks mixed.

    A batch decodes until its longest answer ends, so each call counts prompts x (longest answer's tokens + the end
    token, at most ``max_new_tokens``): a model whose answers end early is not credited with tokens it never made.
    """
    prompts = [p for n in names[:4] for p, _ in split(tasks[n], "train", args)[:4]]
    which = [n for n in names[:4] for _ in range(4)]
    texts = [format_prompt(tok, p, tasks[n].description) for p, n in zip(prompts, which, strict=True)]
    merged = lora_model(base, args.rank).merge_and_unload()
    out = {}
    for label, fn in (
        ("base", lambda: generate_plain(base, tok, texts, args)),
        ("merged_lora", lambda: generate_plain(merged, tok, texts, args)),
        ("ours_mixed_4_tasks", lambda: model.generate(prompts, which, max_new_tokens=args.max_new_tokens)),
    ):
        t0 = time.time()
        answers = fn()
        seconds = time.time() - t0
        steps = min(args.max_new_tokens, 1 + max(len(tok(a, add_special_tokens=False)["input_ids"]) for a in answers))
        out[label] = len(prompts) * steps / seconds
    return out


def examples(model: TextToLoRA, tasks: dict[str, GenerationTask], args: argparse.Namespace) -> list[dict[str, str]]:
    """Generations for the README: two prompts of one task per group, as the benchmark shows them (greedy)."""
    out = []
    for names in GROUPS.values():
        name = next(n for n in names if n in tasks)
        desc = shown_description(name, tasks[name])
        cond = name if name in model.tasks_ else desc
        for prompt, target in split(tasks[name], args.split, args)[:2]:
            got = model.generate([prompt], cond, max_new_tokens=args.max_new_tokens)[0]
            out.append({"task": name, "description": desc, "prompt": prompt, "target": target, "generated": got})
    return out


# ----------------------------------------------------------------------------- reports
def mean_std(values: Sequence[float]) -> str:
    if not values:
        return "—"
    m = 100 * statistics.mean(values)
    return f"{m:.1f} ± {100 * statistics.stdev(values):.1f}" if len(values) > 1 else f"{m:.1f}"


def group_means(rows: list[dict[str, Any]], method: str, group: str) -> list[float]:
    seeds = sorted({r["seed"] for r in rows})
    out = []
    for s in seeds:
        vals = [r["exact_match"] for r in rows if r["seed"] == s and r["method"] == method and r["group"] == group]
        if vals:
            out.append(statistics.mean(vals))
    return out


def write_report(rows: list[dict[str, Any]], infos: list[dict[str, Any]], args: argparse.Namespace, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with (out.with_suffix(".csv")).open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    params = {m: next((i["params"][m] for i in infos if m in i["params"]), 0) for m in methods}
    lines = [
        "# Text-to-LoRA on SmolLM2-135M-Instruct (issue 36)",
        "",
        f"Exact match (%), mean ± std over seeds {sorted({r['seed'] for r in rows})}, split `{infos[0].get('split', args.split)}`. "
        "Command: see the header of "
        "`benchmarks/t2l.py` and the per-seed runs listed below.",
        "",
        "| method | seeds | trainable params | seen (21) | held-out compositions (4) | held-out new operations (8) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for m in methods:
        cells = [mean_std(group_means(rows, m, g)) for g in ("seen", "composed", "new")]
        seeds = ", ".join(str(s) for s in sorted({r["seed"] for r in rows if r["method"] == m}))
        lines.append(f"| {m} | {seeds} | {params[m]:,} | {' | '.join(cells)} |")
    lines += ["", "Per task (mean over seeds):", "", "| task | group | " + " | ".join(methods) + " |", "|---|---|" + "---:|" * len(methods)]
    for name in [n for names in GROUPS.values() for n in names]:
        group = next(g for g, names in GROUPS.items() if name in names)
        cells = []
        for m in methods:
            vals = [r["exact_match"] for r in rows if r["method"] == m and r["task"] == name]
            cells.append(f"{100 * statistics.mean(vals):.0f}" if vals else "—")
        lines.append(f"| {name} | {group} | {' | '.join(cells)} |")
    with_examples: dict[str, Any] = next((info for info in infos if info.get("examples")), {"examples": [], "seed": None})
    shown: list[dict[str, str]] = with_examples["examples"]
    if shown:
        lines += [
            "",
            f"Generations of `ours_text` (seed {with_examples['seed']}, greedy):",
            "",
            "| task | description shown | input | target | generated |",
        ]
        lines.append("|---|---|---|---|---|")
        lines += [f"| {e['task']} | {e['description']} | {e['prompt'][:60]} | {e['target'][:40]} | {e['generated'][:40]} |" for e in shown]
    lines += ["", "Generation speed (tokens/s, greedy, 16 prompts):", ""]
    for info in infos:
        speeds = ", ".join(f"{k} {v:.1f}" for k, v in info.get("tokens_per_s", {}).items())
        minutes = ", ".join(f"{k} {v:.1f}" for k, v in info.get("minutes", {}).items())
        lines.append(f"* seed {info['seed']}: {speeds or '—'}; minutes per method: {minutes}")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    plot(rows, methods, params, out.with_suffix(".png"))


def plot(rows: list[dict[str, Any]], methods: list[str], params: dict[str, int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for group, marker in (("seen", "o"), ("composed", "s"), ("new", "^")):
        for m in methods:
            vals = group_means(rows, m, group)
            if vals:
                ax.scatter(max(params[m], 1), 100 * statistics.mean(vals), marker=marker, label=f"{m} ({group})")
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters (log; 1 = none)")
    ax.set_ylabel("exact match (%)")
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--steps", type=int, default=400, help="training steps of the multi-task LoRA and of ours")
    parser.add_argument("--per-task-steps", type=int, default=80)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--cond-dim", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--max-length", type=int, default=96)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--train-n", type=int, default=200)
    parser.add_argument("--eval-n", type=int, default=32)
    parser.add_argument("--eval-batch", type=int, default=16)
    parser.add_argument("--split", choices=["val", "test"], default="test")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--text-encoder", choices=["base", "minilm"], default="base", help="ours_text: embed descriptions with the frozen base LM or MiniLM"
    )
    parser.add_argument(
        "--per-task-tasks",
        nargs="+",
        default=None,
        choices=lm_tasks.TRAIN,
        help="per_task_lora: train only these tasks' LoRAs (to split one seed's oracle over processes with separate --out stems; "
        "--merge joins the rows of a seed's stems)",
    )
    parser.add_argument("--tiny", action="store_true", help="a tiny random Llama instead of SmolLM2 (a smoke test, not a result)")
    parser.add_argument("--out", default=str(RESULTS / "t2l"))
    parser.add_argument("--merge", nargs="+", help="per-seed output stems to merge into --out")
    args = parser.parse_args()
    code_version()  # the commit this process runs, read now
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if args.merge:
        rows, infos = [], []
        for stem in args.merge:
            r, info = load_seed(Path(stem))
            rows += r
            infos.append(info)
        write_report(rows, infos, args, out)
        return
    rows, infos = [], []
    for seed in args.seeds:
        r, info = run_seed(args, seed)
        rows += r
        infos.append(info)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(info if len(args.seeds) == 1 else infos, indent=1))
    write_report(rows, infos, args, out)
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
