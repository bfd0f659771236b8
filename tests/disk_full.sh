#!/usr/bin/env bash
# A disk that fills part way through a run (a small tmpfs as --out): the run stops with exit
# status 1 and a message naming what it could not write, leaves no temporary file behind,
# commits no half-written file (every HDF5 file in the folder reads back whole), and given
# space again --resume finishes with the scores of an uninterrupted run.
# Needs to mount a tmpfs (root); skips with a note where that is not permitted.
# Usage: disk_full.sh PATH/TO/clues
set -uo pipefail
source "$(dirname "$0")/lib.sh"
test_setup "$1"
mnt="$dir/full"
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=64k tmpfs "$mnt" 2>/dev/null; then
  echo "skipped: cannot mount a tmpfs here (needs root)"
  exit 0
fi
umount "$mnt"
trap 'umount "$mnt" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT

for i in $(seq 1 24); do
  printf '{"instruction":"Reverse the word.","input":"w%sabc","output":"cba%sw"}\n' "$i" "$i"
done > "$dir/data.jsonl"
args=(--silo "a=$dir/data.jsonl" --silo "b=$dir/data.jsonl" --validation "$dir/data.jsonl" --anchor "$dir/data.jsonl"
  --train.rounds 4 --train.local_steps 2 --train.batch_size 4 --model.d_model 32 --model.heads 2 --model.layers 1
  --model.hidden 64 --score.batch_size 8 --compare.rows none --progress 1000)
"$clues" run "${args[@]}" --out "$dir/ref" > "$dir/ref.log" 2>&1 || { echo "FAILED: the reference run: $(tail -3 "$dir/ref.log")"; exit 1; }
echo "the whole run takes $(du -sk "$dir/ref" | cut -f1) KiB"

# 240k fills up in the warm-up's round checkpoints, 440k at scores.h5 (this model, these data).
for size in ${CLUES_TMPFS_SIZES:-240k 440k}; do
  mount -t tmpfs -o size=$size tmpfs "$mnt" || { echo "FAILED: mount $size"; fail=1; continue; }
  "$clues" run "${args[@]}" --out "$mnt/run" > "$dir/full.log" 2>&1
  rc=$?
  echo "$size: exit $rc: $(grep -m1 "clues: error" "$dir/full.log" | cut -c1-200)"
  check "$size: a full disk stops the run with exit status 1" [ "$rc" -eq 1 ]
  check "$size: the message says what could not be written" grep -qi "failed.*nothing of it was kept\|no space left" "$dir/full.log"
  check "$size: no warnings about HDF5 handles" [ "$(grep -c "closing an HDF5 handle failed" "$dir/full.log")" -eq 0 ]
  check "$size: no temporary file is left" [ -z "$(find "$mnt/run" -name '*.tmp.*')" ]
  check "$size: every HDF5 file reads back whole" /usr/bin/python3 -c "
import glob, sys, h5py
def read(name, obj):
    if isinstance(obj, h5py.Dataset): obj[()]
for p in glob.glob(sys.argv[1] + '/**/*.h5', recursive=True):
    with h5py.File(p, 'r') as f: f.visititems(read)
" "$mnt/run"
  check "$size: the run did not finish" [ ! -e "$mnt/run/report.json" ]
  # Space again: the folder moved to a roomy disk resumes and ends as an uninterrupted run.
  rm -rf "$dir/moved" && mkdir -p "$dir/moved" && cp -a "$mnt/run/." "$dir/moved/"
  umount "$mnt"
  "$clues" run "${args[@]}" --out "$dir/moved" --resume > "$dir/resume.log" 2>&1
  check "$size: --resume with space again finishes" [ $? -eq 0 ]
  check "$size: its scores equal the uninterrupted run's" \
    /usr/bin/python3 "$src/tests/compare_scores.py" "$dir/ref/scores.h5" "$dir/moved/scores.h5" 1e-9
done
exit $fail
