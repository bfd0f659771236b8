#!/usr/bin/env bash
# ctest mpi.two_hosts: a run across two "hosts" made of two network namespaces joined by a
# virtual Ethernet pair (10.231.0.1 and .2), each with a host name of its own, so Open MPI
# launches the second host's daemon through a remote-shell agent (tests/netns_rsh.sh, as
# it would through ssh) and the ranks talk over TCP across that link, as between nodes.
# The scores must be bitwise those of the same 2 ranks on one host, and the link's byte
# counters must show the run's traffic. Needs root and `ip netns` (exit 77: skipped where
# the sandbox forbids it). Usage: two_hosts.sh PATH/TO/clues [MPIEXEC]
set -uo pipefail
source "$(dirname "$0")/lib.sh"
test_setup "$1" "${2:-mpirun}"
tag=$$
ns_a=clues_a_$tag ns_b=clues_b_$tag veth_a=cva$tag veth_b=cvb$tag
cleanup() {
  ip netns del "$ns_a" 2>/dev/null
  ip netns del "$ns_b" 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT
if ! ip netns add "$ns_a" 2>/dev/null; then
  echo "SKIPPED: network namespaces are not available here (ip netns add failed)"
  exit 77
fi
ip netns add "$ns_b" && ip link add "$veth_a" type veth peer name "$veth_b" &&
  ip link set "$veth_a" netns "$ns_a" && ip link set "$veth_b" netns "$ns_b" &&
  ip -n "$ns_a" addr add 10.231.0.1/24 dev "$veth_a" && ip -n "$ns_b" addr add 10.231.0.2/24 dev "$veth_b" &&
  ip -n "$ns_a" link set lo up && ip -n "$ns_b" link set lo up &&
  ip -n "$ns_a" link set "$veth_a" up && ip -n "$ns_b" link set "$veth_b" up ||
  { echo "SKIPPED: could not make the two namespaces' link"; exit 77; }
small_demo
# Host name -> namespace for the agent; hostA is where mpirun runs (its own namespace).
printf 'hostA %s\nhostB %s\n' "$ns_a" "$ns_b" >"$dir/hosts.map"
export CLUES_NETNS_MAP=$dir/hosts.map
"$mpiexec" -n 2 --oversubscribe "$clues" run "${args[@]}" "${tests[@]}" --out "$dir/one" >"$dir/one.log" 2>&1
check "2 ranks on one host finish" test -s "$dir/one/scores.h5"
bytes() { ip -n "$ns_a" -s -j link show "$veth_a" | python3 -c 'import json,sys; s=json.load(sys.stdin)[0]["stats64"]; print(s["rx"]["bytes"] + s["tx"]["bytes"])'; }
before=$(bytes)
ip netns exec "$ns_a" unshare --uts sh -c 'hostname hostA && exec "$@"' sh \
  "$mpiexec" -n 2 --host hostA:1,hostB:1 --mca plm_rsh_agent "$src/tests/netns_rsh.sh" \
  --mca btl tcp,self --mca btl_tcp_if_include 10.231.0.0/24 --mca oob_tcp_if_include 10.231.0.0/24 \
  "$clues" run "${args[@]}" "${tests[@]}" --out "$dir/two" >"$dir/two.log" 2>&1
check "2 ranks on two hosts finish" test -s "$dir/two/scores.h5"
check "two hosts = one host, scores bit for bit" same "$dir/one" "$dir/two" 0
check "hostB's daemon was launched through the agent" grep -qx hostB "$dir/hosts.map.launched"
moved=$(python3 -c 'import json, sys; print(int(sum(json.load(open(sys.argv[1]))["communication_bytes"].values())))' "$dir/two/report.json")
after=$(bytes)
echo "link bytes: $((after - before)); MPI payload in report.json: $moved"
# report.json counts each call's payload on every rank taking part (a message on its sender
# and its receiver), so what crossed between the two ranks is at least half of it.
check "the run's MPI payload crossed the link" test $((2 * (after - before))) -ge "$moved"
exit $fail
