#!/usr/bin/env bash
# ctest collab.merge: collab=merge (each silo fine-tunes alone from the base, is scored along
# its own checkpoints, and the fine-tunings on the selections are merged once).
#  1. Layouts: 4 silos on 1, 2 and 4 ranks give the same scores and selections (1e-9).
#  2. Merge mode is what ran: no global round file, every silo's own weights in its
#     checkpoint, report.json says collab merge (and scope silo: auto's choice under
#     merge), and the scores differ from fedavg's.
#  3. Kill and resume: killed after a warm-up round and in the middle of scoring a silo,
#     resumed with --resume to the uninterrupted run's scores (1e-12).
#  4. The comparison in merge mode (clues, full, datainf rows, TIES merge): finishes, every
#     row has a macro test loss, scores.h5 holds the DataInf influences; select.scope=silo
#     gives each silo its own threshold.
# Usage: merge_mode.sh PATH/TO/clues [MPIEXEC]
set -uo pipefail
source "$(dirname "$0")/lib.sh"
test_setup "$@"
small_demo
args+=(--seed 3)
run() {  # run RANKS OUT [flags...]: collab=merge on RANKS ranks, no comparison
  local ranks=$1 out=$2
  shift 2
  "$mpiexec" --oversubscribe -np "$ranks" "$clues" run "${args[@]}" --collab merge --compare.rows none --out "$out" "$@" \
    >"$out.log" 2>&1
}

# 1. Layouts
layouts

# 2. What ran
check "no global round checkpoint in merge mode" test ! -e "$dir/r2/checkpoints/round_000.h5"
check "each silo's checkpoint holds its own weights" /usr/bin/python3 -c 'import glob, sys, h5py, numpy as np
files = sorted(glob.glob(sys.argv[1] + "/checkpoints/round_001_silo_*.h5"))
w = [np.concatenate([np.ravel(h5py.File(f, "r")["trainable"][k][()]) for k in sorted(h5py.File(f, "r")["trainable"])]) for f in files]
sys.exit(0 if len(w) == 4 and all(not np.allclose(w[0], x) for x in w[1:]) else 1)' "$dir/r2"
check "report.json says collab merge, with a threshold per silo by default" /usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(0 if r["collab"] == "merge" and r["scope"] == "silo" and r["threshold"] is None else 1)' "$dir/r2/report.json"
"$mpiexec" --oversubscribe -np 2 "$clues" run "${args[@]}" --compare.rows none --out "$dir/fedavg" >"$dir/fedavg.log" 2>&1
check "fedavg scores differ from merge's" bash -c "! /usr/bin/python3 '$src/tests/compare_scores.py' '$dir/fedavg/scores.h5' '$dir/r2/scores.h5' 1e-3 >/dev/null"

# 3. Kill and resume
for fp in warmup_round:1 scoring_batch:2:1; do
  out="$dir/kill_${fp//:/_}"
  CLUES_FAILPOINT=$fp run 2 "$out"
  check "$fp: the killed run fails" test ! -e "$out/report.json"
  mv "$out.log" "$out.killed.log"
  run 2 "$out" --resume
  check "$fp: the resumed run finishes" test -s "$out/report.json"
  check "$fp: same scores and selections as the uninterrupted run" same "$out" "$dir/r2" 1e-12
done
check "warmup_round:1: resumed from the silos' checkpoints" grep -q "resume: 1 of 2 warm-up rounds" "$dir/kill_warmup_round_1.log"

# 4. Comparison with merging, DataInf, per-silo thresholds
"$mpiexec" --oversubscribe -np 2 "$clues" run "${args[@]}" "${tests[@]}" --collab merge --compare.rows clues,full,datainf \
  --select.scope silo --out "$dir/cmp" >"$dir/cmp.log" 2>&1
check "comparison in merge mode finishes" test -s "$dir/cmp/report.json"
check "every row has a macro test loss, datainf ranks" /usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
c = r["comparison"]
ok = sorted(c) == ["clues", "datainf", "full"] and all(c[k]["macro_test_loss"] > 0 for k in c)
ok = ok and c["datainf"]["pooled"]["auroc"] is not None
th = [s["threshold"] for s in r["silos"].values()]
sys.exit(0 if ok and len(set(th)) == 4 else 1)' "$dir/cmp/report.json"
check "scores.h5 holds the DataInf influences" /usr/bin/python3 -c 'import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
sys.exit(0 if all(np.isfinite(f["silos"][s]["datainf"][()]).all() and len(f["silos"][s]["datainf"]) == 40 for s in f["silos"]) else 1)' "$dir/cmp/scores.h5"
[ "$fail" -eq 0 ] && echo "all merge-mode checks passed"
exit "$fail"
