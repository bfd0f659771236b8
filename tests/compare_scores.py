#!/usr/bin/env python3
"""Compare two clues scores.h5 files: every silo's scores (relative tolerance TOL),
selections (exact), anchor scores and threshold. Exit 0 when they agree.

    compare_scores.py A/scores.h5 B/scores.h5 [TOL]
"""
import sys

import h5py
import numpy as np


def main():
    a_path, b_path = sys.argv[1], sys.argv[2]
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-9
    bad = []
    with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
        if sorted(a["silos"]) != sorted(b["silos"]):
            bad.append("silo names differ: %s vs %s" % (sorted(a["silos"]), sorted(b["silos"])))
        for name in sorted(set(a["silos"]) & set(b["silos"])):
            for key in ("score", "warmup_loss", "max_token_loss", "base_loss", "ifd", "anchor_loss"):
                x, y = a["silos/%s/%s" % (name, key)][()], b["silos/%s/%s" % (name, key)][()]
                scale = max(1e-30, np.abs(x).max() if len(x) else 1.0)
                if x.shape != y.shape or np.abs(x - y).max(initial=0) > tol * scale:
                    bad.append("%s/%s differs (max abs diff %.3g, scale %.3g)"
                               % (name, key, np.abs(x - y).max(initial=0) if x.shape == y.shape else -1, scale))
            if not np.array_equal(a["silos/%s/selected" % name][()], b["silos/%s/selected" % name][()]):
                bad.append("%s/selected differs" % name)
        x, y = a["anchor/score"][()], b["anchor/score"][()]
        if x.shape != y.shape or np.abs(x - y).max(initial=0) > tol * max(1e-30, np.abs(x).max(initial=0)):
            bad.append("anchor scores differ")
        ta, tb = float(a.attrs["threshold"]), float(b.attrs["threshold"])
        if abs(ta - tb) > tol * max(1e-30, abs(ta)):
            bad.append("threshold differs: %r vs %r" % (ta, tb))
    for line in bad:
        print("DIFF:", line)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
