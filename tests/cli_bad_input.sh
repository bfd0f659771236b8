#!/usr/bin/env bash
# Checks that `clues run` refuses bad input and stops on numerical faults as a user needs:
# exit status 2 for input (1 for a fault), a short message naming what to fix, printed
# once, and nothing written (or nothing lost: a finished run survives a failed
# --overwrite; a diverged run leaves no report.json).
# Usage: cli_bad_input.sh PATH/TO/clues [MPIEXEC]
set -u
clues=$1
mpiexec=${2:-mpirun}
src=$(cd "$(dirname "$0")/.." && pwd)
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

# --overwrite clears only what clues wrote, and only once every input is checked.
sums() { (cd "$1" && find . -type f -exec md5sum {} + | sort); }
/usr/bin/python3 "$src/tests/tiny_hf.py" model "$dir/m" && /usr/bin/python3 "$src/tests/tiny_hf.py" tokens "$dir/tok.jsonl" 12 ||
  bad "tiny_hf.py failed"
margs() { ma=(--model "$1" --silo "s=$dir/tok.jsonl" --validation "$dir/tok.jsonl" --anchor "$dir/tok.jsonl" --train.rounds 1
  --train.local_steps 2 --train.batch_size 4 --score.batch_size 4 --compare.rows none --progress 1000); }
margs "$dir/m"
"$clues" run "${ma[@]}" --out "$dir/mrun" > "$dir/mrun.log" 2>&1 || bad "tiny model run failed: $(tail -5 "$dir/mrun.log")"
before=$(sums "$dir/mrun")
mkdir -p "$dir/p" && cp -r "$dir/m" "$dir/p/model" && margs "$dir/p/model"
expect "--model inside --out, --overwrite" 2 "lies inside the output folder" -- "$clues" run "${ma[@]}" --out "$dir/p" --overwrite
cmp -s "$dir/m/model.safetensors" "$dir/p/model/model.safetensors" || bad "--model inside --out: the model was removed"
cp -r "$dir/m" "$dir/mrun/model" && margs "$dir/mrun/model" && before_m=$(sums "$dir/mrun")
expect "--model inside a run's --out, --overwrite" 2 "lies inside the output folder" -- "$clues" run "${ma[@]}" --out "$dir/mrun" --overwrite
[ "$(sums "$dir/mrun")" = "$before_m" ] || bad "--model inside a run's --out: the folder was changed"
rm -rf "$dir/mrun/model"
mkdir -p "$dir/other2" && echo data > "$dir/other2/scores.h5" && echo notes > "$dir/other2/notes.txt"
expect "--overwrite of a folder holding no run" 2 "--overwrite clears only a folder that clues wrote" -- \
  "$clues" run "${tiny[@]}" --out "$dir/other2" --overwrite
[ "$(cat "$dir/other2/scores.h5")" = data ] && [ -f "$dir/other2/notes.txt" ] || bad "--overwrite of a folder holding no run: files removed"
msg=$("$clues" run "${tiny[@]}" --out "$dir/other2" 2>&1)
grep -q "beside them" <<<"$msg" && bad "a folder holding no run: the message still offers to write beside them"
printf '[train]\nrounds = 1\n' > "$dir/mrun/checkpoints/my.ini"
expect "--config among what --overwrite removes" 2 "which --overwrite removes" -- \
  "$clues" run --config "$dir/mrun/checkpoints/my.ini" "${tiny[@]}" --out "$dir/mrun" --overwrite
rm -f "$dir/mrun/checkpoints/my.ini"
# A truncated model file or a broken corpus is found before the finished run is touched.
cp -r "$dir/m" "$dir/mt" && truncate -s -1000 "$dir/mt/model.safetensors" && margs "$dir/mt"
expect "a truncated model file, --overwrite" 2 "truncated" -- "$clues" run "${ma[@]}" --out "$dir/mrun" --overwrite
[ "$(sums "$dir/mrun")" = "$before" ] || bad "a truncated model file: --overwrite changed the finished run"
printf '%s\n' '{"instruction":"a","output":"b"}' '{"instruction": 1}' > "$dir/corpus.jsonl"
margs "$dir/m"
expect "a broken --pretrain corpus, --overwrite" 2 "corpus.jsonl:2" -- \
  "$clues" run "${tiny[@]}" --pretrain "$dir/corpus.jsonl" --out "$dir/run" --overwrite
[ -f "$dir/run/report.json" ] && [ -f "$dir/run/scores.h5" ] || bad "a broken corpus: --overwrite removed the finished run"
# --out a file; --config a folder; a FIFO as an input.
echo keep > "$dir/afile"
expect "--out a file" 2 "is a file, not a folder" -- "$clues" run "${tiny[@]}" --out "$dir/afile"
expect "--out a file, --overwrite" 2 "is a file, not a folder" -- "$clues" run "${tiny[@]}" --out "$dir/afile" --overwrite
[ "$(cat "$dir/afile")" = keep ] || bad "--out a file: it was changed"
expect "--config a folder" 2 "is a folder" -- "$clues" run --config "$dir" "${tiny[@]}" --out "$dir/o6"
[ ! -e "$dir/o6" ] || bad "--config a folder: the run went on"
mkfifo "$dir/fifo"
expect "a FIFO as a silo" 2 "not a regular file" -- timeout 30 "$clues" run "${tiny[@]}" --silo "f=$dir/fifo" --out "$dir/o7"
expect "a FIFO as the anchor set" 2 "not a regular file" -- \
  timeout 30 "$clues" run --silo "$dir/ok.jsonl" --validation "$dir/ok.jsonl" --anchor "$dir/fifo" --out "$dir/o7"
