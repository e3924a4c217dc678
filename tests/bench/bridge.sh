#!/bin/sh
# bridge.sh - make bench-bridge: the bridge's figures (docs/performance.md,
# "Bridge"). Starts the test topology (tests/bridge-lib.sh: three
# nats-servers in a cluster, busd A and B, a bridge on each, services/echo
# on B exported by B's bridge and imported by A's, topic bench.bridge.*
# forwarded) and runs tests/bench/bridgebench against it.
#   top_builddir=BUILD top_srcdir=SRC sh tests/bench/bridge.sh [bridgebench options]
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/bridge-lib.sh"
bridge_need >/dev/null || exit 0
nats_start_cluster
bus_start a
bus_start b
BUS_ADDRESS="$TEST_TMP/b.sock" "$ECHO_SVC" 2>/dev/null &
_bg_pids="$_bg_pids $!"
on b "$BUSCTL" --timeout 10 wait org.busd.Echo
# Both bridges on nats-server 1 (the first URL, randomize = no), as the bare
# NATS floor's two connections are: a route between two servers would add
# a hop the floor does not have.
export BRIDGE_NATS='randomize = no'
bridge_start b1 b '[export]\nname = org.busd.Echo\n[topics]\npattern = bench.bridge.*'
bridge_start a1 a '[import]\nname = org.busd.Echo\n[topics]\npattern = bench.bridge.*'
wait_for 20 on a "$BUSCTL" call org.busd.Echo Echo '{"text":"warm"}'
echo "bridge a1 on nats-server $(bridge_server a1), b1 on nats-server $(bridge_server b1) (bare NATS on 1)"
"$top_builddir/tests/bench/bridgebench" --bus-a "$TEST_TMP/a.sock" --bus-b "$TEST_TMP/b.sock" \
	--nats "nats://127.0.0.1:$NATS_PORT_1" "$@"
