#!/usr/bin/env bash
# Checks that `clues run` refuses a bad JSONL line: exit status 2, a message naming the
# file and line, and no output folder created.
set -u
clues=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf '%s\n' '{"instruction":"a","output":"b"}' '{"instruction":"a","output":"b"}' '{"instruction": "a", "output": }' > "$dir/bad.jsonl"
printf '%s\n' '{"instruction":"a","output":"b"}' > "$dir/ok.jsonl"
msg=$("$clues" run --silo "$dir/bad.jsonl" --validation "$dir/ok.jsonl" --anchor "$dir/ok.jsonl" --out "$dir/out" 2>&1)
rc=$?
fail=0
[ "$rc" -eq 2 ] || { echo "expected exit status 2, got $rc"; fail=1; }
grep -q "bad.jsonl:3" <<<"$msg" || { echo "message does not name bad.jsonl:3"; fail=1; }
[ ! -e "$dir/out" ] || { echo "output folder was created"; fail=1; }
"$clues" run --silo "$dir/ok.jsonl" --validation "$dir/ok.jsonl" --anchor "$dir/ok.jsonl" --out "$dir/o2" --no-such-flag >/dev/null 2>&1
[ $? -eq 2 ] || { echo "unknown option should exit 2"; fail=1; }
echo "$msg"
exit $fail
