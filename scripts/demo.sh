#!/usr/bin/env bash
# The demo, end to end: set up, build, make the multilingual demo data from Debian's
# freedict dictionaries (4 silos with 10%..70% corrupted samples, and a public corpus),
# then run `clues run` on RANKS ranks (default 2) once per regime, each followed by the
# comparison (every selection fine-tuned collaboratively from the same base, evaluated on
# each silo's clean test set):
#   scratch:    no pretraining, every weight trained (model.finetune=full)
#   pretrained: a base model pretrained on the public corpus (cached), LoRA on top, with
#               the default threshold (the 0.2-quantile of the anchor scores)
#   mean:       as pretrained, with the earlier default threshold: the mean anchor score
# and print the comparison tables; score histograms go to OUT/<regime>/figures/.
# Environment: RANKS (2), OUT (demo_out), DATA (demo_data), DATA_SCRIPT (the data generator,
# scripts/make_demo_data.py or scripts/make_skills_data.py), PER_SILO (400), EXTRA (more
# clues flags for every run), REGIMES ("scratch pretrained mean").
set -euo pipefail
cd "$(dirname "$0")/.."
RANKS=${RANKS:-2}
OUT=${OUT:-demo_out}
DATA=${DATA:-demo_data}
PER_SILO=${PER_SILO:-400}
REGIMES=${REGIMES:-scratch pretrained mean}
source scripts/demo_common.sh
demo_prepare "$DATA" "$PER_SILO"
mkdir -p "$OUT"
start=$(date +%s)
for regime in $REGIMES; do
  case $regime in
    scratch) flags=(--model.finetune full) ;;
    pretrained) flags=(--pretrain "$DATA/pretrain.jsonl" --pretrain.cache "$OUT/pretrain_cache") ;;
    mean) flags=(--pretrain "$DATA/pretrain.jsonl" --pretrain.cache "$OUT/pretrain_cache"
                 --select.threshold mean) ;;
    *) echo "demo: unknown regime $regime (scratch, pretrained or mean)" >&2; exit 2 ;;
  esac
  echo "=== demo: regime '$regime' ==="
  # shellcheck disable=SC2086  # EXTRA is a list of flags
  mpirun --oversubscribe -np "$RANKS" build/bin/clues run --config scripts/demo.ini \
    "${SILO_FLAGS[@]}" \
    --validation "$DATA/validation.jsonl" --anchor "$DATA/anchor.jsonl" \
    --out "$OUT/$regime" --overwrite "${flags[@]}" ${EXTRA:-}
  /usr/bin/python3 scripts/plot_scores.py "$OUT/$regime" "${LABEL_FLAGS[@]}" >/dev/null
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
  "(report.json, comparison.md, scores.h5, selected/, figures/); every table in $OUT/comparison.md"
