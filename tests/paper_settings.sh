#!/usr/bin/env bash
# ctest method.paper_settings: the settings that bring a run to the research code's
# (docs/usage.md, "Reproducing the paper's setting"), each against a by-hand check.
# - score.modules: scores are linear in the target, so with LoRA on q and v the scores of
#   score.modules=q plus those of score.modules=v equal the scores of all modules (the
#   warm-up is the same: the filter changes scoring only), silo by silo and for the anchors.
# - --anchor NAME=PATH: each silo's anchors are its own domain's (sizes, scope=silo
#   thresholds from its own slice); a silo without anchors is refused before anything is
#   written.
# - train.loss_on: sequence changes the warm-up (other scores); response is the default's.
# - The rule in words: report.json names the run's rule, its origin and the blend's weight;
#   the comparison always carries the paper's rule.
# Usage: paper_settings.sh PATH/TO/clues
set -uo pipefail
source "$(dirname "$0")/lib.sh"
test_setup "$1"
/usr/bin/python3 "$src/scripts/make_demo_data.py" --out "$dir/data" --per-silo 24 --validation 8 --anchor 8 --test 6 \
  >/dev/null || { echo "FAILED: make_demo_data.py"; exit 1; }
silos=($(ls "$dir/data/silos" | sed 's/.jsonl$//' | head -2))
A=${silos[0]} B=${silos[1]}
# Each domain's anchors: a different slice of the public data (its test file), sizes 6 and 5.
head -6 "$dir/data/test/$A.jsonl" > "$dir/anchor_$A.jsonl"
head -5 "$dir/data/test/$B.jsonl" > "$dir/anchor_$B.jsonl"
base=(--validation "$dir/data/validation.jsonl" --seed 3 --progress 1000 --train.rounds 2 --train.local_steps 2
  --train.batch_size 4 --model.d_model 32 --model.layers 1 --model.hidden 64 --score.batch_size 8)
for s in "${silos[@]}"; do base+=(--silo "$s=$dir/data/silos/$s.jsonl"); done
run() {  # run NAME ARGS...: clues run into $dir/NAME, its log beside it
  local name=$1
  shift
  "$clues" run "${base[@]}" "$@" --out "$dir/$name" >"$dir/$name.log" 2>&1 || { echo "FAILED: run $name"; tail -5 "$dir/$name.log"; fail=1; }
}
pooled=(--anchor "$dir/data/anchor.jsonl" --compare.rows none)
run all "${pooled[@]}"
run q "${pooled[@]}" --score.modules q
run v "${pooled[@]}" --score.modules v
run seq "${pooled[@]}" --train.loss_on sequence
run resp "${pooled[@]}" --train.loss_on response
run dom --anchor "$A=$dir/anchor_$A.jsonl" --anchor "$B=$dir/anchor_$B.jsonl" --select.scope silo --compare.rows none
run cmp --anchor "$dir/data/anchor.jsonl" --compare.rows full --select.rank clues $(for s in "${silos[@]}"; do echo --test "$s=$dir/data/test/$s.jsonl"; done)
check "score.modules q + v = all; train.loss_on; per-domain anchors; the rule named" /usr/bin/python3 - "$dir" "$A" "$B" <<'PY'
import json, sys
import h5py
import numpy as np
d, A, B = sys.argv[1:]
bad = []
def f(name): return h5py.File("%s/%s/scores.h5" % (d, name), "r")
with f("all") as a, f("q") as q, f("v") as v:
    for s in (A, B):
        x, y, z = (h["silos/%s/score" % s][()] for h in (a, q, v))
        if not np.allclose(y + z, x, rtol=1e-6, atol=1e-12 * np.abs(x).max()):
            bad.append("%s: q + v scores differ from all modules' by %.3g" % (s, np.abs(y + z - x).max()))
        if np.allclose(y, x): bad.append("%s: score.modules=q changed nothing" % s)
        if not np.array_equal(a["silos/%s/warmup_loss" % s][()], q["silos/%s/warmup_loss" % s][()]):
            bad.append("%s: score.modules changed the warm-up" % s)
    if not np.allclose(q["anchor/score"][()] + v["anchor/score"][()], a["anchor/score"][()], rtol=1e-6,
                       atol=1e-12 * np.abs(a["anchor/score"][()]).max()):
        bad.append("anchors: q + v differ from all modules'")
with f("all") as a, f("seq") as s, f("resp") as r:
    if np.array_equal(a["silos/%s/warmup_loss" % A][()], s["silos/%s/warmup_loss" % A][()]):
        bad.append("train.loss_on=sequence left the warm-up unchanged")
    if not np.array_equal(a["silos/%s/score" % A][()], r["silos/%s/score" % A][()]):
        bad.append("train.loss_on=response differs from the default")
with f("dom") as h:
    sizes = {A: 6, B: 5}
    pooled = h["anchor/score"][()]
    if len(pooled) != 11: bad.append("per-domain anchors: %d pooled anchor scores, expected 11" % len(pooled))
    at = 0
    for s in (A, B):
        n = sizes[s]
        if len(h["silos/%s/anchor_loss" % s][()]) != n: bad.append("%s: anchor_loss has not its domain's %d" % (s, n))
        tau = h["silos/%s" % s].attrs["threshold"]
        if not np.isclose(tau, np.quantile(pooled[at:at + n], 0.2), rtol=1e-12): bad.append("%s: threshold not its own anchors' 0.2-quantile" % s)
        at += n
rep = json.load(open("%s/all/report.json" % d))
sel = rep.get("selection", {})
if (sel.get("rule"), sel.get("origin"), sel.get("loss_weight")) != ("blend", "this project's rule", 0.75):
    bad.append("report.json selection: %s" % sel)
cmp = json.load(open("%s/cmp/report.json" % d))
if cmp["selection"]["origin"] != "the paper's rule": bad.append("rank=clues is not named the paper's rule")
if sorted(cmp["comparison"]) != ["clues", "full"]: bad.append("the comparison lacks the paper's rule: %s" % sorted(cmp["comparison"]))
if "selection: blend, this project's rule" not in open("%s/all.log" % d).read(): bad.append("the console does not name the rule")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
msg=$("$clues" run "${base[@]}" --anchor "$A=$dir/anchor_$A.jsonl" --out "$dir/missing" 2>&1)
check "a silo without anchors is refused (exit 2), nothing written" test $? -eq 2 -a ! -e "$dir/missing"
check "the refusal names the silo" grep -q "silo \"$B\" has no anchor set" <<<"$msg"
msg=$("$clues" run "${base[@]}" "${pooled[@]}" --score.modules nope --out "$dir/nope" 2>&1)
check "score.modules naming no tensor is refused (exit 2)" test $? -eq 2
check "the refusal names the entry" grep -q '"nope" matches no trainable tensor' <<<"$msg"
exit "$fail"
