#!/usr/bin/env python3
"""Turns bench/load.sh's results into bench/REPORT.md and two charts.

    bench/report.py [RESULTS.jsonl ...]

Without arguments, reads the newest results file of each engine and size in bench/results.
Writes bench/REPORT.md (a table per engine: each scenario's requests per second and p99 at
each size, then every target of the performance issue, met or missed, with the numbers) and
bench/report-throughput.png and bench/report-p99.png (matplotlib).
"""

import json
import pathlib
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BENCH = pathlib.Path(__file__).resolve().parent
LISTS = ["rw-list-anonymous", "rw-list-signed-in", "rw-list-by-tag", "rw-list-by-author",
         "rw-list-favorited", "rw-feed"]
# Per engine: the list reads' floor in requests per second, and their p99 ceiling in ms.
TARGET_RPS = {"sqlite": 15000, "postgres": 8000}
TARGET_P99_MS = 10.0


def newest_results(paths):
    """The rows of the newest file per (engine, posts)."""
    chosen = {}
    for path in sorted(paths):
        match = re.match(r"(\d{4}-\d{2}-\d{2})-(\w+)-(\d+)\.jsonl$", path.name)
        if match:
            chosen[(match.group(2), int(match.group(3)))] = path
    rows = []
    for path in chosen.values():
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def table(rows, engine, sizes):
    by = {(r["scenario"], r["posts"]): r for r in rows if r["engine"] == engine}
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows if r["engine"] == engine))
    head = "| scenario | " + " | ".join(f"{s:,} posts: req/s | p99 ms" for s in sizes) + " |"
    lines = [head, "|---|" + "---:|---:|" * len(sizes)]
    for scenario in scenarios:
        cells = []
        for size in sizes:
            row = by.get((scenario, size))
            if row is None:
                cells += ["", ""]
                continue
            flag = f" ({row['non2xx']} non-2xx)" if row["non2xx"] else ""
            cells += [f"{row['rps']:,.0f}{flag}", f"{row['p99_ms']:.2f}"]
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return lines


def verdict(ok):
    return "met" if ok else "**missed**"


def targets(rows, engine, sizes):
    by = {(r["scenario"], r["posts"]): r for r in rows if r["engine"] == engine}
    lines = []
    for size in sizes:
        plain = by.get(("rw-list-anonymous", size))
        if not plain:
            continue
        for scenario in LISTS:
            row = by.get((scenario, size))
            if row:
                ok = row["rps"] >= TARGET_RPS[engine] and row["p99_ms"] <= TARGET_P99_MS
                lines.append(f"- {size:,} posts, {scenario}: {row['rps']:,.0f}/s, p99 "
                             f"{row['p99_ms']:.2f} ms (target ≥ {TARGET_RPS[engine]:,}/s, p99 ≤ "
                             f"{TARGET_P99_MS:g} ms): {verdict(ok)}")
        signed = by.get(("rw-list-signed-in", size))
        if signed:
            gap = abs(signed["rps"] - plain["rps"]) / max(plain["rps"], signed["rps"])
            lines.append(f"- {size:,} posts, anonymous against signed in: {gap:.0%} apart "
                         f"(target ≤ 20%): {verdict(gap <= 0.20)}")
        for scenario in ["rw-list-by-tag", "rw-list-by-author", "rw-feed"]:
            row = by.get((scenario, size))
            if row:
                change = row["rps"] / plain["rps"] - 1
                lines.append(f"- {size:,} posts, {scenario}: throughput {change:+.0%} against "
                             f"the plain list (target no worse than -30%): "
                             f"{verdict(change >= -0.30)}")
        here = [r for r in rows if r["engine"] == engine and r["posts"] == size]
        vm_rss = max(r["vm_rss_mib"] for r in here)
        if any(r["rss_mib"] is None for r in here):
            lines.append(f"- {size:,} posts, resident memory under load: not measured apart "
                         f"(VmRSS peaked at {vm_rss:.1f} MiB, which counts mapped file pages: on "
                         "SQLite, the memory-mapped database): **unknown**")
        else:
            rss = max(r["rss_mib"] for r in here)
            lines.append(f"- {size:,} posts, the server's own memory (RssAnon) under load: "
                         f"{rss:.1f} MiB, VmRSS {vm_rss:.1f} MiB (target ≤ 60 MiB): "
                         f"{verdict(rss <= 60)}")
        startup = plain["startup_ms"]
        lines.append(f"- {size:,} posts, start-up to ready: {startup} ms (target < 1 s): "
                     f"{verdict(startup < 1000)}")
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        for scenario in LISTS + ["rw-list-deep-offset", "rw-article", "rw-tags"]:
            a, b = by.get((scenario, small)), by.get((scenario, large))
            if a and b:
                change = (b["p99_ms"] - a["p99_ms"]) / a["p99_ms"]
                lines.append(f"- {scenario}, p99 from {small:,} to {large:,} posts: "
                             f"{a['p99_ms']:.2f} → {b['p99_ms']:.2f} ms ({change:+.0%}; target "
                             f"within 20%): {verdict(change <= 0.20)}")
    return lines


def chart(rows, field, label, path):
    keys = sorted({(r["engine"], r["posts"]) for r in rows})
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    by = {(r["scenario"], r["engine"], r["posts"]): r[field] for r in rows}
    width = 0.8 / max(1, len(keys))
    figure, axes = plt.subplots(figsize=(14, 6))
    for n, (engine, posts) in enumerate(keys):
        values = [by.get((s, engine, posts), 0) for s in scenarios]
        axes.bar([i + n * width for i in range(len(scenarios))], values, width,
                 label=f"{engine}, {posts:,} posts")
    axes.set_xticks([i + width * (len(keys) - 1) / 2 for i in range(len(scenarios))])
    axes.set_xticklabels(scenarios, rotation=60, ha="right")
    axes.set_ylabel(label)
    if field == "p99_ms":
        axes.set_yscale("log")
    axes.legend()
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def main():
    paths = [pathlib.Path(p) for p in sys.argv[1:]] or list((BENCH / "results").glob("*.jsonl"))
    rows = newest_results(paths)
    if not rows:
        sys.exit("no results: run bench/load.sh first")
    first = rows[0]
    out = ["# Load report", "",
           f"Generated by bench/report.py from bench/results (newest run per engine and size); "
           f"machine: {first['machine']}; {first['connections']} connections, "
           f"{first['seconds']} s per scenario, load generator on the same machine. "
           "Reproduce with `bench/load.sh POSTS ENGINE` per size, then `bench/report.py`.", ""]
    for engine in sorted({r["engine"] for r in rows}):
        sizes = sorted({r["posts"] for r in rows if r["engine"] == engine})
        dates = sorted({r["date"] for r in rows if r["engine"] == engine})
        out += [f"## {engine} ({', '.join(dates)})", ""] + table(rows, engine, sizes) + [""]
        out += ["### Targets", ""] + targets(rows, engine, sizes) + [""]
    out += ["![throughput](report-throughput.png)", "", "![p99](report-p99.png)", ""]
    (BENCH / "REPORT.md").write_text("\n".join(out))
    chart(rows, "rps", "requests per second", BENCH / "report-throughput.png")
    chart(rows, "p99_ms", "p99 latency, ms (log scale)", BENCH / "report-p99.png")
    print(f"wrote {BENCH / 'REPORT.md'}")


main()
