#!/usr/bin/env bash
# The test command: set up (Debian packages), build, and run every test with ctest.
# MPI tests run through mpiexec with 2 ranks; Open MPI is told it may run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
cd build
ctest --output-on-failure --timeout 900
