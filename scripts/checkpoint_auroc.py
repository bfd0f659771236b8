#!/usr/bin/env python3
"""How well each scoring checkpoint ranks each silo's samples, against the labels.

Reads a finished `clues run` output folder (scores.h5 and the per-checkpoint scoring
journals checkpoints/dots_round_NNN_silo_<name>.bin, which runs without score.project_dim
keep) and prints, per silo with labels, the AUROC (clean = positive, ties averaged) of:
each checkpoint's raw inner products, the final CLUES score (their learning-rate-weighted
mean), and the perplexity baseline (lower warm-up loss ranks higher). Uses numpy and h5py.

    /usr/bin/python3 scripts/checkpoint_auroc.py demo_out/pretrained \\
        --labels deu=demo_data/labels/deu.txt --labels fra=demo_data/labels/fra.txt
"""

import argparse
import os
import sys

import h5py
import numpy as np


def average_ranks(x):
    """1-based ranks of x, ties given the mean of their ranks."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    sx = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sx[j + 1] == sx[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def auroc(score, clean):
    """Probability that a clean sample outranks a low-quality one (ties count half)."""
    clean = np.asarray(clean, dtype=bool)
    n1, n0 = int(clean.sum()), int((~clean).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = average_ranks(score)
    return (r[clean].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="output folder of a finished clues run")
    p.add_argument("--labels", action="append", default=[], metavar="NAME=PATH",
                   help="0 clean / 1 low quality per line of silo NAME (repeatable)")
    args = p.parse_args(argv)
    path = os.path.join(args.out, "scores.h5")
    if not os.path.exists(path):
        sys.exit("%s not found: give the --out folder of a finished clues run" % path)
    labels = dict(spec.split("=", 1) for spec in args.labels if "=" in spec)
    if len(labels) != len(args.labels):
        sys.exit("--labels wants NAME=PATH")
    with h5py.File(path, "r") as f:
        n_ckpt = len(f["checkpoints/lr"][()])
        rows = []
        for name in sorted(f["silos"].keys()):
            if name not in labels:
                continue
            score = f["silos/%s/score" % name][()]
            loss = f["silos/%s/warmup_loss" % name][()]
            with open(labels[name]) as lf:
                lab = np.array([int(line) for line in lf if line.strip()])
            if len(lab) != len(score):
                sys.exit("%s has %d labels but silo %s has %d samples" % (labels[name], len(lab), name, len(score)))
            clean = lab == 0
            per = []
            for c in range(n_ckpt):
                jp = os.path.join(args.out, "checkpoints", "dots_round_%03d_silo_%s.bin" % (c, name))
                dots = np.fromfile(jp, dtype=np.float64) if os.path.exists(jp) else np.array([])
                if len(dots) != len(score):
                    sys.exit("%s is missing or incomplete (runs with score.project_dim keep no journals)" % jp)
                per.append(auroc(dots, clean))
            rows.append((name, per, auroc(score, clean), auroc(-loss, clean)))
    if not rows:
        sys.exit("no silo of %s has --labels" % path)
    head = ["silo"] + ["ckpt %d" % c for c in range(n_ckpt)] + ["CLUES", "perplexity"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, per, final, ppl in rows:
        print("| " + " | ".join([name] + ["%.3f" % a for a in per + [final, ppl]]) + " |")
    means = [np.mean([r[1][c] for r in rows]) for c in range(n_ckpt)]
    means += [np.mean([r[2] for r in rows]), np.mean([r[3] for r in rows])]
    print("| mean | " + " | ".join("%.3f" % m for m in means) + " |")


if __name__ == "__main__":
    main()
