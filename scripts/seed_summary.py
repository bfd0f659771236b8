#!/usr/bin/env python3
"""Summarise `clues run` comparisons over seeds (scripts/seed_study.sh).

Reads one report.json per seed and writes OUT/study.md and OUT/study.json: every row's
macro test loss, pooled AUROC, within-silo AUROC (the mean over silos), the pooled precision
and recall of its selection (clean = positive) and the share of the full-to-oracle gap in
macro test loss it closes, as mean ± sample sd over the seeds; CLUES
against each baseline seed by seed: the paired difference of macro test loss (CLUES minus
baseline; negative means CLUES is better), its mean ± sd, and in how many seeds CLUES is
better (--versus ROW adds the same table for another row; the runs' own selection's row,
blend under the default select.rank, is added by itself); and per silo the
share CLUES kept against the share that is clean.

    /usr/bin/python3 scripts/seed_summary.py --out study_out study_out/seed_*/report.json
"""

import argparse
import json
import math
import os
import sys


def mean_sd(xs):
    """Mean and sample standard deviation (0 for a single value)."""
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, sd


def within_auroc(row):
    """Mean over silos of a row's AUROC, or None when a silo has none."""
    values = [s.get("auroc") for s in row.get("silos", {}).values()]
    return sum(values) / len(values) if values and all(v is not None for v in values) else None


def gap_closed(comparison, row):
    """(full − row) / (full − oracle) in macro test loss, or None."""
    full, oracle, x = (comparison[r]["macro_test_loss"] for r in ("full", "oracle", row))
    return (full - x) / (full - oracle) if None not in (full, oracle, x) and full != oracle else None


def kept_vs_clean(reports):
    """Per silo: the share CLUES kept and the share that is clean (mean ± sd over seeds)."""
    out = {}
    for name in reports[0][1].get("silos", {}):
        kept, clean = [], []
        for _, rep in reports:
            s = rep.get("silos", {}).get(name)
            if not s or "labels" not in s or not s.get("samples"):
                return {}
            kept.append(s["kept"] / s["samples"])
            clean.append(1 - s["labels"]["bad_share"])
        out[name] = {"kept_mean_sd": mean_sd(kept), "clean_mean_sd": mean_sd(clean)}
    return out


def paired(study, base, rows):
    """Row `base` against every other row, seed by seed (base minus row, macro test loss)."""
    ref = study["rows"][base]["macro_test_loss"]
    out = {}
    for row in rows:
        if row == base:
            continue
        diffs = [c - b for c, b in zip(ref, study["rows"][row]["macro_test_loss"])]
        out[row] = {"loss_diff": diffs, "diff_mean_sd": mean_sd(diffs),
                    "better": sum(d < 0 for d in diffs), "seeds": len(diffs)}
    return out


def summarise(reports, versus=()):
    """reports: list of (seed label, report dict). Returns the study as a dict."""
    rows = [r for r in reports[0][1]["comparison"]]
    for label, rep in reports:
        missing = [r for r in rows if r not in rep.get("comparison", {})]
        if missing:
            raise SystemExit(f"seed_summary: {label} lacks comparison rows {missing}; run every seed with the same rows")
    study = {"seeds": [label for label, _ in reports], "rows": {}, "clues_vs": {}}
    for row in rows:
        losses = [rep["comparison"][row]["macro_test_loss"] for _, rep in reports]
        empty = [label for (label, _), x in zip(reports, losses) if x is None]
        if empty:
            raise SystemExit(f"seed_summary: row {row} selected nothing (no test loss) in {', '.join(empty)}; "
                             "leave those seeds out or drop the row")
        aurocs = [rep["comparison"][row]["pooled"].get("auroc") for _, rep in reports]
        entry = {"macro_test_loss": losses, "loss_mean_sd": mean_sd(losses)}
        if all(a is not None for a in aurocs):
            entry["pooled_auroc"] = aurocs
            entry["auroc_mean_sd"] = mean_sd(aurocs)
        for key in ("precision", "recall"):
            xs = [rep["comparison"][row]["pooled"].get(key) for _, rep in reports]
            if all(x is not None for x in xs):
                entry[key + "_mean_sd"] = mean_sd(xs)
        within = [within_auroc(rep["comparison"][row]) for _, rep in reports]
        if all(w is not None for w in within):
            entry["within_auroc"] = within
            entry["within_auroc_mean_sd"] = mean_sd(within)
        if "full" in rows and "oracle" in rows:
            gaps = [gap_closed(rep["comparison"], row) for _, rep in reports]
            if all(g is not None for g in gaps):
                entry["gap_closed"] = gaps
                entry["gap_closed_mean_sd"] = mean_sd(gaps)
        study["rows"][row] = entry
    kept = kept_vs_clean(reports)
    if kept:
        study["kept_vs_clean"] = kept
    if "clues" in rows:
        study["clues_vs"] = paired(study, "clues", rows)
    study["versus"] = {}
    own = reports[0][1].get("rank", "clues")  # the runs' own selection's row (select.rank)
    if own != "clues" and own in rows and own not in versus:
        versus = [own] + list(versus)
    for base in versus:
        if base not in rows:
            raise SystemExit(f"seed_summary: --versus {base}: no such row in the reports ({', '.join(rows)})")
        study["versus"][base] = paired(study, base, rows)
    return study


