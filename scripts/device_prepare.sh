#!/usr/bin/env bash
# Prepares .device/ (ignored by git) for scripts/gpu_check.sh on a GPU machine without MPI,
# HDF5, Boost or network: the Debian packages it builds against (scripts/device_debs.sh)
# a small demo data set (the dictionaries are not there) and the benchmark's Python peer. Then, with the device tool:
#   run(command="scripts/gpu_check.sh", carry=[".device"])
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/device_debs.sh .device/debs
if [ ! -f .device/demo/anchor.jsonl ]; then
  /usr/bin/python3 scripts/make_demo_data.py --out .device/demo --per-silo 60 --validation 16 --anchor 16 \
    --test 10 > /dev/null
fi
# The Python peer of the benchmark (the folder beside the checkout does not travel).
if [ -f ../shared/peers/reference_scoring.py ]; then cp ../shared/peers/reference_scoring.py .device/; fi
echo "device_prepare: $(du -sh .device | cut -f1) in .device"
