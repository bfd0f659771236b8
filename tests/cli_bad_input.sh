#!/usr/bin/env bash
# Checks that `clues run` refuses bad input and stops on numerical faults as a user needs:
# exit status 2 for input (1 for a fault), a short message naming what to fix, printed
# once, and nothing written (or nothing lost: a finished run survives a failed
# --overwrite; a diverged run leaves no report.json).
# Usage: cli_bad_input.sh PATH/TO/clues [MPIEXEC]
set -u
clues=$1
mpiexec=${2:-mpirun}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
fail=0
bad() { echo "FAILED: $*"; fail=1; }
printf '%s\n' '{"instruction":"a","output":"b"}' '{"instruction":"a","output":"b"}' '{"instruction": "a", "output": }' > "$dir/bad.jsonl"
printf '%s\n' '{"instruction":"a","output":"b"}' > "$dir/ok.jsonl"
for i in $(seq 1 12); do
  printf '{"instruction":"Reverse the word.","input":"w%sabc","output":"cba%sw"}\n' "$i" "$i"
done > "$dir/data.jsonl"
base=(--validation "$dir/ok.jsonl" --anchor "$dir/ok.jsonl")
tiny=(--silo "s=$dir/data.jsonl" --validation "$dir/data.jsonl" --anchor "$dir/data.jsonl" --train.rounds 1
  --train.local_steps 2 --train.batch_size 4 --model.d_model 16 --model.heads 2 --model.layers 1 --model.hidden 16
  --score.batch_size 4 --compare.rows none --progress 1000)

# expect NAME STATUS NEEDLE -- ARGS...: runs clues, checks the status and the message.
expect() {
  local name=$1 want=$2 needle=$3
  shift 4
  local msg rc
  msg=$("$@" 2>&1)
  rc=$?
  [ "$rc" -eq "$want" ] || bad "$name: exit status $rc, expected $want"
  grep -qF -- "$needle" <<<"$msg" || bad "$name: the message lacks \"$needle\": $(head -c 400 <<<"$msg")"
  [ "$fail" -eq 0 ] && echo "ok: $name"
}

expect "bad JSONL line" 2 "bad.jsonl:3" -- "$clues" run --silo "$dir/bad.jsonl" "${base[@]}" --out "$dir/out"
[ ! -e "$dir/out" ] || bad "bad JSONL line: the output folder was created"
expect "unknown option" 2 "no-such-flag" -- "$clues" run --silo "$dir/ok.jsonl" "${base[@]}" --out "$dir/o2" --no-such-flag
expect "threads beyond the cores" 2 "threads must be between 1 and" -- "$clues" run --silo "$dir/ok.jsonl" "${base[@]}" --out "$dir/o3" --threads 99999
expect "negative clip" 2 "train.grad_clip" -- "$clues" run --silo "$dir/ok.jsonl" "${base[@]}" --out "$dir/o3" --train.grad_clip -1
expect "infinite learning rate" 2 "train.lr must be a positive finite" -- "$clues" run --silo "$dir/ok.jsonl" "${base[@]}" --out "$dir/o3" --train.lr inf
expect "zero epsilon" 2 "train.eps must be positive" -- "$clues" run --silo "$dir/ok.jsonl" "${base[@]}" --out "$dir/o3" --train.eps 0
expect "a directory as a silo" 2 "is a directory" -- "$clues" run --silo "s=$dir" "${base[@]}" --out "$dir/o3"
expect "labels twice" 2 "two --labels" -- "$clues" run --silo "s=$dir/ok.jsonl" "${base[@]}" --out "$dir/o3" --labels "s=$dir/l1" --labels "s=$dir/l2"
printf 'silo %%invalid_line%%\n' > "$dir/percent.ini"  # Boost's message substitution would loop forever on it
expect "a config line holding %" 2 "holding '%'" -- timeout 30 "$clues" run --config "$dir/percent.ini" --out "$dir/o3"
[ ! -e "$dir/o3" ] || bad "refused options: the output folder was created"

# A 10 MB broken line is quoted in a few hundred characters, not whole.
/usr/bin/python3 -c "print('{\"instruction\": \"' + 'x' * 10000000)" > "$dir/huge.jsonl"
msg=$("$clues" run --silo "$dir/huge.jsonl" "${base[@]}" --out "$dir/o4" 2>&1)
[ $? -eq 2 ] || bad "huge line: exit status"
[ "${#msg}" -lt 4000 ] || bad "huge line: the message is ${#msg} characters"
grep -q "huge.jsonl:1" <<<"$msg" || bad "huge line: file:line not named"
[ "$fail" -eq 0 ] && echo "ok: a 10 MB broken line gives a ${#msg}-character message"

