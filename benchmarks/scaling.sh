#!/usr/bin/env bash
# Weak and strong scaling of the `clues run` scoring phase over MPI ranks, on demo data.
#   weak:   one silo of SAMPLES samples per rank (work grows with the ranks);
#           efficiency t1 / tN (1.00 = perfect).
#   strong: SAMPLES samples in total, split into one silo per rank;
#           efficiency t1 / (N * tN) (1.00 = perfect).
# Times are `timings_s.scoring` (and `timings_s.total`) from each run's report.json; the
# 1-rank run is shared by both series (same silo). Beside them, from report.json too: the
# warm-up's time and, for the warm-up and the scoring, the seconds inside MPI calls (the
# most of any rank, waiting included) and the megabytes moved (all ranks). Prints one table; with MIN_EFF set,
# exits 1 when a scoring efficiency falls below it (usable as a gate).
#
# Environment (default): SAMPLES (160), RANKS ("1 2"), THREADS (1: LibTorch threads per
# rank), EXTRA (more clues flags, after the defaults below so they win), CLUES_BIN
# (build/bin/clues), MPIRUN (mpirun), DATA (a temporary folder: demo data is made there
# once and reused when DATA is given and already holds it), KEEP (1: keep the run folders),
# MIN_EFF (none). Example:
#   SAMPLES=400 RANKS="1 2 4" EXTRA="--model.d_model 64" benchmarks/scaling.sh
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
SAMPLES=${SAMPLES:-160}
RANKS=${RANKS:-1 2}
THREADS=${THREADS:-1}
EXTRA=${EXTRA:-}
CLUES_BIN=$(realpath "${CLUES_BIN:-$src/build/bin/clues}")
MPIRUN=${MPIRUN:-mpirun}
KEEP=${KEEP:-0}
MIN_EFF=${MIN_EFF:-}
export OMP_NUM_THREADS=$THREADS
work=$(mktemp -d)
[ "$KEEP" = 1 ] || trap 'rm -rf "$work"' EXIT
DATA=${DATA:-$work/data}

read -r -a ranks <<<"$RANKS"
max_ranks=1
for n in "${ranks[@]}"; do [ "$n" -gt "$max_ranks" ] && max_ranks=$n; done
[ "${ranks[0]}" = 1 ] || { echo "scaling: RANKS must start with 1 (the baseline), got '$RANKS'" >&2; exit 2; }

# One pool of samples (one language, so silos are alike), sliced into silos below.
pool_size=$(( SAMPLES * max_ranks ))
if [ ! -s "$DATA/silos/deu.jsonl" ] || [ "$(wc -l <"$DATA/silos/deu.jsonl")" -lt "$pool_size" ]; then
  /usr/bin/python3 "$src/scripts/make_demo_data.py" --out "$DATA" --languages deu --bad-fractions 0.3 \
    --per-silo "$pool_size" --validation 32 --anchor 32 --test 1 >/dev/null
fi
pool=$DATA/silos/deu.jsonl

# slice OUT FIRST COUNT: lines FIRST..FIRST+COUNT-1 (1-based) of the pool into OUT.
slice() { sed -n "$2,$(( $2 + $3 - 1 ))p" "$pool" >"$1"; }

# run NAME N SILO_SIZE: N silos of SILO_SIZE samples on N ranks; sets r_scoring, r_total
# and r_comm (warm-up s, its communication s and MB, scoring communication s and MB).
run() {
  local name=$1 n=$2 size=$3 dir=$work/$1 silos=() i
  mkdir -p "$dir"
  for (( i = 0; i < n; i++ )); do
    slice "$dir/s$i.jsonl" $(( i * size + 1 )) "$size"
    silos+=(--silo "s$i=$dir/s$i.jsonl")
  done
  # shellcheck disable=SC2086  # EXTRA is a list of flags
  "$MPIRUN" --oversubscribe --allow-run-as-root -np "$n" "$CLUES_BIN" run "${silos[@]}" \
    --validation "$DATA/validation.jsonl" --anchor "$DATA/anchor.jsonl" --out "$dir/out" --overwrite \
    --threads "$THREADS" --progress 1e9 --compare.rows none \
    --train.rounds 2 --train.local_steps 5 $EXTRA >"$dir/log" 2>&1 \
    || { echo "scaling: run $name failed; its log:" >&2; cat "$dir/log" >&2; exit 1; }
  read -r r_scoring r_total r_comm < <(/usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
t, cs, cb = r["timings_s"], r["communication_s"], r["communication_bytes"]
print(t["scoring"], t["total"], "%.3f/%.3f/%.2f/%.3f/%.2f" % (t["warmup"], cs["warmup"], cb["warmup"] / 1e6,
      cs["scoring"], cb["scoring"] / 1e6))' "$dir/out/report.json")
}

rows=()  # "mode ranks samples scoring total"
run base 1 "$SAMPLES"
rows+=("weak 1 $SAMPLES $r_scoring $r_total $r_comm" "strong 1 $SAMPLES $r_scoring $r_total $r_comm")
for n in "${ranks[@]:1}"; do
  run "weak_$n" "$n" "$SAMPLES"
  rows+=("weak $n $(( SAMPLES * n )) $r_scoring $r_total $r_comm")
  (( SAMPLES % n == 0 )) || echo "scaling: $SAMPLES samples do not split evenly over $n ranks; using $(( SAMPLES / n )) each" >&2
  run "strong_$n" "$n" $(( SAMPLES / n ))
  rows+=("strong $n $(( SAMPLES / n * n )) $r_scoring $r_total $r_comm")
done

echo "clues scoring scaling: $(basename "$CLUES_BIN"), $THREADS thread(s) per rank, SAMPLES=$SAMPLES, $(nproc --all) cores," \
     "EXTRA='$EXTRA'"
printf '%s\n' "${rows[@]}" | /usr/bin/python3 -c '
import sys
min_eff = float(sys.argv[1]) if sys.argv[1] else None
rows = [l.split() for l in sys.stdin if l.strip()]
base = {m: (float(s), float(t)) for m, n, _, s, t, _ in rows if n == "1"}
print("%-7s%6s%9s%11s%11s%7s%10s%11s%10s%9s%9s%9s%9s" % ("mode", "ranks", "samples", "scoring_s", "samples/s", "eff",
      "total_s", "eff_total", "warmup_s", "w_comm_s", "w_MB", "s_comm_s", "s_MB"))
low = False
for mode, n, samples, s, t, comm in rows:
    n, samples, s, t = int(n), int(samples), float(s), float(t)
    s1, t1 = base[mode]
    eff = s1 / s if mode == "weak" else s1 / (n * s)
    eff_t = t1 / t if mode == "weak" else t1 / (n * t)
    low |= min_eff is not None and eff < min_eff
    w, wc, wb, sc, sb = comm.split("/")
    print(f"{mode:<7}{n:>6}{samples:>9}{s:>11.3f}{samples / s:>11.1f}{eff:>7.2f}{t:>10.3f}{eff_t:>11.2f}"
          f"{w:>10}{wc:>9}{wb:>9}{sc:>9}{sb:>9}")
if low:
    print(f"scaling: a scoring efficiency is below MIN_EFF={min_eff}")
    sys.exit(1)
' "$MIN_EFF"
