"""Compare two library versions on the same ``perf.py`` sections, from alternating runs.

Run ``perf.py`` alternately on each version (same harness, ``PYTHONPATH`` picking the library), e.g.::

    for i in 1 2 3; do
      PYTHONPATH=/path/to/old/src python benchmarks/perf.py --sections 2,3 --output /tmp/cmp_old_$i
      PYTHONPATH=src python benchmarks/perf.py --sections 2,3 --output /tmp/cmp_new_$i
    done
    python benchmarks/perf_compare.py --before /tmp/cmp_old_*.csv --after /tmp/cmp_new_*.csv --out results/perf_compare

Each variant's time is the median of its per-run medians; the table gives after / before per variant and
per within-run ratio (HyperModel / reference), since within-run ratios cancel the machine's load.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

RATIOS = (  # (label, numerator variant, denominator variant), as perf.py's own ratio table
    ("128 sets, chunked: HyperModel / hand-written bmm", "chunked: hypernet HyperModel", "chunked: hand-written bmm"),
    ("128 sets, mlp: HyperModel / hand-written bmm", "mlp: hypernet HyperModel", "mlp: hand-written bmm"),
    ("8 unique in 128: per-sample loop / HyperModel", "per-sample Python loop", "hypernet HyperModel"),
)


def read(paths: list[str]) -> list[dict[tuple[str, str], float]]:
    """One ``{(section, variant): median_ms}`` per run."""
    runs = []
    for path in paths:
        with open(path, newline="") as f:
            runs.append({(r["section"], r["variant"]): float(r["median_ms"]) for r in csv.DictReader(f)})
    return runs


def ratio(run: dict[tuple[str, str], float], num: str, den: str) -> float | None:
    """num / den within one run, when both variants are in the same section of it."""
    for (section, variant), value in run.items():
        if variant == num and (section, den) in run:
            return value / run[(section, den)]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", nargs="+", required=True, help="perf.py CSVs of the old version")
    parser.add_argument("--after", nargs="+", required=True, help="perf.py CSVs of the new version")
    parser.add_argument("--out", required=True, help="writes <out>.md")
    parser.add_argument("--note", default="", help="a line (command, commits, load) put under the title")
    args = parser.parse_args()
    before, after = read(args.before), read(args.after)
    keys = [k for k in before[0] if all(k in r for r in before + after)]
    lines = ["# Before / after on the same perf.py sections (alternating runs)", "", args.note, ""]
    lines += ["| section | variant | before ms (per run) | after ms (per run) | after / before |", "|---|---|---|---|---:|"]
    for key in keys:
        b, a = [r[key] for r in before], [r[key] for r in after]
        cells = ", ".join(f"{v:.1f}" for v in b), ", ".join(f"{v:.1f}" for v in a)
        lines.append(f"| {key[0]} | {key[1]} | {cells[0]} | {cells[1]} | {statistics.median(a) / statistics.median(b):.3f} |")
    lines += ["", "| within-run ratio | before (per run) | after (per run) | median before | median after |", "|---|---|---|---:|---:|"]
    for label, num, den in RATIOS:
        rb = [x for x in (ratio(r, num, den) for r in before) if x is not None]
        ra = [x for x in (ratio(r, num, den) for r in after) if x is not None]
        if rb and ra:
            fmt = ", ".join
            lines.append(
                f"| {label} | {fmt(f'{x:.3f}' for x in rb)} | {fmt(f'{x:.3f}' for x in ra)} | "
                f"{statistics.median(rb):.3f} | {statistics.median(ra):.3f} |"
            )
    Path(args.out).with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(Path(args.out).with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