# Option errors are printed once however many ranks the job has.
msg=$("$mpiexec" -n 2 --oversubscribe "$clues" run --silo "$dir/ok.jsonl" "${base[@]}" --out "$dir/o5" --threads 99999 2>&1)
n=$(grep -c "clues: error" <<<"$msg")
[ "$n" -eq 1 ] || bad "2 ranks: the error was printed $n times: $msg"
[ "$fail" -eq 0 ] && echo "ok: 2 ranks print one error"

# A finished run survives an --overwrite that cannot run (no GPU here).
"$clues" run "${tiny[@]}" --out "$dir/run" > "$dir/run.log" 2>&1 || bad "tiny run failed: $(tail -5 "$dir/run.log")"
if ! command -v nvidia-smi > /dev/null; then
  expect "--overwrite --device cuda without a GPU" 2 "--device cuda" -- "$clues" run "${tiny[@]}" --out "$dir/run" --overwrite --device cuda
  [ -f "$dir/run/report.json" ] && [ -f "$dir/run/scores.h5" ] || bad "--overwrite removed the finished run before failing"
fi

# An output folder of something else, and inputs inside the output folder, are refused.
mkdir -p "$dir/other" && echo data > "$dir/other/scores.h5"
expect "a folder holding no run" 2 "holds files but no run of clues" -- "$clues" run "${tiny[@]}" --out "$dir/other"
[ "$(cat "$dir/other/scores.h5")" = data ] || bad "a folder holding no run: its file was changed"
mkdir -p "$dir/run2/selected" && cp "$dir/data.jsonl" "$dir/run2/selected/s.jsonl"
expect "a silo inside the output folder" 2 "lies inside the output folder" -- \
  "$clues" run "${tiny[@]/$dir\/data.jsonl/$dir/run2/selected/s.jsonl}" --out "$dir/run2" --overwrite
cmp -s "$dir/data.jsonl" "$dir/run2/selected/s.jsonl" || bad "a silo inside the output folder: it was changed"

# A rank that fails (its silo has a bad line) ends the whole 2-rank job promptly.
printf '%s\n' '{"instruction":"a","outptu":"b"}' > "$dir/small_bad.jsonl"
start=$(date +%s)
msg=$("$mpiexec" -n 2 --oversubscribe "$clues" run "${tiny[@]}" --silo "t=$dir/small_bad.jsonl" --out "$dir/two" 2>&1)
rc=$?
took=$(( $(date +%s) - start ))
[ "$rc" -ne 0 ] || bad "a failing rank: the job exited 0"
grep -q "small_bad.jsonl:1" <<<"$msg" || bad "a failing rank: the bad file is not named: $(head -c 300 <<<"$msg")"
[ "$took" -lt 60 ] || bad "a failing rank: the job took ${took}s to end"
[ "$fail" -eq 0 ] && echo "ok: a failing rank ends the 2-rank job in ${took}s (exit $rc)"

# A NaN score (injected) stops the job: status 1, the sample named, no report.json.
CLUES_FAILPOINT=nan_score:1 expect "a NaN score" 1 "data.jsonl:1 (silo_s) at checkpoint 0 is NaN" -- \
  "$clues" run "${tiny[@]}" --out "$dir/nan"
[ ! -e "$dir/nan/report.json" ] || bad "a NaN score: report.json was written"
# NaN in the trained weights or Adam moments (injected) stops the job before averaging.
CLUES_FAILPOINT=nan_state:1 expect "a NaN training state" 1 "round 1: the trained weights hold NaN or infinite values" -- \
  "$clues" run "${tiny[@]}" --out "$dir/nan_state"
[ ! -e "$dir/nan_state/report.json" ] || bad "a NaN training state: report.json was written"

# An absurd learning rate is not silently wrong: it stops, or the run warns (log and report).
"$clues" run "${tiny[@]}" --out "$dir/lr" --train.lr 1e6 > "$dir/lr.log" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
  grep -q "WARNING" "$dir/lr.log" || bad "lr 1e6: finished without a warning"
  /usr/bin/python3 -c "import json,sys; sys.exit(0 if json.load(open('$dir/lr/report.json'))['warnings'] else 1)" ||
    bad "lr 1e6: report.json records no warning"
fi
[ "$fail" -eq 0 ] && echo "ok: lr 1e6 (exit $rc) $(grep -m1 -o 'WARNING.*\|NaN.*' "$dir/lr.log" | head -c 160)"
exit $fail
