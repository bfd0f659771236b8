#!/usr/bin/env bash
# The device check, for a machine with one NVIDIA GPU whose image has Python with a CUDA
# torch 2.x, CMake and a compiler, but no MPI, HDF5, Boost or network (prepare here with
# scripts/device_prepare.sh, carry .device). Within 8 minutes it:
#   1. unpacks the carried Debian packages into a prefix and builds clues against them and
#      against that machine's torch (its LibTorch and NCCL);
#   2. runs the CUDA tests (Device.*) and the NCCL tests on one rank;
#   3. runs the pipeline on the small demo on the CPU and on the GPU (1 rank) and compares
#      the scores;
#   4. benchmarks scoring at TinyLlama-1.1B's shape (random weights, bf16, LoRA r16 on q
#      and v, 512 tokens): clues batched and loop against the peer's loop and vmap.
# Figures go to $OUT/gpu_check.json (OUT defaults to gpu_check_out/).
#   scripts/gpu_check.sh --build-only   step 1 only, and only the MPI/HDF5-side targets: the
#                                       CPU ctest device.build_half runs this
# Variables: DEBS (.device/debs), PREFIX (/tmp/clues_deps), BUILD (build-device), PYTHON
# (python3; the ctest passes the pinned torch's), JOBS (all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=full
[ "${1:-}" = --build-only ] && MODE=build
DEBS=${DEBS:-.device/debs}
PREFIX=${PREFIX:-/tmp/clues_deps}
BUILD=${BUILD:-build-device}
PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-$(nproc)}
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
T0=$(date +%s)
say() { echo "[gpu_check $(( $(date +%s) - T0 ))s] $*"; }

# ---- 1. build against the carried packages
compgen -G "$DEBS/*.deb" > /dev/null || { echo "gpu_check: no packages in $DEBS: run scripts/device_prepare.sh" >&2; exit 2; }
rm -rf "$PREFIX"
mkdir -p "$PREFIX"
for f in "$DEBS"/*.deb; do dpkg-deb -x "$f" "$PREFIX"; done
LIB=$PREFIX/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH="$LIB:$LIB/hdf5/openmpi:$LIB/openmpi/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OPAL_PREFIX=$PREFIX/usr PATH=$PREFIX/usr/bin:$PATH
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false
# CMAKE_IGNORE_PREFIX_PATH (below) needs CMake 3.23.
cmake_version=$(cmake --version | sed -n 's/^cmake version \([0-9]*\.[0-9]*\).*/\1/p')
[ "$(printf '%s\n3.23\n' "$cmake_version" | sort -V | head -1)" = 3.23 ] ||
  { echo "gpu_check: CMake $cmake_version; 3.23 or newer is needed" >&2; exit 2; }
TORCH_PREFIX=$("$PYTHON" -c 'import os, torch; print(torch.utils.cmake_prefix_path + ";" + os.path.dirname(torch.__file__))')
say "packages unpacked into $PREFIX; torch $("$PYTHON" -c 'import torch; print(torch.__version__)')"
# /usr is ignored when searching packages: MPI, HDF5, Boost, json, GoogleTest
# must come from the prefix (the build fails otherwise on a machine without them).
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCLUES_DEPS_PREFIX="$PREFIX" -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
  -DCMAKE_IGNORE_PREFIX_PATH=/usr > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
