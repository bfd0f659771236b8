# Sourced by the shell tests that run clues on a small demo data set (blend_rank.sh,
# merge_mode.sh, resume_and_layouts.sh), after `set -uo pipefail`:
#   test_setup CLUES [MPIEXEC]  sets clues (absolute), mpiexec (default mpirun), src (the
#                               checkout), dir (a temporary folder, removed on exit unless
#                               KEEP is set) and fail=0; lets Open MPI run as root, one
#                               LibTorch thread per rank
#   check WHAT COMMAND...       runs COMMAND, prints "ok: WHAT" or "FAILED: WHAT" (fail=1)
#   same A B TOL                the runs in folders A and B have the same scores.h5 (to TOL)
#   layouts                     runs the caller's `run RANKS OUT` on 2, 1 and 4 ranks into
#                               $dir/r2, r1, r4 and checks the scores do not depend on it
#   run_small RANKS OUT [ARGS...]  clues run on the small demo (args), comparison off, into
#                               OUT, its output in OUT.log
#   small_demo                  writes 4 silos of 40 samples to $dir/data and fills args
#                               (--silo, --labels, validation, anchors and a tiny model) and
#                               tests (--test per silo)
test_setup() {
  clues=$(realpath "$1")
  mpiexec=${2:-mpirun}
  src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  dir=$(mktemp -d)
  trap '[ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
  fail=0
}

check() {
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; fail=1; fi
}

small_demo() {
  /usr/bin/python3 "$src/scripts/make_demo_data.py" --out "$dir/data" --per-silo 40 --validation 16 --anchor 16 \
    --test 10 >/dev/null || { echo "FAILED: make_demo_data.py"; exit 1; }
  args=() tests=()
  local f n
  for f in "$dir"/data/silos/*.jsonl; do
    n=$(basename "$f" .jsonl)
    args+=(--silo "$n=$f" --labels "$n=$dir/data/labels/$n.txt")
    tests+=(--test "$n=$dir/data/test/$n.jsonl")
  done
  args+=(--validation "$dir/data/validation.jsonl" --anchor "$dir/data/anchor.jsonl" --progress 1000
    --train.rounds 2 --train.local_steps 3 --train.batch_size 4 --model.d_model 32 --model.layers 1
    --model.hidden 64 --score.batch_size 8)
}

run_small() {
  local ranks=$1 out=$2
  shift 2
  "$mpiexec" --oversubscribe -np "$ranks" "$clues" run "${args[@]}" --compare.rows none --out "$out" "$@" \
    >"$out.log" 2>&1
}

same() { /usr/bin/python3 "$src/tests/compare_scores.py" "$1/scores.h5" "$2/scores.h5" "$3"; }

layouts() {
  run 2 "$dir/r2"
  check "2 ranks finish" test -s "$dir/r2/report.json"
  run 1 "$dir/r1"
  check "1 rank hosting 4 silos = 2 ranks hosting 2 each" same "$dir/r1" "$dir/r2" 1e-9
  run 4 "$dir/r4"
  check "4 ranks hosting 1 each = 2 ranks hosting 2 each" same "$dir/r4" "$dir/r2" 1e-9
}
