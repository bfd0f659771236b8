#!/usr/bin/env bash
# ctest select.blend: select.rank=blend (the default) against an independent numpy
# re-implementation. Two runs on 2 ranks with the same seed, one with the paper's rule
# (rank=clues) and one with rank=blend (select.loss_weight 0.6), both with the comparison
# rows clues, blend and perplexity. Checks:
#  1. The blend run has the same scores and losses and keeps as many samples per silo as
#     the rank=clues run (the count comes from the threshold on the CLUES score).
#  2. Its selection is the top of (1 - w)·pct(score) + w·pct(-loss), percentiles by
#     average ranks within the silo, ties kept in input order (recomputed here in numpy).
#  3. selected/<silo>.jsonl holds exactly those lines; the rows do not depend on the rank
#     (both runs' clues rows are the paper's selection, their blend rows the blend's); each
#     run's own figures (report.json silos) are those of its row; report.json names the rank.
# Usage: blend_rank.sh PATH/TO/clues [MPIEXEC]
set -uo pipefail
source "$(dirname "$0")/lib.sh"
test_setup "$@"
small_demo
args+=("${tests[@]}" --seed 4 --compare.rows clues,blend,perplexity --select.loss_weight 0.6)
for rank in clues blend; do
  "$mpiexec" --oversubscribe -np 2 "$clues" run "${args[@]}" --select.rank "$rank" --out "$dir/$rank" \
    >"$dir/$rank.log" 2>&1 || { echo "FAILED: the rank=$rank run"; tail -20 "$dir/$rank.log"; exit 1; }
done
/usr/bin/python3 - "$dir" "$src" <<'PY'
import json, sys
import h5py
import numpy as np
d = sys.argv[1]
sys.path.insert(0, sys.argv[2] + "/scripts")
from checkpoint_auroc import average_ranks
w = 0.6
bad = 0
def check(ok, what):
    global bad
    print(("ok: " if ok else "FAILED: ") + what)
    bad += not ok
fc, fb = (h5py.File(f"{d}/{r}/scores.h5", "r") for r in ("clues", "blend"))
rc, rb = (json.load(open(f"{d}/{r}/report.json")) for r in ("clues", "blend"))
for name in fb["silos"]:
    gc, gb = fc["silos"][name], fb["silos"][name]
    score, loss = gb["score"][()], gb["warmup_loss"][()]
    check(np.array_equal(score, gc["score"][()]) and np.array_equal(loss, gc["warmup_loss"][()]),
          f"{name}: the rank does not change scores or losses")
    k = int(gc["selected"][()].sum())
    check(k == int((score >= rc["silos"][name]["threshold"]).sum()), f"{name}: rank=clues keeps score >= threshold ({k})")
    check(int(gb["selected"][()].sum()) == k, f"{name}: rank=blend keeps as many ({k})")
    n = len(score)
    blend = ((1 - w) * average_ranks(score) + w * average_ranks(-loss)) / n
    want = np.zeros(n, dtype=np.uint8)
    want[np.lexsort((np.arange(n), -blend))[:k]] = 1
    check(np.array_equal(gb["selected"][()], want), f"{name}: the top {k} of the blend, as numpy ranks them")
    lines = open(f"{d}/data/silos/{name}.jsonl").read().splitlines()
    kept = open(f"{d}/blend/selected/{name}.jsonl").read().splitlines()
    check(kept == [l for l, s in zip(lines, want) if s], f"{name}: selected/{name}.jsonl holds those lines")
    keys = ("kept", "precision", "recall", "auroc")
    for row in ("clues", "blend"):
        a, b = rc["comparison"][row]["silos"][name], rb["comparison"][row]["silos"][name]
        check(all(a[key] == b[key] for key in keys), f"{name}: the {row} row does not depend on the rank")
    for r, row in ((rc, "clues"), (rb, "blend")):
        own, fig = r["silos"][name], r["comparison"][row]["silos"][name]
        check(own["kept"] == fig["kept"] and all(own["labels"][key] == fig[key] for key in keys[1:]),
              f"{name}: the rank={row} run's own figures are its {row} row's")
differs = any(not np.array_equal(fb["silos"][s]["selected"][()], fc["silos"][s]["selected"][()]) for s in fb["silos"])
check(differs, "the blend selection differs from rank=clues's in some silo (else this test shows nothing)")
check(rc["rank"] == "clues" and rb["rank"] == "blend", "report.json names the rank")
check(rc["comparison"]["clues"]["macro_test_loss"] == rb["comparison"]["clues"]["macro_test_loss"] and
      rc["comparison"]["clues"]["macro_test_loss"] != rb["comparison"]["blend"]["macro_test_loss"],
      "the clues rows of both runs fine-tune alike, and unlike the blend rows")
print("all blend checks passed" if not bad else f"{bad} blend checks FAILED")
sys.exit(1 if bad else 0)
PY
