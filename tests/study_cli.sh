#!/usr/bin/env bash
# `clues study` end to end with a tiny model: a study file with one grid axis of two
# values and two seeds (4 cells, 2 ranks each); plan (cells, sbatch line), run (every
# cell finishes; a second run skips them all; a cell whose report.json was removed is
# resumed, one whose folder was deleted is run again, through slurm/clues_study.sbatch as
# a job array with the stand-ins of tests/slurm_standin), summarize (results.csv with a
# line per cell and comparison row and the grid's columns, study.md with intervals, the
# plots), a failing cell (exit status 1, its log's end), and refused study files (exit
# status 2, the message, no output folder), and a pool changed in place (refused).
# Usage: study_cli.sh PATH/TO/clues-study PATH/TO/clues [MPIEXEC]
set -uo pipefail
study_bin=$(realpath "$1")
source "$(dirname "$0")/lib.sh"
test_setup "$2" "${3:-}"
export CLUES_BIN=$clues MPIRUN=$mpiexec
start=$(date +%s)

# Two clean domains of 40 samples: partition holds out 8 + 8 per domain and 5 test per silo.
/usr/bin/python3 "$src/scripts/make_demo_data.py" --out "$dir/pool" --languages deu,fra --bad-fractions 0,0 \
  --per-silo 40 --validation 2 --anchor 2 --test 1 >/dev/null || { echo "FAILED: make_demo_data.py"; exit 1; }
cat >"$dir/tiny.ini" <<'EOF'
model.d_model = 32
model.layers = 1
model.hidden = 64
train.local_steps = 3
train.batch_size = 4
score.batch_size = 8
progress = 1000
EOF
cat >"$dir/study.ini" <<'EOF'
# A tiny study: the learning rate as the axis, two seeds.
[study]
out = out/study          ; relative to this file's folder
ranks = 2
seeds = 0 1
[partition]
source = deu=pool/silos/deu.jsonl fra=pool/silos/fra.jsonl
silos = 2
validation-size = 8
anchor-size = 8
test-size = 5
bad-ratios = 0.2,0.6
[run]
config = tiny.ini
train.rounds = 2
compare.rows = clues,full
[grid]
run.train.lr = 0.001 0.003
EOF
cd "$dir" || exit 1
out=$dir/out/study
cells=(train.lr-0.001_seed-0 train.lr-0.001_seed-1 train.lr-0.003_seed-0 train.lr-0.003_seed-1)
# shellcheck disable=SC2317  # called through check
reports() {  # reports N: exactly N cells have report.json
  local n=0 c
  for c in "${cells[@]}"; do [ -s "$out/cells/$c/report.json" ] && n=$((n + 1)); done
  [ "$n" -eq "$1" ]
}

# 1. plan: the cells in order, nothing written.
"$study_bin" plan study.ini >plan.txt 2>&1
check "plan exits 0" test $? -eq 0
check "plan: 4 cells" grep -q "4 cells = 2 run.train.lr × 2 seeds" plan.txt
check "plan: cells in order (first axis slowest, seeds fastest)" \
  grep -qE "^  2 +train.lr-0.003_seed-0 +0.003 +0 +todo" plan.txt
check "plan: the sbatch line" grep -qF "sbatch --array=0-3 --ntasks=2 slurm/clues_study.sbatch study.ini" plan.txt
check "plan writes nothing" test ! -e out
"$clues" study plan study.ini >plan2.txt 2>&1
check "clues study runs clues-study (the same plan)" cmp -s plan.txt plan2.txt

# 2. run: every cell, two at a time.
"$study_bin" run study.ini --parallel 2 >run.txt 2>&1
check "run exits 0" test $? -eq 0
check "run: 4 reports" reports 4
check "run: progress with an ETA" grep -q "ETA" run.txt
check "run: cells of one seed share a partition (2 folders)" test "$(find "$out/data" -mindepth 1 -maxdepth 1 | wc -l)" -eq 2
check "run: the study's settings recorded" test -s "$out/settings.json" -a -s "$out/study.ini"

# 3. A second run skips every finished cell.
"$study_bin" run study.ini >again.txt 2>&1
check "run again exits 0" test $? -eq 0
check "run again skips all 4 cells" test "$(grep -c "done already (report.json), skipped" again.txt)" -eq 4

# 4. A cell stopped before its report resumes from its checkpoints.
rm "$out/cells/${cells[1]}/report.json"
"$study_bin" run study.ini --cell 1 >resume.txt 2>&1
check "run --cell 1 exits 0" test $? -eq 0
check "run --cell 1: resumed" grep -q "cell 1 ${cells[1]}: resuming" resume.txt
check "run --cell 1: clues resumed the warm-up" grep -q "resume: 2 of 2 warm-up rounds already done" \
  "$out/logs/${cells[1]}.log"
check "run --cell 1: report back" reports 4

# 5. The Slurm array: cell 2 deleted; tasks 0-3 skip the others and run it again.
rm -rf "${out:?}/cells/${cells[2]}"
PATH=$src/tests/slurm_standin:$PATH CLUES_STUDY=$study_bin \
  sbatch --array=0-3 --ntasks=2 --cpus-per-task=1 "$src/slurm/clues_study.sbatch" study.ini >slurm.txt 2>&1
