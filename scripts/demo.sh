#!/usr/bin/env bash
# The demo, end to end: set up, build, make the multilingual demo data from Debian's
# freedict dictionaries (4 silos with 10%..70% corrupted samples, and a public corpus),
# then run `clues run` twice on RANKS ranks (default 2), each followed by the comparison
# (every selection fine-tuned collaboratively from the same base, evaluated on each silo's
# clean test set):
#   scratch:    no pretraining, every weight trained (model.finetune=full)
#   pretrained: a base model pretrained on the public corpus (cached), LoRA on top
# and print both comparison tables; score histograms go to OUT/<regime>/figures/.
# Environment: RANKS (2), OUT (demo_out), DATA (demo_data), PER_SILO (400), EXTRA (more
# clues flags for both runs), REGIMES ("scratch pretrained").
set -euo pipefail
cd "$(dirname "$0")/.."
RANKS=${RANKS:-2}
OUT=${OUT:-demo_out}
DATA=${DATA:-demo_data}
PER_SILO=${PER_SILO:-400}
REGIMES=${REGIMES:-scratch pretrained}
scripts/setup.sh
scripts/build.sh
# The public corpus: 2000 dictionary pairs per language disjoint from the test, validation
# and anchor sets, plus the correct translations of the silos' words (a pretrained LLM
# knows common words; the corrupted answers are never in it).
/usr/bin/python3 scripts/make_demo_data.py --out "$DATA" --per-silo "$PER_SILO" --pretrain 2000 \
  --pretrain-knows 1 --seed 0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
# Debian's OpenBLAS does not recognise recent Intel CPUs and falls back to a slow generic
# kernel; on CPUs with AVX-512 the SkylakeX kernel is about 7x faster (speed only).
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -q avx512f /proc/cpuinfo 2>/dev/null; then
  export OPENBLAS_CORETYPE=SkylakeX
fi
silos=() labels=() tests=()
for f in "$DATA"/silos/*.jsonl; do
  name=$(basename "$f" .jsonl)
  silos+=(--silo "$name=$f")
  labels+=(--labels "$name=$DATA/labels/$name.txt")
  tests+=(--test "$name=$DATA/test/$name.jsonl")
done
mkdir -p "$OUT"
start=$(date +%s)
for regime in $REGIMES; do
  case $regime in
    scratch) flags=(--model.finetune full) ;;
    pretrained) flags=(--pretrain "$DATA/pretrain.jsonl" --pretrain.cache "$OUT/pretrain_cache") ;;
    *) echo "demo: unknown regime $regime (scratch or pretrained)" >&2; exit 2 ;;
  esac
  echo "=== demo: regime '$regime' ==="
  # shellcheck disable=SC2086  # EXTRA is a list of flags
  mpirun --oversubscribe -np "$RANKS" build/bin/clues run --config scripts/demo.ini \
    "${silos[@]}" "${labels[@]}" "${tests[@]}" \
    --validation "$DATA/validation.jsonl" --anchor "$DATA/anchor.jsonl" \
    --out "$OUT/$regime" --overwrite "${flags[@]}" ${EXTRA:-}
  /usr/bin/python3 scripts/plot_scores.py "$OUT/$regime" "${labels[@]}" >/dev/null
done
{
  echo "# clues demo: comparison of selections ($(date -u +%Y-%m-%d), $RANKS ranks)"
  for regime in $REGIMES; do
    echo
    echo "## Regime: $regime"
    echo
    tail -n +3 "$OUT/$regime/comparison.md"
  done
} > "$OUT/comparison.md"
cat "$OUT/comparison.md"
echo "demo: wall time $(( $(date +%s) - start )) s on $RANKS rank(s); outputs in $OUT/<regime>/" \
  "(report.json, comparison.md, scores.h5, selected/, figures/); both tables in $OUT/comparison.md"
