#!/usr/bin/env bash
# Downloads the Debian packages that stand in for Open MPI, parallel HDF5, Boost.Program_
# options, nlohmann-json, SentencePiece, PCRE2, xxHash and GoogleTest on a machine that has none of
# them and no network (the GPU machine of scripts/gpu_check.sh): headers, libraries and
# the libraries those load, but nothing a CUDA/Python image already has (C and C++
# runtimes). About 30 MB. Usage: scripts/device_debs.sh [DIR] (default .device/debs,
# which git ignores; carry .device to the device machine).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-.device/debs}
PACKAGES=(
  libopenmpi3 libopenmpi-dev openmpi-common openmpi-bin libpmix2 libhwloc15 libevent-core-2.1-7
  libevent-pthreads-2.1-7 libfabric1 libucx0 libpsm2-2 libpsm-infinipath1 libibverbs1 ibverbs-providers
  librdmacm1 libnl-3-200 libnl-route-3-200 libnuma1 libmunge2
  libhdf5-openmpi-103-1 libhdf5-openmpi-dev libsz2 libaec0 libcurl4 libnghttp2-14 libpsl5 librtmp1 libssh2-1
  libldap-2.5-0 libsasl2-2 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libbrotli1
  libboost-program-options1.74.0 libboost-program-options1.74-dev libboost-program-options-dev libboost1.74-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev googletest libsentencepiece0 libsentencepiece-dev
  libpcre2-8-0 libpcre2-dev libxxhash0 libxxhash-dev
)
mkdir -p "$DIR"
have=0
for p in "${PACKAGES[@]}"; do compgen -G "$DIR/${p}_*.deb" > /dev/null && have=$((have + 1)); done
if [ "$have" -eq "${#PACKAGES[@]}" ]; then
  echo "device_debs: all ${#PACKAGES[@]} packages already in $DIR"
  exit 0
fi
(cd "$DIR" && apt-get download "${PACKAGES[@]}" > /dev/null)
echo "device_debs: $(ls "$DIR"/*.deb | wc -l) packages, $(du -sh "$DIR" | cut -f1) in $DIR"
