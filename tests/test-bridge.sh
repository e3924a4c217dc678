#!/bin/sh
# test-bridge.sh - busbridge between two machines: three nats-servers in one
# cluster on loopback, busd A and busd B (a socket each), a bridge on each,
# services/echo on B. Calls from A reach echo on B (JSON, errors with their
# names, no responders, timeouts); introspect on A shows the service on B;
# events flow both ways exactly once, with a second bridge on A that must
# not loop them; busd B restarts and the bridge carries on; a third machine exporting the same name shares the calls
# and takes them all when it is killed; killing the nats-server a bridge
# is connected to moves it to another and calls resume.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/bridge-lib.sh"
bridge_need
plan 31

N=10000
counter() { on "$1" "$BUSCTL" status | awk -v k="$2" '$1 == k { print $2 }'; }
now_ms() { date +%s%3N; }

nats_start_cluster
# bus A's policy binds what the bridge does there as any peer's
bus_start a '[policy]\ndeny = call org.busd.Echo method=Secret\ndeny = emit demo.secret.*'
bus_start b
BUS_ADDRESS="$TEST_TMP/b.sock" "$ECHO_SVC" --reconnect 2>"$TEST_TMP/echo-b.log" &
_bg_pids="$_bg_pids $!"
on b "$BUSCTL" --timeout 10 wait org.busd.Echo
bridge_start b1 b '[export]\nname = org.busd.Echo\n[topics]\npattern = demo.*'
BRIDGE_TIMEOUT_MS=2000 bridge_start a1 a \
	'[import]\nname = org.busd.Echo\nname = org.busd.Nobody\n[topics]\npattern = demo.*\npattern = demo.flood'
# a second bridge on bus A, same bus_id: it must neither duplicate nor loop
bridge_start a2 a '[topics]\npattern = demo.*'

# ---- calls
wait_for 20 on a "$BUSCTL" call org.busd.Echo Echo '{"text":"warm"}'
out=$(on a "$BUSCTL" call org.busd.Echo Echo '{"text":"hello from A"}' 2>&1)
expect_eq "a JSON call on A reaches echo on B and its reply comes back" "$out" '{"text":"hello from A"}'
out=$(on a "$BUSCTL" call org.busd.Echo Fail '{"message":"boom"}' 2>&1); rc=$?
expect_eq "Fail across the bridge fails the call" "$rc" 1
expect_match "with the remote error's own name and message" "$out" "org\.busd\.Echo\.Error\.Failed: boom$"
out=$(on a "$BUSCTL" call --raw org.busd.Echo Nope </dev/null 2>&1)
expect_match "an error libbus gives on B comes back unchanged" "$out" "bus\.Error\.UnknownMethod: org\.busd\.Echo has no method Nope"
out=$(on a "$BUSCTL" call org.busd.Nobody Echo '{}' 2>&1)
expect_match "an imported name no node exports: bus.Error.NameHasNoOwner" "$out" \
	"bus\.Error\.NameHasNoOwner: no node of the NATS cluster exports org\.busd\.Nobody"
out=$(on a "$BUSCTL" call org.busd.Echo Delay '{"ms":60000,"text":"late"}' 2>&1)
expect_match "no answer within call_timeout_ms: bus.Error.Timeout" "$out" \
	"bus\.Error\.Timeout: no answer from the NATS cluster within 2000 ms"

out=$(head -c 2000000 /dev/zero | on a "$BUSCTL" call --raw org.busd.Echo Echo 2>&1)
expect_match "a call larger than NATS's max_payload: bus.Error.LimitsExceeded" "$out" \
	"bus\.Error\.LimitsExceeded: cannot send the call to org\.busd\.Echo over NATS: .*2000000 bytes"

out=$(on a "$PEER" callfd org.busd.Echo 1 </dev/null)
expect_eq "a call passing a file descriptor is refused: descriptors do not cross machines" "$out" \
	"bus.Error.InvalidArgs: file descriptors cannot cross the bridge to org.busd.Echo"

# ---- schemas travel
out=$(on a "$BUSCTL" introspect org.busd.Echo 2>&1)
expect_match "introspect on A shows the service served on B" "$out" "^service busd\.examples\.Echo$"
expect_match "with its methods and types" "$out" "Delay +busd\.examples\.DelayRequest -> busd\.examples\.EchoReply"
owner=$(on a "$BUSCTL" list 2>/dev/null | awk '/org\.busd\.Echo/ { print $1; exit }')
expect_match "on A the name is the bridge's" "$(on a "$BUSCTL" list 2>&1)" "org\.busd\.Bridge\.a\.a1"

# ---- events, both ways, once each, no loops
count_start() { # BUS FILE N: a counter of demo.flood on BUS, ready
	on "$1" "$PEER" count 'demo.*' demo.flood "$3" >"$2" 2>&1 &
	_bg_pids="$_bg_pids $!"
	wait_for 10 grep -q ready "$2"
	LAST_COUNTER=$!
}
for dir in "a b" "b a"; do
	set -- $dir
	count_start "$1" "$TEST_TMP/count-local" $N
	pl=$LAST_COUNTER
	count_start "$2" "$TEST_TMP/count-remote" $N
	pr=$LAST_COUNTER
	on "$1" "$PEER" emit demo.flood $N >/dev/null
	wait "$pl" "$pr"
	expect_eq "$N events emitted on $1: its own subscriber gets each once (nothing loops back)" \
		"$(tail -n 1 "$TEST_TMP/count-local")" "events $N distinct $N"
	expect_eq "$N events emitted on $1: the subscriber on $2 gets each once" \
		"$(tail -n 1 "$TEST_TMP/count-remote")" "events $N distinct $N"
	echo "# events_dropped by busd: on a $(counter a events_dropped), on b $(counter b events_dropped)"
