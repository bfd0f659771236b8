#!/usr/bin/env python3
"""Plot each silo's CLUES score distribution with the global threshold marked.

Reads OUT/scores.h5 (written by `clues run`) and writes OUT/figures/<silo>.png:
a histogram of the silo's scores (split into clean and low-quality samples when a
labels file is given), the anchor scores as an outline, and the threshold as a
vertical line.  Uses Debian's python3-h5py and python3-matplotlib.

    /usr/bin/python3 scripts/plot_scores.py demo_out --labels deu=demo_data/labels/deu.txt
"""

import argparse
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="output folder of a clues run (holds scores.h5)")
    p.add_argument("--labels", action="append", default=[], metavar="NAME=PATH",
                   help="0 clean / 1 low quality per line of silo NAME (repeatable)")
    return p.parse_args(argv)


def read_labels(path, n):
    with open(path) as f:
        labels = np.array([int(line) for line in f if line.strip()], dtype=np.int8)
    if len(labels) != n:
        sys.exit("%s has %d labels but the silo has %d scores" % (path, len(labels), n))
    return labels


def main(argv=None):
    args = parse_args(argv)
    path = os.path.join(args.out, "scores.h5")
    if not os.path.exists(path):
        sys.exit("%s not found: run `clues run --out %s` first" % (path, args.out))
    labels = {}
    for spec in args.labels:
        if "=" not in spec:
            sys.exit("--labels wants NAME=PATH, got %r" % spec)
        name, lp = spec.split("=", 1)
        labels[name] = lp
    fig_dir = os.path.join(args.out, "figures")
    os.makedirs(fig_dir, exist_ok=True)
    with h5py.File(path, "r") as f:
        anchor = f["anchor/score"][()]
        for name in sorted(f["silos"].keys()):
            score = f["silos/%s/score" % name][()]
            tau = float(f["silos/%s" % name].attrs.get("threshold", f.attrs["threshold"]))
            kept = f["silos/%s/selected" % name][()].astype(bool)
            lo = min(score.min(), anchor.min() if len(anchor) else score.min())
            hi = max(score.max(), anchor.max() if len(anchor) else score.max())
            bins = np.linspace(lo, hi, 41)
            fig, ax = plt.subplots(figsize=(6.4, 4.0))
            if name in labels:
                lab = read_labels(labels[name], len(score))
                ax.hist([score[lab == 0], score[lab == 1]], bins=bins, stacked=True,
                        color=["tab:green", "tab:red"], label=["clean", "low quality"])
            else:
                ax.hist(score, bins=bins, color="tab:blue", label="private samples")
            if len(anchor):
                ax.hist(anchor, bins=bins, histtype="step", color="black",
                        weights=np.full(len(anchor), len(score) / len(anchor)),
                        label="anchor (rescaled)")
            if np.isfinite(tau):
                ax.axvline(tau, color="tab:purple", linestyle="--",
                           label="threshold %.4g" % tau)
            ax.set_title("%s: %d samples, %d kept (%.0f%%)"
                         % (name, len(score), kept.sum(), 100.0 * kept.mean()))
            ax.set_xlabel("CLUES score")
            ax.set_ylabel("samples")
            ax.legend(fontsize=8)
            fig.tight_layout()
            target = os.path.join(fig_dir, name + ".png")
            tmp = target + ".tmp.png"
            fig.savefig(tmp, dpi=100)
            plt.close(fig)
            os.replace(tmp, target)
            print("wrote", target)


if __name__ == "__main__":
    main()