for v in Boost_DIR boost_program_options_DIR nlohmann_json_DIR GTest_DIR; do
  d=$(sed -n "s/^$v:PATH=//p" "$BUILD/CMakeCache.txt")
  case "$d" in "$PREFIX"/*) ;; *) echo "gpu_check: $v=$d is not from $PREFIX" >&2; exit 1 ;; esac
done
if [ "$MODE" = build ]; then
  cmake --build "$BUILD" -j"$JOBS" --target clues_io test_nccl > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
  libs=$(ldd "$BUILD/bin/test_nccl")
  grep -E 'libmpi|libhdf5' <<<"$libs" || true
  grep -q "libmpi.so.40 => $PREFIX/" <<<"$libs" || { echo "gpu_check: libmpi not from $PREFIX" >&2; exit 1; }
  # One rank, no launcher: MPI from the prefix starts, the NCCL tests skip without a GPU.
  "$BUILD/bin/test_nccl" --gtest_filter='NcclDevices.*' > "$OUT/test_nccl.log" 2>&1 || { cat "$OUT/test_nccl.log"; exit 1; }
  say "build half done: clues_io and test_nccl built and run against $PREFIX"
  exit 0
fi
cmake --build "$BUILD" -j"$JOBS" --target clues clues-bench-score test_engines test_nccl > "$OUT/build.log" 2>&1 ||
  { tail -40 "$OUT/build.log"; exit 1; }
say "built"

# ---- 2. CUDA and NCCL tests
status() { if "$@" >> "$OUT/tests.log" 2>&1; then echo passed; else echo failed; fi; }
DEVICE_TESTS=$(status "$BUILD/bin/test_engines" --gtest_filter='Device.*')
NCCL_TESTS=$(status "$BUILD/bin/test_nccl")
say "Device.* $DEVICE_TESTS, NCCL (1 rank) $NCCL_TESTS"

# ---- 3. the pipeline on the small demo, CPU and GPU
D=.device/demo
ARGS=()
for f in "$D"/silos/*.jsonl; do n=$(basename "$f" .jsonl); ARGS+=(--silo "$n=$f" --labels "$n=$D/labels/$n.txt"); done
ARGS+=(--validation "$D/validation.jsonl" --anchor "$D/anchor.jsonl" --seed 3 --progress 1000 --train.rounds 2
  --train.local_steps 5 --train.batch_size 8 --score.batch_size 8 --compare.rows none)
for dev in cpu cuda; do
  "$BUILD/bin/clues" run "${ARGS[@]}" --device "$dev" --out "$OUT/run_$dev" --overwrite > "$OUT/run_$dev.log" 2>&1 ||
    { tail -20 "$OUT/run_$dev.log"; echo "gpu_check: the pipeline failed on $dev" >&2; }
done
say "pipeline runs done"

# ---- 4. scoring at TinyLlama-1.1B's shape
SHAPE=(--vocab 32000 --d-model 2048 --layers 22 --heads 32 --hidden 5632 --lora-rank 16 --seq-len 512
  --prompt-len 128 --dtype bfloat16 --threads 0)
PEER=${PEER:-.device/reference_scoring.py}
: > "$OUT/bench.jsonl"
bench() { timeout 90 "$@" 2>> "$OUT/bench.log" | tail -n 1 >> "$OUT/bench.jsonl" || echo "gpu_check: timed out or failed: $*" >> "$OUT/bench.log"; }
bench "$BUILD/bin/clues-bench-score" --device cuda --engine batched --adam --samples 256 --batch 16 "${SHAPE[@]}"
bench "$BUILD/bin/clues-bench-score" --device cuda --engine loop --adam --samples 32 "${SHAPE[@]}"
if [ -f "$PEER" ]; then
  bench "$PYTHON" "$PEER" --device cuda --engine loop --samples 32 --kv-heads 32 --attention sdpa "${SHAPE[@]}"
  bench "$PYTHON" "$PEER" --device cuda --engine vmap --samples 64 --batch 8 --kv-heads 32 --attention sdpa "${SHAPE[@]}"
fi
say "benchmarks done"

"$PYTHON" - "$OUT" "$DEVICE_TESTS" "$NCCL_TESTS" <<'PY'
import json, os, sys
out, device_tests, nccl_tests = sys.argv[1:4]
res = {"device_tests": device_tests, "nccl_tests_one_rank": nccl_tests}
try:
    import h5py, numpy as np
    a, b = h5py.File(f"{out}/run_cpu/scores.h5"), h5py.File(f"{out}/run_cuda/scores.h5")
    worst, r = 0.0, []
    for name in a["silos"]:
        x, y = a[f"silos/{name}/score"][()], b[f"silos/{name}/score"][()]
        worst = max(worst, float(np.max(np.abs(x - y)) / max(np.max(np.abs(x)), 1e-300)))
        r.append(float(np.corrcoef(x, y)[0, 1]))
    res["pipeline_gpu_vs_cpu"] = {"max_abs_diff_relative_to_max_score": worst, "min_pearson": min(r),
                                  "selected_equal": all((a[f"silos/{n}/selected"][()] == b[f"silos/{n}/selected"][()]).all()
                                                        for n in a["silos"])}
except Exception as e:  # a failed run leaves no scores.h5
    res["pipeline_gpu_vs_cpu"] = {"error": str(e)}
rows = [json.loads(l) for l in open(f"{out}/bench.jsonl") if l.startswith("{")]
rows = [r for r in rows if "samples_per_s" in r]
res["bench"] = rows
# Model FLOPs per sample: forward 2·N·T plus the backward to activations 2·N·T (frozen
# weights get no weight gradient; LoRA's are negligible), attention 4·L·T²·d each way.
N = 22 * (2048 * 2048 * 4 + 3 * 2048 * 5632) + 32000 * 2048
T, L, d = 512, 22, 2048
flops = 4 * N * T + 2 * 4 * L * T * T * d
peak = 989e12  # H200 dense bf16
for r in rows:
    r["tflops_per_s"] = r["samples_per_s"] * flops / 1e12
    r["share_of_bf16_peak"] = r["samples_per_s"] * flops / peak
ours = {r["engine"]: r["samples_per_s"] for r in rows if "lora_tensors" not in r}
peer = [r["samples_per_s"] for r in rows if "lora_tensors" in r]
if "batched" in ours and "loop" in ours:
    res["batched_vs_own_loop"] = ours["batched"] / ours["loop"]
if "batched" in ours and peer:
    res["batched_vs_peer_best"] = ours["batched"] / max(peer)
res["flops_per_sample"] = flops
json.dump(res, open(f"{out}/gpu_check.json", "w"), indent=2)
print(json.dumps(res, indent=2))
PY
say "figures in $OUT/gpu_check.json"