[ ! -e "$dir/o7" ] || bad "a FIFO: the output folder was created"

# An error of a shared input or of training on every rank is printed once, with no abort banner.
: > "$dir/empty.jsonl"
msg=$("$mpiexec" -n 2 --oversubscribe "$clues" run "${tiny[@]}" --silo "t=$dir/data.jsonl" --anchor "$dir/empty.jsonl" --out "$dir/o8" 2>&1)
rc=$?
[ "$rc" -eq 2 ] || bad "an empty anchor file on 2 ranks: exit status $rc"
[ "$(grep -c "clues: error" <<<"$msg")" -eq 1 ] && ! grep -q "MPI_ABORT\|ORTE_ERROR_LOG" <<<"$msg" ||
  bad "an empty anchor file on 2 ranks: not one message: $msg"
[ "$fail" -eq 0 ] && echo "ok: an empty anchor file on 2 ranks: one message, exit 2"
msg=$(CLUES_FAILPOINT=nan_state:1 "$mpiexec" -n 2 --oversubscribe "$clues" run "${tiny[@]}" --silo "t=$dir/data.jsonl" --out "$dir/o9" 2>&1)
rc=$?
[ "$rc" -eq 1 ] || bad "divergence on 2 ranks: exit status $rc"
[ "$(grep -c "clues: error" <<<"$msg")" -eq 1 ] && [ "$(grep -c "^HINT" <<<"$msg")" -eq 1 ] &&
  grep -q "silo s, round 1" <<<"$msg" && grep -q "silo t, round 1" <<<"$msg" && ! grep -q "MPI_ABORT" <<<"$msg" ||
  bad "divergence on 2 ranks: not one message naming both silos: $msg"
[ "$fail" -eq 0 ] && echo "ok: divergence on 2 ranks: one message naming both silos, exit 1"

# CRLF lines are kept byte for byte, a blank last line is no line, 1e999 in an extra field is ignored.
{ for i in $(seq 1 12); do printf '{"instruction":"Reverse.","input":"w%sabc","output":"cba%sw","x":1e999}\r\n' "$i" "$i"; done
  printf '\r\n\n'; } > "$dir/crlf.jsonl"
"$clues" run "${tiny[@]}" --silo "c=$dir/crlf.jsonl" --out "$dir/crlf" > "$dir/crlf.log" 2>&1 || bad "CRLF input: $(tail -3 "$dir/crlf.log")"
n=$(wc -l < "$dir/crlf/selected/c.jsonl" 2>/dev/null || echo 0)
[ "$n" -gt 0 ] && [ "$(grep -c $'\r$' "$dir/crlf/selected/c.jsonl")" -eq "$n" ] &&
  grep -qxF "$(head -1 "$dir/crlf/selected/c.jsonl")" "$dir/crlf.jsonl" || bad "CRLF input: selected/c.jsonl is not byte for byte"
[ "$fail" -eq 0 ] && echo "ok: CRLF lines kept whole ($n selected), a blank last line and 1e999 accepted"
# A short warm-up whose loss falls but stays near guessing is told to train longer, not to lower the rate.
"$clues" run "${tiny[@]:0:6}" --train.rounds 3 "${tiny[@]:8}" --out "$dir/short" > "$dir/short.log" 2>&1 || bad "3-round run: $(tail -3 "$dir/short.log")"
grep -q "WARNING: .*is learning, slowly: give the warm-up more steps" "$dir/short.log" ||
  bad "a short warm-up: the advice is not to train longer: $(grep WARNING "$dir/short.log")"
[ "$fail" -eq 0 ] && echo "ok: a short warm-up is told to train longer"
expect "epsilon below float32" 2 "train.eps must be positive" -- "$clues" run --silo "$dir/ok.jsonl" "${base[@]}" --out "$dir/o3" --train.eps 1e-300

# clues merge: its --out is no input and holds no adapter unless --overwrite; adapters of one base only.
for a in a1:16:base a2:16:base a3:16:other a4:8:base; do
  IFS=: read -r n h b <<<"$a"
  /usr/bin/python3 "$src/tests/tiny_hf.py" adapter "$dir/$n" "$h" "$b"
done
expect "merge --out one of its inputs" 2 "being merged" -- "$clues" merge --out "$dir/a1" "$dir/a1" "$dir/a2"
"$clues" merge --out "$dir/am" "$dir/a1" "$dir/a2" > /dev/null 2>&1 || bad "merge of two adapters failed"
expect "merge into an adapter" 2 "already holds an adapter" -- "$clues" merge --out "$dir/am" "$dir/a1" "$dir/a2"
"$clues" merge --out "$dir/am" --overwrite "$dir/a1" "$dir/a2" > /dev/null 2>&1 || bad "merge --overwrite failed"
expect "merge of two base models" 2 "adapters of one base model only" -- "$clues" merge --out "$dir/ab" "$dir/a1" "$dir/a3"
expect "merge of two hidden sizes" 2 "has shape" -- "$clues" merge --out "$dir/ab" "$dir/a1" "$dir/a4"
msg=$("$clues" merge --out /dev/null/x "$dir/a1" "$dir/a2" 2>&1)
grep -q "clues: error: " <<<"$msg" && ! grep -q "on rank" <<<"$msg" || bad "merge: a write error names a rank: $msg"

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