def markdown(study):
    n = len(study["seeds"])
    out = [f"# clues seed study: {n} seeds ({', '.join(study['seeds'])})", "",
           "| row | macro test loss (mean ± sd) | gap closed | pooled AUROC | within-silo AUROC | precision | recall | "
           "loss per seed |",
           "|---|---|---|---|---|---|---|---|"]
    for row, e in study["rows"].items():
        def fig(key, fmt="%.3f ± %.3f"):
            return fmt % tuple(e[key]) if key in e else "-"
        per = " ".join("%.4f" % x for x in e["macro_test_loss"])
        out.append(f"| {row} | %.4f ± %.4f | {fig('gap_closed_mean_sd', '%.2f ± %.2f')} | {fig('auroc_mean_sd')} | "
                   f"{fig('within_auroc_mean_sd')} | {fig('precision_mean_sd', '%.2f ± %.2f')} | "
                   f"{fig('recall_mean_sd', '%.2f ± %.2f')} | {per} |" % tuple(e["loss_mean_sd"]))
    tables = ([("CLUES", study["clues_vs"])] if study["clues_vs"] else []) + list(study.get("versus", {}).items())
    for who, versus in tables:
        out += ["", f"{who} against each row, seed by seed (macro test loss, {who} minus row; negative: {who} better):",
                "", f"| row | mean ± sd of the difference | {who} better in | per seed |", "|---|---|---|---|"]
        for row, e in versus.items():
            per = " ".join("%+.4f" % d for d in e["loss_diff"])
            out.append(f"| {row} | %+.4f ± %.4f | {e['better']} of {e['seeds']} | {per} |" % tuple(e["diff_mean_sd"]))
    if study.get("kept_vs_clean"):
        out += ["", "Share of each silo CLUES kept, against the share that is clean (mean ± sd over the seeds):", "",
                "| silo | kept | clean |", "|---|---|---|"]
        for name, e in study["kept_vs_clean"].items():
            out.append(f"| {name} | %.2f ± %.2f | %.2f |" % (*e["kept_mean_sd"], e["clean_mean_sd"][0]))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for study.md and study.json")
    ap.add_argument("--versus", action="append", default=[], metavar="ROW",
                    help="also compare ROW with every other row, seed by seed (repeatable)")
    ap.add_argument("reports", nargs="+", help="report.json of each seed's run")
    args = ap.parse_args()
    reports = []
    for path in args.reports:
        try:
            with open(path) as f:
                rep = json.load(f)
        except (OSError, ValueError) as e:
            sys.exit(f"seed_summary: cannot read {path}: {e}")
        if "comparison" not in rep:
            sys.exit(f"seed_summary: {path} has no comparison (give every silo --test)")
        reports.append((os.path.basename(os.path.dirname(os.path.abspath(path))), rep))
    study = summarise(reports, args.versus)
    text = markdown(study)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "study.json"), "w") as f:
        json.dump(study, f, indent=1)
    with open(os.path.join(args.out, "study.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
