#!/usr/bin/env bash
# ctest device.build_half: the first half of the device check (scripts/gpu_check.sh
# --build-only) on this CPU machine: the carried Debian packages unpacked into a prefix,
# CMake told to ignore /usr, MPI, HDF5, Boost, json and GoogleTest found in the prefix, the
# MPI/HDF5 side built and run against it. Keeps the device script working between GPU runs.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
source "$src/scripts/torch_env.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$src/scripts/device_debs.sh" "$CLUES_DEVICE_DEBS"
PYTHON=$CLUES_PYTHON DEBS=$CLUES_DEVICE_DEBS PREFIX=$dir/prefix BUILD=$dir/build OUT=$dir/out JOBS=${JOBS:-2} \
  "$src/scripts/gpu_check.sh" --build-only
