#!/usr/bin/env bash
# What a run costs as the same data is spread over more silos: SAMPLES training samples in
# total split evenly (clues partition, iid) into N silos for each N of SILOS, the same
# model, batch size and optimizer steps in every run (train.local_epochs 1, batch 20: one
# pass over each silo's data per round), held-out validation and anchors of the same size,
# test samples per silo so the total is TEST. One `clues run` per (mode, N) on RANKS ranks;
# prints one line per run: wall time per phase (report.json timings_s), end to end, its
# ratio to the first N of the same mode, and peak RSS per rank (the largest, MiB).
#
# Environment (default): SILOS ("4 16 64 256"), MODES ("fedavg merge"), SAMPLES (5120),
# TEST (256), HELD (60: validation and anchor samples per language, four languages),
# RANKS (2), ROUNDS (3), ROWS (clues: compare.rows), EXTRA (more clues flags, last, so
# they win), CLUES_BIN (build/bin/clues), DATA (a temporary folder; given and holding the
# pool, it is reused), KEEP (1: keep the run folders), MAX_RATIO (none: with it, exit 1
# when a run's end-to-end time exceeds MAX_RATIO times the first N's of its mode).
# Example: SILOS="4 256" MODES=fedavg MAX_RATIO=1.3 benchmarks/many_silos.sh
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
SILOS=${SILOS:-4 16 64 256}
MODES=${MODES:-fedavg merge}
SAMPLES=${SAMPLES:-5120}
TEST=${TEST:-256}
HELD=${HELD:-60}
RANKS=${RANKS:-2}
ROUNDS=${ROUNDS:-3}
ROWS=${ROWS:-clues}
EXTRA=${EXTRA:-}
CLUES_BIN=$(realpath "${CLUES_BIN:-$src/build/bin/clues}")
KEEP=${KEEP:-0}
MAX_RATIO=${MAX_RATIO:-}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
work=$(mktemp -d)
[ "$KEEP" = 1 ] || trap 'rm -rf "$work"' EXIT
DATA=${DATA:-$work/data}

read -r -a silo_counts <<<"$SILOS"
for n in "${silo_counts[@]}"; do
  (( (SAMPLES + TEST) % 4 == 0 && SAMPLES % n == 0 && TEST % n == 0 )) ||
    { echo "many_silos: SAMPLES ($SAMPLES) and TEST ($TEST) must be multiples of every N in SILOS ($SILOS), their sum of 4" >&2; exit 2; }
done
# The pool: four languages, clean (low quality is injected by clues partition).
per_language=$(( (SAMPLES + TEST) / 4 + HELD * 2 ))
if [ ! -s "$DATA/silos/spa.jsonl" ]; then
  /usr/bin/python3 "$src/scripts/make_demo_data.py" --out "$DATA" --per-silo "$per_language" \
    --bad-fractions 0,0,0,0 --validation 2 --anchor 2 --test 1 --seed 0 >/dev/null
fi
sources=()
for l in deu fra ita spa; do sources+=(--source "$l=$DATA/silos/$l.jsonl"); done

printf '# lscpu: %s; %s ranks, %s samples, %s rounds, local_epochs 1, batch 20\n' \
  "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" "$RANKS" "$SAMPLES" "$ROUNDS"
printf '%-7s %6s %8s %9s %8s %8s %8s %8s %8s %7s %9s\n' mode silos warmup scoring select compare final total ratio \
  rss_mib per_silo
status=0
for mode in $MODES; do
  base=""
  for n in "${silo_counts[@]}"; do
    part=$work/part_$n
    if [ ! -s "$part/manifest.json" ]; then
      # Each silo's share (SAMPLES+TEST)/N, its first TEST/N samples its test set; the
      # pool is cut so that exactly SAMPLES + TEST samples are partitioned.
      "$CLUES_BIN" partition "${sources[@]}" --silos "$n" --out "$part" --validation-size "$HELD" \
        --anchor-size "$HELD" --test-size $(( TEST / n )) --bad-dist uniform:0.1:0.5 --seed 0 >/dev/null
    fi
    out=$work/run_${mode}_$n
    # shellcheck disable=SC2046,SC2086  # the manifest's arguments and EXTRA are lists of flags
    (cd "$part" && mpirun --oversubscribe --allow-run-as-root -np "$RANKS" "$CLUES_BIN" run \
      --config "$src/scripts/demo.ini" $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["clues_run_arguments"])' manifest.json) \
      --collab "$mode" --train.rounds "$ROUNDS" --train.local_epochs 1 --train.batch_size 20 \
      --compare.rows "$ROWS" --progress 60 --out "$out" $EXTRA >"$work/log_${mode}_$n" 2>&1) ||
      { echo "many_silos: the run $mode/$n failed; its log:" >&2; tail -20 "$work/log_${mode}_$n" >&2; exit 1; }
    IFS=$'\t' read -r line total < <(python3 - "$out/report.json" "$n" "$mode" "${base:-0}" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["timings_s"]
n, mode, base = int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
total = t["total"]
ratio = total / base if base > 0 else 1.0
size = sum(s["samples"] for s in r["silos"].values()) / n
print(f"{mode:<7} {n:6d} " + " ".join(f"{t.get(k, 0.0):8.1f}" for k in ("warmup", "scoring", "selection", "comparison", "final model"))
      + f" {total:8.1f} {ratio:8.2f} {r['peak_rss_mib']['max']:7.0f} {size:9.1f}\t{total}")
EOF
)
    echo "$line"
    [ -n "$base" ] || base=$total
    if [ -n "$MAX_RATIO" ] && python3 -c "import sys; sys.exit(0 if $total <= $MAX_RATIO * $base else 1)"; then :; 
    elif [ -n "$MAX_RATIO" ]; then status=1; fi
  done
done
exit $status
