#!/usr/bin/env bash
# ctest resume.layouts: the same job must give the same scores and selections however it
# is laid out and however often it is killed.
#  1. Layouts: 4 silos on 1 rank, on 2 ranks (2 each) and on 4 ranks (oversubscribed, 1
#     each): scores equal within 1e-9 relative (sums are added in a fixed order).
#  2. Kill and resume: CLUES_FAILPOINT makes a rank SIGKILL itself during the warm-up (after
#     a round, and in the middle of one after a silo parked its state),
#     between scoring checkpoints, in the middle of scoring a silo (after its 2nd batch)
#     and just before report.json; the job is started again with --resume and must finish
#     with the uninterrupted run's scores and selections (within 1e-12 relative) and must
#     say what it resumed.
#     A torn scoring journal and a damaged round checkpoint resume to the same result too.
#  3. The comparison killed after its 2nd row resumes to the same table.
#  4. Resume by content: a silo edited in place, or a changed setting, is refused with what
#     changed named; the same inputs from a moved output folder, named by relative paths,
#     resume to the uninterrupted run's result.
# Usage: resume_and_layouts.sh PATH/TO/clues [MPIEXEC]
set -uo pipefail
source "$(dirname "$0")/lib.sh"
test_setup "$@"

small_demo
args+=(--seed 3)
run() {  # run RANKS OUT [flags...]: clues on RANKS ranks, no comparison; output in OUT.log
  local ranks=$1 out=$2
  shift 2
  "$mpiexec" --oversubscribe -np "$ranks" "$clues" run "${args[@]}" --compare.rows none --out "$out" "$@" >"$out.log" 2>&1
}
run_cmp() {  # run_cmp OUT [flags...]: clues on 2 ranks with 3 comparison rows
  local out=$1
  shift
  "$mpiexec" --oversubscribe -np 2 "$clues" run "${args[@]}" "${tests[@]}" --compare.rows clues,full,random \
    --out "$out" "$@" >"$out.log" 2>&1
}

# 1. Layouts
layouts
check "4 ranks: every rank hosted a silo" /usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1])); sys.exit(0 if sorted(s["host_rank"] for s in r["silos"].values()) == [0, 1, 2, 3] else 1)' "$dir/r4/report.json"

# 2. Kill and resume, on 2 ranks
for fp in ${FAILPOINTS:-warmup_round:1 silo_trained:3:0 scored_checkpoint:1 scoring_batch:2:1 scoring_batch:9:0 before_report:1}; do
  out="$dir/kill_${fp//:/_}"
  CLUES_FAILPOINT=$fp run 2 "$out"
  status=$?
  check "$fp: the killed run fails (status $status)" test "$status" -ne 0
  check "$fp: the killed run reached its failpoint" grep -q "failpoint $(echo "$fp" | cut -d: -f1-2) reached" "$out.log"
  check "$fp: no report.json after the kill" test ! -e "$out/report.json"
  mv "$out.log" "$out.killed.log"
  run 2 "$out" --resume
  check "$fp: the resumed run finishes" test -s "$out/report.json"
  check "$fp: same scores and selections as the uninterrupted run" same "$out" "$dir/r2" 1e-12
  case $fp in
    warmup_round* | silo_trained*)
      check "$fp: resumed from the warm-up checkpoints" grep -q "resume: 1 of 2 warm-up rounds" "$out.log" ;;
    scoring_batch*) check "$fp: resumed in the middle of a silo" grep -q "continues after" "$out.log" ;;
  esac
