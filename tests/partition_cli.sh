#!/usr/bin/env bash
# `clues partition` through the executable: a study folder from three domain files, the
# same bytes from the same seed, `clues run` reading the folder as its manifest says, and
# refused requests with exit status 2, the message naming what to fix and nothing written.
# Usage: partition_cli.sh PATH/TO/clues
set -u
clues=$(realpath "$1")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
fail=0
bad() { echo "FAILED: $*"; fail=1; }
for d in ant bee cat; do
  for i in $(seq 1 40); do
    printf '{"instruction":"Spell the %s word.","input":"w%s","output":"%s %s %s","id":"%s-%s"}\n' "$d" "$i" "$d" "$i" "$d$i" "$d" "$i"
  done > "$dir/$d.jsonl"
done
printf '%s\n' '{"instruction":"a","output":"b","lang":"en"}' '{"instruction":"c","output":"d"}' > "$dir/nolang.jsonl"
src=(--source "ant=$dir/ant.jsonl" --source "bee=$dir/bee.jsonl" --source "cat=$dir/cat.jsonl")
study=("${src[@]}" --silos 3 --scheme dirichlet --alpha 0.5 --validation-size 4 --anchor-size 4 --test-size 3
  --bad-ratios 0.1,0.3,0.5 --seed 9)

"$clues" partition "${study[@]}" --out "$dir/a" > "$dir/a.txt" || bad "partition: exit status $?"
for f in manifest.json composition.svg validation.jsonl anchor.jsonl validation/ant.jsonl anchor/cat.jsonl \
         silos/silo0.jsonl labels/silo2.txt test/silo1.jsonl; do
  [ -s "$dir/a/$f" ] || bad "partition: no $f"
done
"$clues" partition "${study[@]}" --out "$dir/b" > /dev/null || bad "partition again: exit status $?"
diff -r "$dir/a" "$dir/b" > /dev/null || bad "the same seed gave other bytes"
[ "$fail" -eq 0 ] && echo "ok: a study folder, the same bytes from the same seed"

# clues run reads the folder as the manifest's clues_run_arguments say (a tiny model).
args=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["clues_run_arguments"])' "$dir/a/manifest.json")
(cd "$dir/a" && "$clues" run $args --out "$dir/run" --train.rounds 1 --train.local_steps 2 --train.batch_size 4 \
  --model.d_model 16 --model.heads 2 --model.layers 1 --model.hidden 16 --score.batch_size 4 --compare.rows none \
  --progress 1000 > "$dir/run.txt" 2>&1) || bad "clues run on the study: $(tail -5 "$dir/run.txt")"
[ -s "$dir/run/report.json" ] || bad "clues run on the study: no report.json"
[ "$fail" -eq 0 ] && echo "ok: clues run on the study folder"

# expect NAME NEEDLE ARGS...: exit status 2, the message holds NEEDLE, no --out left.
expect() {
  local name=$1 needle=$2
  shift 2
  local msg rc
  rm -rf "$dir/x"
  msg=$("$clues" partition "$@" --out "$dir/x" 2>&1)
  rc=$?
  [ "$rc" -eq 2 ] || bad "$name: exit status $rc, expected 2"
  grep -qF -- "$needle" <<<"$msg" || bad "$name: the message lacks \"$needle\": $(head -c 300 <<<"$msg")"
  [ ! -e "$dir/x" ] || bad "$name: --out was written"
  ls -a "$dir" | grep -q '\.x\.partition-' && bad "$name: a temporary folder was left"
  [ "$fail" -eq 0 ] && echo "ok: $name"
}
expect "alpha 0" "--alpha must be > 0" "${src[@]}" --silos 2 --scheme dirichlet --alpha 0
expect "more silos than samples" "more silos (121) than samples" "${src[@]}" --silos 121
expect "k above the domains" "--k 4 is more than the 3 domains" "${src[@]}" --silos 2 --scheme k-domains --k 4
expect "missing domain field" "nolang.jsonl:2: no field \"lang\"" --source "$dir/nolang.jsonl" --domain-field lang --silos 1
expect "unknown corruption" "unknown corruption kind \"mangle\"" "${src[@]}" --silos 2 --corruptions swap,mangle
expect "ratio of 1" "1 is outside [0, 1)" "${src[@]}" --silos 2 --bad-ratios 0.2,1
expect "unknown option" "unrecognised option '--bogus'" "${src[@]}" --silos 2 --bogus
mkdir -p "$dir/x"
echo mine > "$dir/x/keep"
msg=$("$clues" partition "${src[@]}" --silos 2 --out "$dir/x" 2>&1)
rc=$?
[ "$rc" -eq 2 ] && grep -qF "give --overwrite" <<<"$msg" && [ "$(cat "$dir/x/keep")" = mine ] \
  || bad "a non-empty --out without --overwrite: status $rc, $msg"
[ "$fail" -eq 0 ] && echo "ok: a non-empty --out is kept without --overwrite"
exit $fail
