#!/usr/bin/env bash
# ctest score.validation_domains: per-domain validation (--validation NAME=PATH) against a
# by-hand sum. Scores are linear in the target, so with domains A and B and
# score.other_domains=w, silo A's scores must equal s_A + w s_B, silo B's w s_A + s_B and a
# silo without a domain w (s_A + s_B), where s_X are the scores of a run whose pooled
# validation set is X's file (same warm-up: validation does not change training). The
# anchors are scored like each silo's samples, so each silo's slice of /anchor/score obeys
# the same sums. Usage: validation_domains.sh PATH/TO/clues
set -uo pipefail
clues=$(realpath "$1")
src=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
export OMP_NUM_THREADS=1
/usr/bin/python3 "$src/scripts/make_demo_data.py" --out "$dir/data" --per-silo 24 --validation 8 --anchor 8 --test 8 \
  >/dev/null || { echo "FAILED: make_demo_data.py"; exit 1; }
silos=($(ls "$dir/data/silos" | sed 's/.jsonl$//' | head -3))
A=${silos[0]} B=${silos[1]} C=${silos[2]}
args=(--anchor "$dir/data/anchor.jsonl" --seed 5 --progress 1000 --train.rounds 2 --train.local_steps 2
  --train.batch_size 4 --model.d_model 32 --model.layers 1 --model.hidden 64 --score.batch_size 8 --compare.rows none)
for s in "${silos[@]}"; do args+=(--silo "$s=$dir/data/silos/$s.jsonl"); done
"$clues" run "${args[@]}" --validation "$dir/data/test/$A.jsonl" --out "$dir/a" > "$dir/a.log" 2>&1 || { cat "$dir/a.log"; exit 1; }
"$clues" run "${args[@]}" --validation "$dir/data/test/$B.jsonl" --out "$dir/b" > "$dir/b.log" 2>&1 || { cat "$dir/b.log"; exit 1; }
"$clues" run "${args[@]}" --validation "$A=$dir/data/test/$A.jsonl" --validation "$B=$dir/data/test/$B.jsonl" \
  --score.other_domains 0.25 --out "$dir/d" > "$dir/d.log" 2>&1 || { cat "$dir/d.log"; exit 1; }
/usr/bin/python3 - "$dir" "$A" "$B" "$C" <<'PY'
import sys
import h5py
import numpy as np
d, A, B, C = sys.argv[1:]
w = 0.25
fa, fb, fd = (h5py.File(f"{d}/{x}/scores.h5", "r") for x in ("a", "b", "d"))
bad = 0
def close(name, got, want):
    global bad
    err = np.abs(got - want).max() / max(1e-30, np.abs(want).max())
    ok = err < 1e-5 and np.abs(want).max() > 0
    print(("ok   " if ok else "FAIL ") + f"{name}: max relative difference {err:.2e}")
    bad += not ok
coef = {A: (1, w), B: (w, 1), C: (w, w)}
n = {}
for s, (ca, cb) in coef.items():
    sa, sb, sd = (f[f"silos/{s}/score"][()] for f in (fa, fb, fd))
    n[s] = len(sa)
    close(f"silo {s} = {ca} s_A + {cb} s_B", sd, ca * sa + cb * sb)
pa, pb, pd = (f["anchor/score"][()] for f in (fa, fb, fd))
k = len(pd) // len(coef)  # anchors per silo, pooled in --silo order
for j, (s, (ca, cb)) in enumerate(coef.items()):
    part = slice(j * k, (j + 1) * k)
    close(f"anchors for {s} = {ca} s_A + {cb} s_B", pd[part], ca * pa[part] + cb * pb[part])
sys.exit(1 if bad else 0)
PY