done

# ---- busd's policy: imported names and forwarded events pass through it
out=$(on a "$BUSCTL" call --raw org.busd.Echo Secret </dev/null 2>&1)
expect_match "a call to an imported name that A's policy denies never leaves A (else: UnknownMethod from B)" \
	"$out" "bus\.Error\.AccessDenied: call org\.busd\.Echo method Secret is not allowed"
on b "$BUSCTL" emit --raw demo.secret.x </dev/null
wait_for 20 grep -q "AccessDenied" "$TEST_TMP/bridge-a1.log" "$TEST_TMP/bridge-a2.log"
check "an event from B that A's policy denies is refused to the bridge that emits it on A" \
	'grep -q "busd refused.*AccessDenied" "$TEST_TMP/bridge-a1.log" "$TEST_TMP/bridge-a2.log"'

# ---- busd B restarts: libbus reconnects echo and the bridge, which keeps
# its configuration (the watch on the exported name, its topics)
kill -TERM "$BUSD_PID_b"
wait "$BUSD_PID_b"
bus_start b
wait_for 20 grep -q "reconnected to busd" "$TEST_TMP/bridge-b1.log"
wait_for 20 on a "$PEER" call org.busd.Echo 1
out=$(on a "$PEER" call org.busd.Echo 20)
expect_eq "busd B restarted: calls from A reach echo on B again" "$out" "ok 20 failed 0"
count_start b "$TEST_TMP/count-restart" 100
on a "$PEER" emit demo.flood 100 >/dev/null
wait "$LAST_COUNTER"
expect_eq "  and events from A reach B again, once each" "$(tail -n 1 "$TEST_TMP/count-restart")" \
	"events 100 distinct 100"

# ---- two machines export the same name: calls are shared, and survive one
bus_start c
BUS_ADDRESS="$TEST_TMP/c.sock" "$ECHO_SVC" 2>"$TEST_TMP/echo-c.log" &
ECHO_C=$!
_bg_pids="$_bg_pids $!"
on c "$BUSCTL" --timeout 10 wait org.busd.Echo
# in the listed order, not cnats's random one: server 3 first
NATS_URLS="nats://127.0.0.1:$NATS_PORT_3, nats://127.0.0.1:$NATS_PORT_1" BRIDGE_NATS='randomize = no' \
	bridge_start c1 c '[export]\nname = org.busd.Echo'
wait_for 10 grep -q "exporting org.busd.Echo" "$TEST_TMP/bridge-c1.log"
expect_eq "randomize = no: bridge c1 is on the first server it lists" "$(bridge_server c1)" 3
rb=$(counter b replies); rc_=$(counter c replies)
out=$(on a "$PEER" call org.busd.Echo 200)
expect_eq "200 calls from A with B and C exporting the name all succeed" "$out" "ok 200 failed 0"
db=$(( $(counter b replies) - rb )); dc=$(( $(counter c replies) - rc_ ))
check "the queue group shares them: B answered some ($db replies) and C some ($dc)" \
	'[ "$db" -ge 20 ] && [ "$dc" -ge 20 ]'
kill -KILL "$BRIDGE_PID_c1" "$BUSD_PID_c" "$ECHO_C"
out=$(on a "$PEER" call org.busd.Echo 100)
expect_eq "machine C killed: the next 100 calls all succeed, on B" "$out" "ok 100 failed 0"

# ---- failover: the nats-server A's bridge is connected to goes away
srv=$(bridge_server a1)
check "bridge a1's nats-server is known ($srv)" '[ -n "$srv" ]'
t0=$(now_ms)
nats_kill "$srv"
# calls during the failover get an answer (an error or the reply), never hang
out=$(on a "$PEER" call org.busd.Echo 1)
expect_match "a call while a1 fails over is answered" "$out" "^ok [01] failed [01]"
wait_for 30 grep -q "reconnected to NATS" "$TEST_TMP/bridge-a1.log"
wait_for 30 sh -c "BUS_ADDRESS='$TEST_TMP/a.sock' '$PEER' call org.busd.Echo 1"
t1=$(now_ms)
echo "# failover: calls resumed $((t1 - t0)) ms after nats-server $srv was killed"
new=$(bridge_server a1)
check "a1 moved to another nats-server ($srv -> $new)" '[ -n "$new" ] && [ "$new" != "$srv" ]'
out=$(on a "$PEER" call org.busd.Echo 50)
expect_eq "after the failover, calls across the bridge succeed" "$out" "ok 50 failed 0"
count_start b "$TEST_TMP/count-after" 100
on a "$PEER" emit demo.flood 100 >/dev/null
wait "$LAST_COUNTER"
expect_eq "and events flow again, once each" "$(tail -n 1 "$TEST_TMP/count-after")" "events 100 distinct 100"
check "busbridge a1 is still running" 'kill -0 "$BRIDGE_PID_a1"'
for n in a1 b1; do
	eval "p=\$BRIDGE_PID_$n"
	kill -TERM "$p"
	wait "$p"
	expect_eq "busbridge $n exits with status 0 on SIGTERM (no leak under ASan)" "$?" 0
done
finish
