#!/bin/sh
# Remote-shell agent for tests/two_hosts.sh (Open MPI's plm_rsh_agent): called as
# `netns_rsh.sh HOST COMMAND...`, it runs COMMAND in the network namespace CLUES_NETNS_MAP
# maps HOST to, under HOST as host name, as ssh would run it on that host (and appends
# HOST to $CLUES_NETNS_MAP.launched).
host=$1
shift
ns=$(awk -v h="$host" '$1 == h { print $2 }' "$CLUES_NETNS_MAP")
[ -n "$ns" ] || { echo "netns_rsh.sh: no namespace for host '$host' in $CLUES_NETNS_MAP" >&2; exit 255; }
echo "$host" >>"$CLUES_NETNS_MAP.launched"
exec ip netns exec "$ns" unshare --uts sh -c "hostname $host && $*"
