#!/usr/bin/env bash
# Scoring speed of clues against the Python peer (shared/peers/reference_scoring.py) on
# the reference shape, side by side in one run with the same BLAS settings, as ratios.
# Usage: benchmarks/compare_peer.sh [SAMPLES] (default 256). Needs build/bin/clues-bench-score;
# the peer runs with the same torch as clues (the pinned wheel, scripts/torch_env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/torch_env.sh
SAMPLES=${1:-256}
PEER=${PEER:-../shared/peers/reference_scoring.py}
BENCH=${BENCH:-build/bin/clues-bench-score}
OUT=$(mktemp)
run() { echo "$*" >&2; "$@" | tail -n 1 | tee -a "$OUT"; }
for dt in float32 bfloat16; do
  run "$CLUES_PYTHON" "$PEER" --engine vmap --samples "$SAMPLES" --threads 1 --dtype "$dt"
  run "$CLUES_PYTHON" "$PEER" --engine loop --samples "$SAMPLES" --threads 1 --dtype "$dt"
  run "$BENCH" --engine batched --adam --samples "$SAMPLES" --dtype "$dt"
  run "$BENCH" --engine ghost --samples "$SAMPLES" --dtype "$dt"
  run "$BENCH" --engine loop --adam --samples "$SAMPLES" --dtype "$dt"
done
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
peer = [r for r in rows if "lora_tensors" in r]
ours = [r for r in rows if "lora_tensors" not in r]
best_peer_f32 = max(r["samples_per_s"] for r in peer if r["dtype"] == "float32")
best_peer_any = max(r["samples_per_s"] for r in peer)
print(f"peer best float32: {best_peer_f32:.1f} samples/s; peer best any dtype: {best_peer_any:.1f} samples/s")
for r in peer:
    print(f"  peer  {r['engine']:8s} {r['dtype']:9s} {r['samples_per_s']:7.1f} samples/s")
for r in ours:
    name = r["engine"] + (" --adam" if r["adam"] else "")
    line = (f"  clues {name:15s} {r['dtype']:9s} {r['samples_per_s']:7.1f} samples/s  "
            f"x{r['samples_per_s'] / (best_peer_f32 if r['dtype'] == 'float32' else best_peer_any):.2f} vs peer best "
            f"({'float32' if r['dtype'] == 'float32' else 'any dtype'}), "
            f"x{r['ratio_vs_train_step']:.2f} of a training step")
    if "score_max_abs_error_vs_float32_relative" in r:
        line += f", score error vs float32 {r['score_max_abs_error_vs_float32_relative']:.2e} (pearson {r['score_pearson_vs_float32']:.6f})"
    print(line)
PY
rm -f "$OUT"
