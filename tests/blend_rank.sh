#!/usr/bin/env bash
# ctest select.blend: select.rank=blend against an independent numpy re-implementation.
# Two runs on 2 ranks with the same seed, one with the paper's rule (rank=clues) and one
# with rank=blend (select.loss_weight 0.6), both with the comparison rows clues, blend and
# perplexity. Checks:
#  1. The blend run has the same scores and losses and keeps as many samples per silo as
#     the rank=clues run (the count comes from the threshold on the CLUES score).
#  2. Its selection is the top of (1 - w)·pct(score) + w·pct(-loss), percentiles by
#     average ranks within the silo, ties kept in input order (recomputed here in numpy).
#  3. selected/<silo>.jsonl holds exactly those lines; the clues row of the blend run is
#     its selection (the same AUROC as the blend row), and the rank=clues run's blend row
#     is the same selection again.
# Usage: blend_rank.sh PATH/TO/clues [MPIEXEC]
set -uo pipefail
clues=$(realpath "$1")
mpiexec=${2:-mpirun}
src=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
/usr/bin/python3 "$src/scripts/make_demo_data.py" --out "$dir/data" --per-silo 40 --validation 16 --anchor 16 \
  --test 10 >/dev/null || { echo "FAILED: make_demo_data.py"; exit 1; }
args=()
for f in "$dir"/data/silos/*.jsonl; do
  n=$(basename "$f" .jsonl)
  args+=(--silo "$n=$f" --labels "$n=$dir/data/labels/$n.txt" --test "$n=$dir/data/test/$n.jsonl")
done
args+=(--validation "$dir/data/validation.jsonl" --anchor "$dir/data/anchor.jsonl" --seed 4 --progress 1000
  --train.rounds 2 --train.local_steps 3 --train.batch_size 4 --model.d_model 32 --model.layers 1
  --model.hidden 64 --score.batch_size 8 --compare.rows clues,blend,perplexity --select.loss_weight 0.6)
for rank in clues blend; do
  "$mpiexec" --oversubscribe -np 2 "$clues" run "${args[@]}" --select.rank "$rank" --out "$dir/$rank" \
    >"$dir/$rank.log" 2>&1 || { echo "FAILED: the rank=$rank run"; tail -20 "$dir/$rank.log"; exit 1; }
done
/usr/bin/python3 - "$dir" <<'PY'
import json, sys
import h5py
import numpy as np
d = sys.argv[1]
w = 0.6
bad = 0
def check(ok, what):
    global bad
    print(("ok: " if ok else "FAILED: ") + what)
    bad += not ok
def average_ranks(x):
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    sx = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sx[j + 1] == sx[i]:
            j += 1
        r[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return r
fc, fb = (h5py.File(f"{d}/{r}/scores.h5", "r") for r in ("clues", "blend"))
rc, rb = (json.load(open(f"{d}/{r}/report.json")) for r in ("clues", "blend"))
for name in fb["silos"]:
    gc, gb = fc["silos"][name], fb["silos"][name]
    score, loss = gb["score"][()], gb["warmup_loss"][()]
    check(np.array_equal(score, gc["score"][()]) and np.array_equal(loss, gc["warmup_loss"][()]),
          f"{name}: the rank does not change scores or losses")
    k = int(gc["selected"][()].sum())
    check(k == int((score >= rc["silos"][name]["threshold"]).sum()), f"{name}: rank=clues keeps score >= threshold ({k})")
    check(int(gb["selected"][()].sum()) == k, f"{name}: rank=blend keeps as many ({k})")
    n = len(score)
    blend = ((1 - w) * average_ranks(score) + w * average_ranks(-loss)) / n
    want = np.zeros(n, dtype=np.uint8)
    want[np.lexsort((np.arange(n), -blend))[:k]] = 1
    check(np.array_equal(gb["selected"][()], want), f"{name}: the top {k} of the blend, as numpy ranks them")
    lines = open(f"{d}/data/silos/{name}.jsonl").read().splitlines()
    kept = open(f"{d}/blend/selected/{name}.jsonl").read().splitlines()
    check(kept == [l for l, s in zip(lines, want) if s], f"{name}: selected/{name}.jsonl holds those lines")
    for r in (rb, rc):
        row, sel = r["comparison"]["blend"]["silos"][name], rb["comparison"]["clues"]["silos"][name]
        check(all(row[key] == sel[key] for key in ("kept", "precision", "recall", "auroc")),
              f"{name}: the blend row is the blend selection")
    check(rb["comparison"]["clues"]["silos"][name]["auroc"] == rb["comparison"]["blend"]["silos"][name]["auroc"],
          f"{name}: under rank=blend the clues row ranks by the blend")
differs = any(not np.array_equal(fb["silos"][s]["selected"][()], fc["silos"][s]["selected"][()]) for s in fb["silos"])
check(differs, "the blend selection differs from rank=clues's in some silo (else this test shows nothing)")
check(rc["comparison"]["clues"]["macro_test_loss"] != rb["comparison"]["clues"]["macro_test_loss"],
      "the clues row follows the rank (its test loss changed)")
print("all blend checks passed" if not bad else f"{bad} blend checks FAILED")
sys.exit(1 if bad else 0)
PY
