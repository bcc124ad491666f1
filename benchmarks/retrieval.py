"""Hypencoder retrieval (issue 33): q-nets against BM25, frozen MiniLM, a fine-tuned bi-encoder and late interaction.

Every trained model uses the same encoder (all-MiniLM-L6-v2, ``hypernet data fetch minilm``), the same
training pairs, the same steps, batch size, learning rates (encoder ``--lr``, everything else
``--head-lr``) and one BM25 hard negative per query (``bm25s``). Documents are encoded once by the frozen
MiniLM (``freeze_documents=True``: only the query side trains), mean-pooled; the features are cached in
``~/.cache/hypernet/retrieval_bench`` per encoder state and text set.

* **BBC known-item** (``hypernet data fetch bbc``): train on the (title, body) pairs of 60 % of the 2,225
  articles (10 % of those held out for validation); query with the other 40 %: their titles, and one
  sentence from the middle of their body (removed from the indexed body), against all 2,225 bodies. MRR@10.
* **arXiv tags** (``hypernet data fetch arxiv-tags``): out of domain (the BBC-trained models) and
  fine-tuned from MiniLM on half of the 314 queries (a fixed split), evaluated on the other half;
  nDCG@10 with all tags and without ``arxiv_doc``. BM25 anchors (DATA.md): 0.328 / 0.413 on all queries.
* **Synthetic** (d = 32): queries "opposite c<k>" (relevant: clusters at +u and -u) and "xor f<a> f<b>"
  (relevant: the two opposite-sign quadrants of four). A small random BERT encodes the query tokens;
  document vectors are given. Recall@10 of the 10 relevant test documents.
* Baselines: BM25, frozen MiniLM cosine, fine-tuned bi-encoder (cosine / 0.05), ColBERT-style late
  interaction (MaxSim over 128-d token vectors, fine-tuned).

One process per seed writes ``results/retrieval_s<seed>.json``; ``--merge`` writes ``retrieval.md``,
``retrieval.csv`` and ``retrieval.png`` (BBC MRR@10 vs index bytes per document).

Usage:
    python benchmarks/retrieval.py --seed 0      # then --seed 1, --seed 2 (one at a time)
    python benchmarks/retrieval.py --merge
    # choose the synthetic steps on validation (a third drawn part), then rerun only that part into the seed files
    python benchmarks/retrieval.py --parts synthetic --synthetic-split val --synthetic-steps N --stem retrieval-synval-N --seed S
    python benchmarks/retrieval.py --parts synthetic --synthetic-steps N --update --seed S
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from hypernet.data.arxiv_tags import ArxivTags, load_arxiv_tags
from hypernet.data.cache import data_dir
from hypernet.data.minilm import load_minilm
from hypernet.recipes.retrieval import Hypencoder
from hypernet.recipes.retrieval._baselines import BiEncoder, LateInteraction
from hypernet.recipes.retrieval._bm25 import BM25
from hypernet.recipes.retrieval._data import WordTokenizer, bbc_known_item, synthetic_relevance, tiny_bert
from hypernet.recipes.retrieval._dual import DualEncoder
from hypernet.recipes.retrieval._encode import pool, tokens
from hypernet.recipes.retrieval._metrics import mrr, ndcg, recall

RESULTS = Path(__file__).parent / "results"
CACHE = data_dir() / "retrieval_bench"
TRAINED = ("hypencoder", "bi-encoder", "late-interaction")
DOC_LEN = 256


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------- document features, cached
def doc_features(
    encoder: torch.nn.Module, tokenizer: Any, texts: Sequence[str], tag: str, max_length: int = DOC_LEN
) -> dict[str, torch.Tensor]:
    """Mean-pooled vectors and bf16 token states of ``texts`` by the frozen encoder (cached on disk)."""
    from safetensors.torch import load_file, save_file

    key = hashlib.sha256(("\x00".join(texts) + f"|{tag}|{max_length}").encode()).hexdigest()[:16]
    path = CACHE / f"{tag}-{key}.safetensors"
    if path.is_file():
        return load_file(str(path))
    log(f"encoding {len(texts)} documents ({tag}) -> {path}")
    pooled, toks, masks = [], [], []
    with torch.no_grad():
        for s in range(0, len(texts), 32):
            hidden, mask = tokens(encoder, tokenizer, texts[s : s + 32], max_length)
            pooled.append(pool(hidden, mask, "mean"))
            toks.append(torch.nn.functional.pad(hidden, (0, 0, 0, max_length - hidden.shape[1])).to(torch.bfloat16))
            masks.append(torch.nn.functional.pad(mask, (0, max_length - mask.shape[1])))
    out = {"pooled": torch.cat(pooled), "tokens": torch.cat(toks), "mask": torch.cat(masks)}
    CACHE.mkdir(parents=True, exist_ok=True)
    save_file(out, str(path))
    return out


def features_for(model: DualEncoder, feats: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    return (feats["tokens"], feats["mask"]) if isinstance(model, LateInteraction) else (feats["pooled"],)


def bytes_per_doc(name: str, feats: dict[str, torch.Tensor], late_dim: int = 128) -> float:
    if name == "late-interaction":
        return float(feats["mask"].sum(1).float().mean()) * late_dim * 4
    if name == "bm25":
        return float("nan")
    return feats["pooled"].shape[1] * 4.0


# ----------------------------------------------------------------------------- models and ranking
def build(name: str, seed: int, query_len: int, skip: bool = False) -> DualEncoder:
    encoder, tokenizer = load_minilm()
    torch.manual_seed(seed)
    kw: dict[str, Any] = {"freeze_documents": True, "query_max_length": query_len, "doc_max_length": DOC_LEN}
    if name == "hypencoder":
        return Hypencoder(encoder, tokenizer, qnet_layers=2, seed=seed, skip=skip, **kw)
    if name == "late-interaction":
        return LateInteraction(encoder, tokenizer, dim=128, **kw)
    return BiEncoder(encoder, tokenizer, **kw)


def rank(
    model: DualEncoder, queries: Sequence[str], feats: dict[str, torch.Tensor], k: int = 10, keep: torch.Tensor | None = None
) -> list[list[int]]:
    """Top-``k`` document ids of each query (``keep``: only these documents are searched)."""
    model.eval()
    if isinstance(model, Hypencoder):
        vectors = feats["pooled"] if keep is None else feats["pooled"][keep]
        ids = model.search(list(queries), model.index(vectors=vectors, graph_neighbors=0, keep_texts=False), k=k).ids
    else:
        f = features_for(model, feats)
        if keep is not None:
            f = tuple(t[keep] for t in f)
        out = []
        with torch.no_grad():
            docs = model.doc_repr(f)
            for s in range(0, len(queries), 32):
                out.append(model.scores(model.encode_queries(list(queries[s : s + 32])), docs).topk(k, dim=1).indices)
        ids = torch.cat(out)
    if keep is not None:
        ids = keep[ids]
    return ids.tolist()


def bm25_rank(corpus: Sequence[str], queries: Sequence[str], k: int = 10) -> list[list[int]]:
    return BM25(corpus).topk(queries, k).tolist()


def train(
    model: DualEncoder,
    pairs: list[tuple[str, int]],
    corpus: list[str],
    feats: dict[str, torch.Tensor],
    args: argparse.Namespace,
    steps: int,
    seed: int,
) -> float:
    t = time.time()
    losses: list[float] = []
    model.fit(
        pairs,
        corpus,
        features=features_for(model, feats),
        steps=steps,
        batch_size=args.batch_size,
        lr=args.lr,
        head_lr=args.head_lr,
        seed=seed,
        callback=lambda s, v: losses.append(v),
    )
    log(
        f"  trained {type(model).__name__} {steps} steps in {time.time() - t:.0f}s, "
        f"loss {statistics.mean(losses[:10]):.3f} -> {statistics.mean(losses[-10:]):.3f}"
    )
    return time.time() - t


# ----------------------------------------------------------------------------- the three tasks
def run_bbc(args: argparse.Namespace, seed: int, rows: list[dict[str, Any]]) -> dict[str, DualEncoder]:
    task = bbc_known_item()
    encoder, tokenizer = load_minilm()
    feats = doc_features(encoder, tokenizer, task.corpus, "bbc-minilm")
    sets = {**{f"test-{k}": v for k, v in task.test.items()}, "valid-titles": task.valid["titles"]}

    def record(name: str, ranked_by: dict[str, list[list[int]]], seconds: float = 0.0) -> None:
        for qset, queries in sets.items():
            rel = [r for _, r in queries]
            rows.append(
                {
                    "task": "bbc",
                    "set": qset,
                    "model": name,
                    "seed": seed,
                    "mrr@10": mrr(ranked_by[qset], rel),
                    "recall@10": recall(ranked_by[qset], rel),
                    "bytes_per_doc": bytes_per_doc(name, feats),
                    "train_s": seconds,
                }
            )
        log(f"  bbc {name}: " + "  ".join(f"{r['set']} {r['mrr@10']:.4f}" for r in rows[-len(sets) :]))

    if seed == args.seeds_with_fixed_baselines:
        record("bm25", {s: bm25_rank(task.corpus, [q for q, _ in v]) for s, v in sets.items()})
        frozen = BiEncoder(*load_minilm(), freeze_documents=True)
        record("frozen-minilm", {s: rank(frozen, [q for q, _ in v], feats) for s, v in sets.items()})
    models = {}
    for name in [m for m in TRAINED if m in args.models]:
        model = build(name, seed, query_len=64, skip=args.skip)
        secs = train(model, task.train, task.corpus, feats, args, args.steps, seed)
        record(name, {s: rank(model, [q for q, _ in v], feats) for s, v in sets.items()}, secs)
        models[name] = model
        if isinstance(model, Hypencoder):
            speed_rows(model, [q for q, _ in task.test["titles"][:200]], feats, seed, rows)
    return models


def speed_rows(model: Hypencoder, queries: list[str], feats: dict[str, torch.Tensor], seed: int, rows: list[dict[str, Any]]) -> None:
    """Approximate vs exhaustive search on the BBC index, one query at a time (q-nets generated beforehand)."""
    index = model.index(vectors=feats["pooled"], graph_neighbors=16)
    qnets = model.qnets(queries)
    t = time.perf_counter()
    exact = [model.search(qnets.select([i]), index, k=10).ids[0] for i in range(len(queries))]
    exact_ms = (time.perf_counter() - t) * 1e3 / len(queries)
    for entry, ef in ((32, 16), (64, 32), (128, 32), (256, 64)):
        t = time.perf_counter()
        approx = [
            model.search(qnets.select([i]), index, k=10, approximate=True, entry_points=entry, ef=ef).ids[0] for i in range(len(queries))
        ]
        ms = (time.perf_counter() - t) * 1e3 / len(queries)
        rec = statistics.mean(len(set(a.tolist()) & set(e.tolist())) / 10 for a, e in zip(approx, exact, strict=True))
        rows.append(
            {
                "task": "bbc-speed",
                "set": f"entry {entry}, ef {ef}",
                "model": "hypencoder",
                "seed": seed,
                "recall_vs_exhaustive": rec,
                "approx_ms": ms,
                "exhaustive_ms": exact_ms,
            }
        )
        log(f"  bbc speed entry {entry} ef {ef}: {ms:.2f} ms vs exhaustive {exact_ms:.2f} ms, recall {rec:.3f}")


def _arxiv_eval(name: str, rank_fn: Any, data: ArxivTags, qids: list[int], seed: int, setting: str, rows: list[dict[str, Any]]) -> None:
    for variant, d in (("all tags", data), ("without arxiv_doc", data.without())):
        ranked = rank_fn(d, [data.queries[i] for i in qids])
        rel = [d.relevant[i] for i in qids]
        rows.append(
            {
                "task": "arxiv",
                "set": f"{setting} / {variant}",
                "model": name,
                "seed": seed,
                "ndcg@10": ndcg(ranked, rel),
                "mrr@10": mrr(ranked, rel),
            }
        )
    log(f"  arxiv {setting} {name}: " + "  ".join(f"{r['set']} {r['ndcg@10']:.4f}" for r in rows[-2:]))


def run_arxiv(args: argparse.Namespace, seed: int, bbc_models: dict[str, DualEncoder], rows: list[dict[str, Any]]) -> None:
    data = load_arxiv_tags()
    encoder, tokenizer = load_minilm()
    feats_all = doc_features(encoder, tokenizer, data.texts, "arxiv-minilm", max_length=64)
    ax = data.uris.index("http://www.semanlink.net/tag/arxiv_doc")
    keep_without = torch.tensor([i for i in range(len(data.uris)) if i != ax])

    def model_rank(model: DualEncoder) -> Any:
        def fn(d: ArxivTags, queries: list[str]) -> list[list[int]]:
            keep = None if len(d.uris) == len(data.uris) else keep_without
            ranked = rank(model, queries, feats_all, keep=keep)
            if keep is None:
                return ranked
            back = {int(old): new for new, old in enumerate(keep_without.tolist())}
            return [[back[i] for i in row] for row in ranked]

        return fn

    order = torch.randperm(len(data.queries), generator=torch.Generator().manual_seed(0)).tolist()
    train_q, test_q = order[: len(order) // 2], order[len(order) // 2 :]
    everyone = list(range(len(data.queries)))
    if seed == args.seeds_with_fixed_baselines:
        bm = lambda d, qs: bm25_rank(d.texts, qs)  # noqa: E731
        _arxiv_eval("bm25", bm, data, everyone, seed, "all queries", rows)
        _arxiv_eval("bm25", bm, data, test_q, seed, "test half", rows)
        frozen = BiEncoder(*load_minilm(), freeze_documents=True, query_max_length=args.arxiv_query_len)
        _arxiv_eval("frozen-minilm", model_rank(frozen), data, everyone, seed, "all queries", rows)
        _arxiv_eval("frozen-minilm", model_rank(frozen), data, test_q, seed, "test half", rows)
    for name, model in bbc_models.items():  # out of domain: trained on BBC only
        model.query_max_length = args.arxiv_query_len
        _arxiv_eval(name, model_rank(model), data, everyone, seed, "out of domain, all queries", rows)
    pairs = [(data.queries[i], d) for i in train_q for d in sorted(data.relevant[i])]
    arg2 = argparse.Namespace(**{**vars(args), "batch_size": args.arxiv_batch_size})
    for name in [m for m in TRAINED if m in args.models]:
        model = build(name, seed, query_len=args.arxiv_query_len, skip=args.skip)
        train(model, pairs, data.texts, feats_all, arg2, args.arxiv_steps, seed)
        _arxiv_eval(name, model_rank(model), data, test_q, seed, "fine-tuned, test half", rows)


def run_synthetic(args: argparse.Namespace, seed: int, rows: list[dict[str, Any]]) -> None:
    val = args.synthetic_split == "val"
    data = synthetic_relevance(32, seed=0, validation=val)
    part = 2 if val else 1  # the third drawn part (validation) or the second (test); see synthetic_relevance
    n = data.vectors.shape[0] // (3 if val else 2)
    eval_ids = torch.arange(part * n, (part + 1) * n)
    tok = WordTokenizer(data.vocab)
    feats = {"pooled": data.vectors}
    for name in [m for m in ("hypencoder", "bi-encoder") if m in args.models]:
        encoder = tiny_bert(tok.vocab_size, 32, seed=seed)
        torch.manual_seed(seed)
        model: DualEncoder = (
            Hypencoder(encoder, tok, qnet_layers=2, freeze_documents=True, seed=seed, skip=args.skip)
            if name == "hypencoder"
            else BiEncoder(encoder, tok, freeze_documents=True)
        )
        t = time.time()
        model.fit(
            data.train,
            features=(data.vectors,),
            negatives=data.train_negatives,
            steps=args.synthetic_steps,
            batch_size=32,
            lr=1e-3,
            head_lr=1e-3,
            weight_decay=args.synthetic_weight_decay,
            seed=seed,
        )
        for qset, queries in (data.val if val else data.test).items():
            ranked = rank(model, [q for q, _ in queries], feats, keep=eval_ids)
            rel = [r for _, r in queries]
            rows.append(
                {
                    "task": "synthetic",
                    "set": qset,
                    "model": name,
                    "seed": seed,
                    "recall@10": recall(ranked, rel),
                    "train_s": time.time() - t,
                    "steps": args.synthetic_steps,
                    "weight_decay": args.synthetic_weight_decay,
                    "split": args.synthetic_split,
                }
            )
        log(f"  synthetic {name}: " + "  ".join(f"{r['set']} {r['recall@10']:.3f}" for r in rows[-2:]))


# ----------------------------------------------------------------------------- merge
def merge(files: list[Path], stem: str) -> None:
    rows = [r for f in files for r in json.loads(f.read_text())["rows"]]
    meta = [json.loads(f.read_text())["meta"] for f in files]
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["task"], r["set"], r["model"]), []).append(r)
    metric = {"bbc": "mrr@10", "arxiv": "ndcg@10", "synthetic": "recall@10"}
    table = []
    for (task, qset, model), rs in sorted(groups.items()):
        if task not in metric:
            continue
        vals = [r[metric[task]] for r in rs]
        table.append(
            {
                "task": task,
                "set": qset,
                "model": model,
                "metric": metric[task],
                "mean": statistics.mean(vals),
                "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                "seeds": len(vals),
                "bytes_per_doc": rs[0].get("bytes_per_doc", ""),
            }
        )
    with open(RESULTS / f"{stem}.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)
    lines = [
        "# Hypencoder retrieval (issue 33)",
        "",
        f"Seeds: {sorted({r['seed'] for r in rows})} (seed-independent baselines, BM25 and frozen MiniLM, once). Settings: "
        + json.dumps({k: v for k, v in (meta[0].get("earlier") or [meta[0]])[0]["args"].items() if k not in ("merge", "seed")}),
        "",
        *(
            [
                f"Synthetic rows rerun with `--update` (later settings): {sorted({r['steps'] for r in rows if 'steps' in r})} steps.",
                "",
            ]
            if any("steps" in r for r in rows)
            else []
        ),
        "Commands: "
        + "; ".join(sorted({c["command"] for m in meta for c in [*m.get("earlier", []), m]}))
        + f"; `python benchmarks/retrieval.py --merge --stem {stem}`",
        "",
        "| task | query set | model | metric | mean ± std | seeds | index bytes / doc |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in table:
        b = t["bytes_per_doc"]
        bs = "" if b in ("", None) or (isinstance(b, float) and math.isnan(b)) else f"{b:,.0f}"
        lines.append(
            f"| {t['task']} | {t['set']} | {t['model']} | {t['metric']} | {t['mean']:.4f} ± {t['std']:.4f} | {t['seeds']} | {bs} |"
        )
    lines += ["", "BM25 anchors on arXiv tags (DATA.md, all 314 queries): nDCG@10 0.328 with all tags, 0.413 without `arxiv_doc`.", ""]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, qset in zip(axes, ("test-titles", "test-sentences"), strict=True):
        for t in table:
            if t["task"] == "bbc" and t["set"] == qset and t["model"] != "bm25":
                ax.errorbar([t["bytes_per_doc"]], [t["mean"]], yerr=[t["std"]], fmt="o", capsize=3, label=t["model"])
        ax.set_xscale("log")
        ax.set_xlabel("index bytes per document (float32)")
        ax.set_ylabel("MRR@10")
        ax.set_title(f"BBC known-item, {qset}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{stem}.png", dpi=120)
    print(f"wrote {RESULTS / stem}.md / .csv / .png")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--parts", default="bbc,arxiv,synthetic")
    p.add_argument("--steps", type=int, default=300, help="BBC training steps (every trained model)")
    p.add_argument("--arxiv-steps", type=int, default=100)
    p.add_argument("--synthetic-steps", type=int, default=1000)
    p.add_argument("--synthetic-weight-decay", type=float, default=0.0, help="AdamW weight decay of the synthetic part (both models)")
    p.add_argument(
        "--synthetic-split", choices=["test", "val"], default="test", help="val: evaluate on a third drawn part, to choose settings on"
    )
    p.add_argument(
        "--update", action="store_true", help="keep the rows of other parts already in this seed's file; replace only the parts run"
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--arxiv-batch-size", type=int, default=16)
    p.add_argument("--arxiv-query-len", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--head-lr", type=float, default=1e-3)
    p.add_argument("--seeds-with-fixed-baselines", type=int, default=0, help="the seed whose run also measures BM25 and frozen MiniLM")
    p.add_argument("--no-skip", dest="skip", action="store_false", help="Hypencoder(skip=False): the paper's q-net exactly")
    p.add_argument("--models", type=lambda v: v.split(","), default=list(TRAINED), help="the trained models to run (comma-separated)")
    p.add_argument("--stem", default="retrieval")
    p.add_argument("--merge", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.merge:
        merge(sorted(RESULTS.glob(f"{args.stem}_s*.json")), args.stem)
        return 0
    rows: list[dict[str, Any]] = []
    start = time.time()
    parts = set(args.parts.split(","))
    out = RESULTS / f"{args.stem}_s{args.seed}.json"
    earlier: list[dict[str, Any]] = []  # --update: the meta of the runs whose rows are kept
    if args.update and out.exists():
        old = json.loads(out.read_text())
        rows = [r for r in old["rows"] if r["task"].split("-")[0] not in parts]  # "bbc-speed" belongs to "bbc"
        earlier = [*old["meta"].get("earlier", []), {k: v for k, v in old["meta"].items() if k != "earlier"}]
    models: dict[str, DualEncoder] = {}

    def save() -> None:
        meta = {
            "args": vars(args),
            "seconds": time.time() - start,
            "command": "python benchmarks/retrieval.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "earlier": earlier,
        }
        out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
        log(f"wrote {out} ({time.time() - start:.0f}s)")

    if "synthetic" in parts:
        run_synthetic(args, args.seed, rows)
        save()
    if "bbc" in parts:
        models = run_bbc(args, args.seed, rows)
        save()
    if "arxiv" in parts:
        run_arxiv(args, args.seed, models, rows)
        save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
