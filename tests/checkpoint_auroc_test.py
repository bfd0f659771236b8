#!/usr/bin/env python3
"""ctest scripts.checkpoint_auroc: scripts/checkpoint_auroc.py on a hand-made run folder."""

import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "checkpoint_auroc.py")


def main():
    failures = []
    with tempfile.TemporaryDirectory() as out:
        os.makedirs(os.path.join(out, "checkpoints"))
        with h5py.File(os.path.join(out, "scores.h5"), "w") as f:
            f["checkpoints/lr"] = np.array([1.0, 0.5])
            f["silos/a/score"] = np.array([2.0, 2.0, 1.0, 2.0])
            f["silos/a/warmup_loss"] = np.array([0.1, 0.2, 0.3, 0.05])
        # labels: two clean, two low quality
        with open(os.path.join(out, "a.txt"), "w") as lf:
            lf.write("0\n0\n1\n1\n")
        # checkpoint 0: clean {3, 1} against bad {2, 0} -> 3 of 4 pairs; checkpoint 1: all tied -> 0.5
        np.array([3.0, 1.0, 2.0, 0.0]).tofile(os.path.join(out, "checkpoints", "dots_round_000_silo_a.bin"))
        np.array([1.0, 1.0, 1.0, 1.0]).tofile(os.path.join(out, "checkpoints", "dots_round_001_silo_a.bin"))
        args = [sys.executable, SCRIPT, out, "--labels", "a=" + os.path.join(out, "a.txt")]
        r = subprocess.run(args, capture_output=True, text=True)
        # CLUES: clean {2, 2} against bad {1, 2}: 1 + 0.5 + 1 + 0.5 of 4 -> 0.75;
        # perplexity (-loss): clean {-0.1, -0.2} against bad {-0.3, -0.05} -> 2 of 4 -> 0.5
        if r.returncode != 0 or "| a | 0.750 | 0.500 | 0.750 | 0.500 |" not in r.stdout:
            failures.append("table:\n" + r.stdout + r.stderr)
        os.remove(os.path.join(out, "checkpoints", "dots_round_001_silo_a.bin"))
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode == 0 or "dots_round_001_silo_a.bin is missing" not in r.stderr:
            failures.append("a missing journal must be refused: " + r.stderr)
    for f in failures:
        print("FAIL:", f)
    print("checkpoint_auroc: %d checks failed" % len(failures) if failures else "checkpoint_auroc: all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
