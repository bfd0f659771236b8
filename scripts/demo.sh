#!/usr/bin/env bash
# The demo, end to end: set up, build, make the multilingual demo data from Debian's
# freedict dictionaries (4 silos with 10%..70% corrupted samples), run `clues run` on
# RANKS ranks (default 2) and print the per-silo summary and detection figures.
# Environment: RANKS (2), OUT (demo_out), DATA (demo_data), PER_SILO (400), EXTRA (more clues flags).
set -euo pipefail
cd "$(dirname "$0")/.."
RANKS=${RANKS:-2}
OUT=${OUT:-demo_out}
DATA=${DATA:-demo_data}
PER_SILO=${PER_SILO:-400}
scripts/setup.sh
scripts/build.sh
/usr/bin/python3 scripts/make_demo_data.py --out "$DATA" --per-silo "$PER_SILO" --seed 0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
silos=() labels=() tests=()
for f in "$DATA"/silos/*.jsonl; do
  name=$(basename "$f" .jsonl)
  silos+=(--silo "$name=$f")
  labels+=(--labels "$name=$DATA/labels/$name.txt")
  tests+=(--test "$name=$DATA/test/$name.jsonl")
done
start=$(date +%s)
mpirun --oversubscribe -np "$RANKS" build/bin/clues run --config scripts/demo.ini \
  "${silos[@]}" "${labels[@]}" "${tests[@]}" \
  --validation "$DATA/validation.jsonl" --anchor "$DATA/anchor.jsonl" \
  --out "$OUT" --overwrite ${EXTRA:-}
echo "demo: wall time $(( $(date +%s) - start )) s on $RANKS rank(s); outputs in $OUT (report.json, scores.h5, selected/)"
