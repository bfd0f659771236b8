#!/usr/bin/env bash
# A study over whole-pipeline seeds: the demo's pretrained regime (pretraining of the base,
# warm-up, scoring, selection and every comparison row) once per seed, then a summary over
# the seeds: each row's macro test loss and pooled AUROC (mean ± sd), and CLUES against each
# baseline seed by seed (paired differences and wins), in OUT/study.md and OUT/study.json.
# A seed whose report.json exists is not run again and a killed seed resumes (clues
# --resume), so a killed study goes on; OUT remembers DATA, PER_SILO and EXTRA and refuses
# to mix runs made with other ones.
# Environment: SEEDS ("0 1 2 3 4"), RANKS (2), OUT (study_out), DATA (demo_data), DATA_SCRIPT
# (scripts/make_demo_data.py; scripts/make_skills_data.py for the second benchmark), PER_SILO
# (400), PRETRAIN_KNOWS (1: the share of the silos' answers in the public corpus; 0: none),
# EXTRA (more clues flags), CACHE (OUT/pretrain_cache; one pretrained base per seed),
# BASE_SEED (unset: each seed pretrains its own base; a number: every seed starts from that
# one base, --pretrain.seed, so only the warm-up, selection and fine-tuning vary).
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-0 1 2 3 4}
RANKS=${RANKS:-2}
OUT=${OUT:-study_out}
DATA=${DATA:-demo_data}
PER_SILO=${PER_SILO:-400}
CACHE=${CACHE:-$OUT/pretrain_cache}
mkdir -p "$OUT"
settings="DATA=$DATA PER_SILO=$PER_SILO EXTRA=${EXTRA:-} BASE_SEED=${BASE_SEED:-}${DATA_SCRIPT:+ DATA_SCRIPT=$DATA_SCRIPT}${PRETRAIN_KNOWS:+ PRETRAIN_KNOWS=$PRETRAIN_KNOWS}"
if [ -f "$OUT/settings.txt" ] && [ "$(cat "$OUT/settings.txt")" != "$settings" ]; then
  echo "seed study: $OUT holds runs made with '$(cat "$OUT/settings.txt")', not '$settings';" \
    "use another OUT or remove it" >&2
  exit 2
fi
echo "$settings" > "$OUT/settings.txt"
source scripts/demo_common.sh
demo_prepare "$DATA" "$PER_SILO"
start=$(date +%s)
reports=()
for seed in $SEEDS; do
  reports+=("$OUT/seed_$seed/report.json")
  if [ -f "$OUT/seed_$seed/report.json" ]; then
    echo "=== seed study: seed $seed already done ==="
    continue
  fi
  echo "=== seed study: seed $seed ($(( $(date +%s) - start )) s so far) ==="
  # shellcheck disable=SC2086  # EXTRA is a list of flags
  mpirun --oversubscribe -np "$RANKS" build/bin/clues run --config scripts/demo.ini "${SILO_FLAGS[@]}" \
    --validation "$DATA/validation.jsonl" --anchor "$DATA/anchor.jsonl" \
    --pretrain "$DATA/pretrain.jsonl" --pretrain.cache "$CACHE" \
    --out "$OUT/seed_$seed" --resume --seed "$seed" ${BASE_SEED:+--pretrain.seed "$BASE_SEED"} ${EXTRA:-} \
    > "$OUT/seed_$seed.log" 2>&1 ||
    { echo "seed study: seed $seed failed; its log: $OUT/seed_$seed.log" >&2; tail -5 "$OUT/seed_$seed.log" >&2; exit 1; }
done
/usr/bin/python3 scripts/seed_summary.py --out "$OUT" "${reports[@]}"
echo "seed study: wall time $(( $(date +%s) - start )) s for seeds $SEEDS on $RANKS rank(s); summary in $OUT/study.md"
