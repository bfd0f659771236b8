#!/usr/bin/env bash
# ctest mpi.transport_tcp: the run over Open MPI's TCP transport (`--mca pml ob1 --mca btl tcp,self`, the
# path between nodes) gives bitwise the scores and numbers of the default transport (shared
# memory on one node), on 2 and 4 ranks, fedavg (weights and moments averaged every round,
# the validation gradient summed over ranks). Usage: transport_tcp.sh PATH/TO/clues [MPIEXEC]
set -uo pipefail
source "$(dirname "$0")/lib.sh"
test_setup "$1" "${2:-mpirun}"
small_demo
run() {  # run RANKS OUT [MPI ARGS...]
  local ranks=$1 out=$2
  shift 2
  "$mpiexec" --oversubscribe -np "$ranks" "$@" "$clues" run "${args[@]}" --compare.rows clues,random --out "$out" \
    >"$out.log" 2>&1
}
numbers() {  # report.json without what a run measures (times, bytes, memory)
  /usr/bin/python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
for k in ("timings_s", "communication_s", "communication_bytes", "peak_rss_mib", "peak_device_mib"):
    r.pop(k, None)
print(json.dumps(r, sort_keys=True))' "$1/report.json"
}
for ranks in 2 4; do
  run "$ranks" "$dir/default-$ranks"
  run "$ranks" "$dir/tcp-$ranks" --mca pml ob1 --mca btl tcp,self
  check "$ranks ranks: the TCP transport's run finishes" test -s "$dir/tcp-$ranks/report.json"
  check "$ranks ranks: TCP = default transport, scores.h5 bit for bit" same "$dir/tcp-$ranks" "$dir/default-$ranks" 0
  check "$ranks ranks: TCP = default transport, every number of report.json" \
    test "$(numbers "$dir/tcp-$ranks")" = "$(numbers "$dir/default-$ranks")"
done
# The TCP runs did move their bytes through MPI (the count is transport-independent).
check "the TCP run's warm-up moved bytes" /usr/bin/python3 -c 'import json, sys
sys.exit(0 if json.load(open(sys.argv[1]))["communication_bytes"]["warmup"] > 0 else 1)' "$dir/tcp-2/report.json"
exit "$fail"
