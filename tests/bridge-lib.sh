# bridge-lib.sh - the topology of the bridge tests, sourced after lib.sh:
# three nats-servers in one cluster on loopback (each picks its free ports,
# read back from its log), two busd instances standing for two machines (A
# and B, a socket each), bridges on them, and services.
#
#   bridge_need                 skip the whole test (with the reason) when
#                               busbridge or nats-server is absent
#   nats_start_cluster          start nats 1..3; sets NATS_URLS, NATS_PORT_i
#   nats_kill I                 SIGKILL nats-server I
#   bus_start X [CONF]          busd on $TEST_TMP/X.sock, CONF (printf %b) added
#                               to its configuration
#   bridge_start NODE BUS CONF  a bridge on bus BUS (its socket), CONF being
#                               the [export]/[import]/[topics] part; waits
#                               until it says it is ready ($BRIDGE_NATS: more
#                               [nats] lines; $NATS_URLS: its servers)
#   on X CMD...                 run CMD with BUS_ADDRESS on bus X
BUSBRIDGE="$top_builddir/busbridge/busbridge"
PEER="$top_builddir/tests/bridge-peer"
NATS_SERVER=${nats_server:-}
[ -n "$NATS_SERVER" ] || NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)

bridge_need() {
	_why=""
	[ -x "$BUSBRIDGE" ] || _why="busbridge is not built (configure found no libnats; apt-get install libnats-dev)"
	[ -z "$_why" ] && [ ! -x "$BUSCTL" ] && _why="busctl is not built (--disable-busctl)"
	[ -z "$_why" ] && [ ! -x "$NATS_SERVER" ] && _why="nats-server is not installed (apt-get install nats-server)"
	if [ -n "$_why" ]; then
		echo "1..0 # SKIP $_why"
		exit 0
	fi
}

# The port a nats-server's log says it listens on for KIND (client, route).
_nats_port() {
	sed -n "s/.*Listening for $2 connections on [^ ]*:\([0-9][0-9]*\).*/\1/p" "$TEST_TMP/nats$1.log" |
		tail -n 1
}

_nats_one() {
	i=$1; shift
	: >"$TEST_TMP/nats$i.log"
	"$NATS_SERVER" -a 127.0.0.1 -p -1 -n "busd-test-$i" --cluster_name busd-test \
		--cluster nats://127.0.0.1:-1 "$@" -l "$TEST_TMP/nats$i.log" &
	eval "NATS_PID_$i=$!"
	_bg_pids="$_bg_pids $!"
	wait_for 20 _nats_ready "$i" || { echo "# nats-server $i did not start"; exit 1; }
	eval "NATS_PORT_$i=$(_nats_port "$i" client)"
}

_nats_ready() { [ -n "$(_nats_port "$1" route)" ]; }
# A server of three is in the cluster once it has routes to the two others.
_nats_joined() { [ "$(grep -c "Route connection created" "$TEST_TMP/nats$1.log")" -ge 2 ]; }

nats_start_cluster() {
	_nats_one 1
	seed="nats://127.0.0.1:$(_nats_port 1 route)"
	_nats_one 2 --routes "$seed"
	_nats_one 3 --routes "$seed"
	for i in 1 2 3; do
		wait_for 20 _nats_joined "$i" ||
			{ echo "# nats-server $i did not join the cluster"; sed 's/^/#   /' "$TEST_TMP/nats$i.log"; exit 1; }
	done
	NATS_URLS="nats://127.0.0.1:$NATS_PORT_1, nats://127.0.0.1:$NATS_PORT_2, nats://127.0.0.1:$NATS_PORT_3"
}

nats_kill() {
	eval "kill -KILL \$NATS_PID_$1"
	eval "wait \$NATS_PID_$1" 2>/dev/null
}

# busd with room for the event runs: the counting subscriber (or a bridge)
# may lag behind an emitter on a busy machine, and busd then drops events
# for it past queue_hold_bytes (docs/security.md), which is not what these
# tests count.
bus_start() {
	printf '[limits]\nmax_queued_bytes = 256M\nqueue_hold_bytes = 128M\nmax_queued_bytes_per_uid = 1G\n%b\n' \
		"${2:-}" >"$TEST_TMP/busd-$1.conf"
	"$BUSD" -c "$TEST_TMP/busd-$1.conf" --socket "$TEST_TMP/$1.sock" 2>"$TEST_TMP/busd-$1.log" &
	_bg_pids="$_bg_pids $!"
	eval "BUSD_PID_$1=$!"
	wait_for 10 env BUS_ADDRESS="$TEST_TMP/$1.sock" "$BUSCTL" status ||
		{ echo "# busd $1 did not start"; exit 1; }
}

on() {
	_bus=$1; shift
	BUS_ADDRESS="$TEST_TMP/$_bus.sock" "$@"
}

bridge_start() {
	node=$1 bus=$2 rest=$3
	printf '[nats]\nservers = %s\ncall_timeout_ms = %s\n%b\n[bridge]\nnode = %s\nbus_id = %s\n%b\n' \
		"$NATS_URLS" "${BRIDGE_TIMEOUT_MS:-10000}" "${BRIDGE_NATS:-}" "$node" "$bus" "$rest" \
		>"$TEST_TMP/bridge-$node.conf"
	: >"$TEST_TMP/bridge-$node.log"
	"$BUSBRIDGE" -c "$TEST_TMP/bridge-$node.conf" -s "$TEST_TMP/$bus.sock" \
		2>"$TEST_TMP/bridge-$node.log" &
	_bg_pids="$_bg_pids $!"
	eval "BRIDGE_PID_$node=$!"
	wait_for 20 grep -q "node $node ready" "$TEST_TMP/bridge-$node.log" ||
		{ echo "# bridge $node did not start:"; sed 's/^/#   /' "$TEST_TMP/bridge-$node.log"; exit 1; }
}

# The nats-server (1..3) bridge NODE is connected to now, from its log.
bridge_server() {
	port=$(sed -n 's/.*NATS at nats:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$TEST_TMP/bridge-$1.log" | tail -n 1)
	for i in 1 2 3; do
		eval "[ \"\$NATS_PORT_$i\" = \"$port\" ]" && echo "$i"
	done
}