done
# 2b. A torn journal record: a killed scoring run whose journal lost its last record's
#     tail resumes at a batch boundary to the same bits as the uninterrupted run.
out="$dir/torn"
CLUES_FAILPOINT=scoring_batch:3:0 run 2 "$out"
j=$(ls -S "$out"/checkpoints/dots_round_*_silo_*.bin | head -1)
size=$(stat -c %s "$j")
truncate -s $((size - 12)) "$j"
run 2 "$out" --resume
check "torn journal: the resumed run finishes" test -s "$out/report.json"
check "torn journal: the same scores to the bit" same "$out" "$dir/r2" 0
# 2c. A damaged checkpoint: round_000.h5 cut short after the warm-up finished is named,
#     its round redone, and the result is the uninterrupted run's.
out="$dir/damaged"
CLUES_FAILPOINT=scored_checkpoint:1 run 2 "$out"
truncate -s 3000 "$out/checkpoints/round_000.h5"
run 2 "$out" --resume
check "damaged checkpoint: named in the log" grep -q "round_000.h5 is damaged and its round is redone" "$out.log"
check "damaged checkpoint: the resumed run finishes" test -s "$out/report.json"
check "damaged checkpoint: same scores as the uninterrupted run" same "$out" "$dir/r2" 1e-12
# 3. Kill in the comparison (after its 2nd row): finished rows are kept, the table equals
#    an uninterrupted run's.
run_cmp "$dir/cmp_ref"
CLUES_FAILPOINT=comparison_row:2:0 run_cmp "$dir/cmp"
check "comparison_row:2: the killed run fails" test ! -e "$dir/cmp/report.json"
mv "$dir/cmp.log" "$dir/cmp.killed.log"
run_cmp "$dir/cmp" --resume
check "comparison_row:2: rows done before the kill are kept" grep -q "comparison row full already done" "$dir/cmp.log"
check "comparison_row:2: same comparison as the uninterrupted run" /usr/bin/python3 -c 'import json, sys
a, b = (json.load(open(p))["comparison"] for p in sys.argv[1:3])
sys.exit(0 if a == b else 1)' "$dir/cmp/report.json" "$dir/cmp_ref/report.json"

# 4. Resume by content
cp -r "$dir/data" "$dir/data2"
cargs=()
for a in "${args[@]}"; do cargs+=("${a//$dir\/data\//$dir/data2/}"); done
crun() {  # crun OUT [flags...]: like run 2, on the copied data
  local out=$1
  shift
  "$mpiexec" --oversubscribe -np 2 "$clues" run "${cargs[@]}" --compare.rows none --out "$out" "$@" >"$out.log" 2>&1
}
CLUES_FAILPOINT=warmup_round:1 crun "$dir/content"
check "content: the killed run left run_inputs.json" test -s "$dir/content/run_inputs.json"
silo=$(ls "$dir/data2/silos" | head -1)
cp "$dir/data2/silos/$silo" "$dir/silo.bak"
/usr/bin/python3 - "$dir/data2/silos/$silo" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
r = json.loads(lines[0]); r["output"] = r["output"] + " edited"; lines[0] = json.dumps(r, ensure_ascii=False)
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
crun "$dir/content" --resume
status=$?
check "content: a silo edited in place is refused (status $status)" test "$status" -eq 2
check "content: the message names the silo" grep -q "silo ${silo%.jsonl}: .* differs from the file the run started with" "$dir/content.log"
cp "$dir/silo.bak" "$dir/data2/silos/$silo"
crun "$dir/content" --resume --train.lr 0.01
check "content: a changed setting is refused and named" grep -q "setting train.lr: 0.003 when the run started, 0.01 now" "$dir/content.log"
mv "$dir/content" "$dir/moved"
rel=()
for a in "${cargs[@]}"; do rel+=("${a//$dir\//}"); done
(cd "$dir" && "$mpiexec" --oversubscribe -np 2 "$clues" run "${rel[@]}" --compare.rows none --out moved --resume \
  >"$dir/moved.log" 2>&1)
check "content: a moved folder with relative paths resumes" test -s "$dir/moved/report.json"
check "content: ... to the uninterrupted run's scores" same "$dir/moved" "$dir/r2" 1e-12
[ "$fail" -eq 0 ] && echo "all resume and layout checks passed"
exit "$fail"
