#!/usr/bin/python3
"""Scaling tables and plots from the benchmark suite's JSON lines (benchmarks/bench.py).

    benchmarks/summarize.py results/*.jsonl [--md FILE] [--csv FILE] [--plots DIR]

Reads the `summary` records, groups them by workload, version, mode (weak/strong), engine,
dtype, device and threads per rank, and for each rank count takes the median over repeated
runs of the total figure of merit (scored samples/s: all samples over the slowest rank's
median iteration time); a 1-rank run (weak or strong: the same work) counts for both modes.
Efficiency against the group's 1-rank run (or its fewest ranks, R0):
    weak:   (X_N / N) / (X_R0 / R0)   (per-rank throughput kept; 1.00 = perfect)
    strong: (X_N / X_R0) / (N / R0)   (speedup over the ideal; 1.00 = perfect)
A run whose verification was not `ok` is listed with its status and left out of the figures.
Prints the Markdown table; --md and --csv write it to files; --plots writes one PNG per
group (throughput and efficiency against ranks) with matplotlib (Debian's python3-matplotlib).
"""
import argparse
import csv
import io
import json
import os
import statistics
import sys
from collections import defaultdict

COLUMNS = ["workload", "version", "mode", "engine", "dtype", "device", "threads", "ranks", "runs", "samples_total",
           "samples_per_s_total", "samples_per_s_per_rank", "tokens_per_s_total", "tflops_per_rank",
           "share_of_peak", "speedup", "efficiency", "peak_rss_mib", "verified", "cpu", "hosts"]


def load(paths):
    recs, skipped = [], []
    for p in paths:
        with open(p) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    r = json.loads(line)
                except json.JSONDecodeError as e:
                    sys.exit(f"summarize: {p}:{n}: not JSON: {e}")
                if r.get("record") == "summary":
                    recs.append(r)
                elif r.get("record") == "skipped":
                    skipped.append(r)
    return recs, skipped


def table(recs):
    groups = defaultdict(lambda: defaultdict(list))
    bad = []
    for r in recs:
        key = (r["workload"], r["workload_version"], r["mode"], r["engine"] + ("+adam" if r["adam"] else ""),
               r["dtype"], r["device"], r["threads_per_rank"])
        if r["verification"]["status"] != "ok":
            bad.append((key, r))
            continue
        # On 1 rank weak and strong scaling do the same work: the run is both series' baseline.
        for mode in (("weak", "strong") if r["ranks"] == 1 else (r["mode"],)):
            groups[key[:2] + (mode,) + key[3:]][r["ranks"]].append(r)
    rows = []
    for key in sorted(groups):
        by_n = groups[key]
        med = {n: statistics.median(x["figure_of_merit"]["total"] for x in rs) for n, rs in by_n.items()}
        r0 = min(by_n)
        for n in sorted(by_n):
            rs = by_n[n]
            x = med[n]
            speedup = x / med[r0]
            eff = (x / n) / (med[r0] / r0) if key[2] == "weak" else speedup / (n / r0)
            last = rs[-1]
            share = [y["share_of_peak"] for y in rs if y.get("share_of_peak") is not None]
            rows.append(dict(zip(COLUMNS, list(key) + [
                n, len(rs), sum(last["samples_per_rank"]), x, x / n,
                statistics.median(y["tokens_per_s_total"] for y in rs),
                statistics.median(y["tflops_per_rank"]["median"] for y in rs),
                statistics.median(share) if share else None, speedup, eff,
                max(max(y["peak_rss_kib_per_rank"]) for y in rs) / 1024, "ok",
                last["system"]["cpu"]["model"], " ".join(last["system"]["hosts"])])))
    for key, r in bad:
        rows.append(dict(zip(COLUMNS, list(key) + [r["ranks"], 1, sum(r["samples_per_rank"])] + [None] * 8 +
                             [f"{r['verification']['status']} (#wrong {r['verification']['wrong']})",
                              r["system"]["cpu"]["model"], " ".join(r["system"]["hosts"])])))
    return rows


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"
    return str(v)


def markdown(rows):
    out = io.StringIO()
    out.write("| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n")
    for r in rows:
        out.write("| " + " | ".join(fmt(r[c]) for c in COLUMNS) + " |\n")
    return out.getvalue()


def plots(rows, folder):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(folder, exist_ok=True)
    groups = defaultdict(list)
    for r in rows:
        if r["verified"] == "ok":
            groups[tuple(r[c] for c in COLUMNS[:7])].append(r)
    written = []
    for key, rs in sorted(groups.items()):
        rs.sort(key=lambda r: r["ranks"])
        n = [r["ranks"] for r in rs]
        x = [r["samples_per_s_total"] for r in rs]
        fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
        a.plot(n, x, "o-", label="measured")
        a.plot(n, [x[0] * k / n[0] for k in n], "--", color="grey", label="ideal")
        a.set_xlabel("ranks")
        a.set_ylabel("scored samples/s (total)")
        a.set_xscale("log", base=2)
        a.set_yscale("log")
        a.legend()
        b.plot(n, [r["efficiency"] for r in rs], "o-")
        b.axhline(1.0, ls="--", color="grey")
        b.set_ylim(0, max(1.2, max(r["efficiency"] for r in rs) * 1.1))
        b.set_xscale("log", base=2)
        b.set_xlabel("ranks")
        b.set_ylabel(f"{key[2]} scaling efficiency")
        fig.suptitle(f"{key[0]} v{key[1]} {key[2]} ({key[3]}, {key[4]}, {key[5]}, {key[6]} thread(s)/rank)\n"
                     f"{rs[0]['cpu']}", fontsize=9)
        fig.tight_layout()
        name = os.path.join(folder, "_".join(str(k) for k in key[:6]).replace("+", "-") + ".png")
        fig.savefig(name, dpi=100)
        plt.close(fig)
        written.append(name)
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--md")
    ap.add_argument("--csv")
    ap.add_argument("--plots", metavar="DIR")
    args = ap.parse_args()
    recs, skipped = load(args.files)
    if not recs:
        sys.exit("summarize: no summary records in " + " ".join(args.files))
    rows = table(recs)
    md = markdown(rows)
    print(md, end="")
    for s in skipped:
        print(f"skipped: {s['workload']} v{s['workload_version']}: {s['reason']}")
    if args.md:
        with open(args.md, "w") as f:
            f.write(md)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            wr = csv.DictWriter(f, fieldnames=COLUMNS)
            wr.writeheader()
            wr.writerows(rows)
    if args.plots:
        for p in plots(rows, args.plots):
            print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