check "sbatch --array=0-3 exits 0" test $? -eq 0
check "array: cell 2 run again" reports 4
check "array: the other 3 cells skipped" test "$(grep -c "skipped" slurm.txt)" -eq 3
check "array: each task runs its own cell" grep -q "cell 3 of study.ini on 2 rank(s)" slurm.txt

# 6. plan now extrapolates seconds from the finished cells.
"$study_bin" plan study.ini >plan2.txt 2>&1
check "plan: 4 done, time per sample-round" grep -q "s per 1000 sample-rounds from 4 finished cell(s)" plan2.txt

# 7. summarize: results.csv, study.md, plots.
"$study_bin" summarize study.ini >summary.txt 2>&1
check "summarize exits 0" test $? -eq 0
check "results.csv: header + 4 cells × 2 rows" test "$(wc -l <"$out/results.csv")" -eq 9
check "results.csv: grid, seed and metric columns" \
  grep -q "^index,cell,run.train.lr,seed,row,reference,macro_test_loss,.*pooled_auroc" "$out/results.csv"
check "results.csv: a line of cell 3, row full" grep -q "^3,${cells[3]},0.003,1,full,0," "$out/results.csv"
check "study.md: a 95% t-interval per grid cell" \
  grep -qE "^\| 0.003 \| clues \| 2 \| [0-9.]+ ± [0-9.]+ \[[0-9.-]+, [0-9.-]+\] \|" "$out/study.md"
check "study.md: paired differences against clues" grep -q "Paired differences against clues" "$out/study.md"
check "plots written" test -s "$out/plots/macro_test_loss_by_run.train.lr.png" \
  -a -s "$out/plots/pooled_auroc_by_run.train.lr.png"
mv "$out/cells/${cells[0]}" "$dir/kept_cell"
"$study_bin" summarize study.ini >summary2.txt 2>&1
check "summarize with a missing cell: exit 0, the cell listed" grep -q "Missing cells.*0 (${cells[0]})" "$out/study.md"
mv "$dir/kept_cell" "$out/cells/${cells[0]}"

# 8. A failing cell: exit status 1, its log's end shown.
sed -e 's|out/study|out/failing|' -e 's|^run.train.lr = .*|run.collab = nonsense|' -e 's|^seeds = .*|seeds = 0|' \
  study.ini >failing.ini
"$study_bin" run failing.ini >failing.txt 2>&1
check "a failing cell: exit status 1" test $? -eq 1
check "a failing cell: named, with its log's end" grep -q "FAILED in clues run" failing.txt
check "... which holds clues's message" grep -q "clues: error" failing.txt

# 9. Refused study files: exit status 2, the message, no output folder.
refused() {  # refused WHAT NEEDLE FILE-TEXT
  printf '%s\n' "$3" >bad.ini
  rm -rf out/bad
  local msg rc
  msg=$("$study_bin" run bad.ini 2>&1)
  rc=$?
  check "$1: exit status 2" test "$rc" -eq 2
  check "$1: message \"$2\"" grep -qF -- "$2" <<<"$msg"
  check "$1: no output folder" test ! -e out/bad
}
head="[study]
out = out/bad
seeds = 0
[partition]
source = deu=pool/silos/deu.jsonl
silos = 2"
refused "unknown section" "bad.ini: unknown section [partitions]" "$head
[partitions]
alpha = 1"
refused "empty axis" "bad.ini: [grid] run.collab is an empty axis" "$head
[grid]
run.collab ="
refused "unknown run key" "'train.round' is not an option of clues run (did you mean train.rounds?)" "$head
[run]
train.round = 2"
refused "unknown partition axis" "[grid] partition.alfa: 'alfa' is not an option of clues partition (did you mean alpha?)" "$head
[grid]
partition.alfa = 0.1 1"
refused "no seeds" "[study] seeds is missing" "[study]
out = out/bad
[partition]
silos = 2"
# The same output folder with another grid.
sed 's|^run.train.lr = .*|run.train.lr = 0.001 0.01|' study.ini >other.ini
msg=$("$study_bin" run other.ini 2>&1)
check "another grid in the same OUT: exit status 2" test $? -eq 2
check "... with a message" grep -qF "holds a study made with other settings (grid differ" <<<"$msg"
# The same study after its pool changed in place: its finished cells must not pass for the
# new pool's; summarize still works with the pool removed.
cp pool/silos/deu.jsonl deu.saved
head -n -1 deu.saved >pool/silos/deu.jsonl
msg=$("$study_bin" run study.ini 2>&1)
check "a source changed in place: exit status 2" test $? -eq 2
check "... naming the file" grep -qF "the contents of input files (deu=pool/silos/deu.jsonl) differ" <<<"$msg"
rm pool/silos/deu.jsonl
"$study_bin" summarize study.ini >summary2.txt 2>&1
check "summarize with the pool removed" test $? -eq 0
mv deu.saved pool/silos/deu.jsonl

echo "study_cli: $(( $(date +%s) - start )) s"
if [ "$fail" -ne 0 ]; then
  for f in plan run again resume slurm plan2 summary failing; do echo "==== $f.txt"; tail -20 "$f.txt" 2>/dev/null; done
fi
exit "$fail"
