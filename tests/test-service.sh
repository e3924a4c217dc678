#!/bin/sh
# test-service.sh - busd as a system service: SIGHUP reload with peers
# connected, an invalid file on reload, the SIGTERM drain, sd_notify over a
# real datagram socket, socket activation through systemd-socket-activate,
# journal priority prefixes, and the connection and queue limits.
. "$top_srcdir/tests/lib.sh"
plan 46

unset BUSD_LOG_LEVEL BUSD_LOG_TARGET NOTIFY_SOCKET JOURNAL_STREAM
CONF="$TEST_TMP/busd.conf"
lines() {
	if [ -z "$1" ]; then echo 0; else printf '%s\n' "$1" | wc -l | tr -d ' '; fi
}
counter() { "$BUSCTL" status | awk -v k="$1" '$1 == k { print $2 }'; }
log_has() { grep -Eq -- "$1" "$BUSD_LOG"; }
echo_reply() { # the text echo answers with, via protoc
	echo "text: \"$1\"" | protoc --proto_path="$top_srcdir/proto" --encode=busd.examples.EchoRequest echo.proto |
		"$BUSCTL" call --raw org.busd.Echo Echo |
		protoc --proto_path="$top_srcdir/proto" --decode=busd.examples.EchoReply echo.proto
}

# A datagram socket that records what busd tells systemd, one message per
# line (newlines inside a message become spaces).
NOTIFY_LOG="$TEST_TMP/notify.log"
python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2], "w").close()
while True:
    m = s.recv(4096).decode()
    with open(sys.argv[2], "a") as f:
        f.write(m.replace("\n", " ") + "\n")' "$TEST_TMP/notify.sock" "$NOTIFY_LOG" &
_bg_pids="$_bg_pids $!"
wait_for 10 test -S "$TEST_TMP/notify.sock"

# ---- start, with NOTIFY_SOCKET and a configuration file
cat >"$CONF" <<EOF
[limits]
max_connections_per_uid = 100
[log]
level = info
EOF
NOTIFY_SOCKET="$TEST_TMP/notify.sock" busd_start -c "$CONF"
wait_for 5 grep -q READY=1 "$NOTIFY_LOG"
expect_match "busd tells systemd READY=1 with a STATUS" "$(cat "$NOTIFY_LOG")" \
	"^READY=1 STATUS=listening on .*bus\.sock, [0-9]+ peers"

bg "$ECHO_SVC"
ECHO_PID=$LAST_BG
wait_for 10 sh -c "'$BUSCTL' list | grep -q org.busd.Echo"
echo_id=$("$BUSCTL" list | awk '$1 == "org.busd.Echo" { print $2 }')
"$BUSCTL" listen --raw test.reload >"$TEST_TMP/listen" 2>&1 &
listen_pid=$!
wait_for 10 sh -c "[ \$('$BUSCTL' status | awk '\$1 == \"subscriptions\" { print \$2 }') -ge 1 ]"
expect_eq "echo answers before the reload" "$(echo_reply before)" 'text: "before"'

# ---- SIGHUP with peers connected: new limits and log level apply
cat >"$CONF" <<EOF
[limits]
max_connections_per_uid = 3
[log]
level = debug
EOF
kill -HUP "$BUSD_PID"
wait_for 5 log_has "reloaded the configuration"
check "SIGHUP: busd logs the reload" "log_has 'notice: reloaded the configuration \(log level debug'"
wait_for 5 grep -q MONOTONIC_USEC "$NOTIFY_LOG"
expect_match "  and tells systemd RELOADING=1 with MONOTONIC_USEC" "$(cat "$NOTIFY_LOG")" \
	"^RELOADING=1 MONOTONIC_USEC=[0-9]+ STATUS="
expect_eq "  then READY=1 again" "$(grep -c '^READY=1' "$NOTIFY_LOG")" 2
expect_eq "echo keeps its connection (same unique id)" \
	"$("$BUSCTL" list | awk '$1 == "org.busd.Echo" { print $2 }')" "$echo_id"
printf 'x' | "$BUSCTL" emit --raw test.reload
wait_for 5 grep -q test.reload "$TEST_TMP/listen"
check "the listener connected before the reload still gets events" "grep -q test.reload '$TEST_TMP/listen'"
check "the new log level applies: debug lines appear" "log_has 'debug: peer :[0-9]+ \(pid [0-9]+, busctl\)'"
# echo and the listener (--raw: one connection, no schema queries) are two
# connections of this uid, a third listener
# makes three; one more is over the new limit of 3. Wait for the third in
# the (now debug) log: polling with busctl would itself be a connection.
"$BUSCTL" listen --raw never.happens >/dev/null 2>&1 &
third=$!
wait_for 10 log_has "peer :[0-9]+ \(pid $third, busctl\): accepted"
out=$("$BUSCTL" status 2>&1)
expect_match "the new max_connections_per_uid applies: a 4th connection is refused" "$out" \
	"bus\.Error\.LimitsExceeded: uid [0-9]+ already has 3 connections"
check "  with a warning naming the peer and the limit" \
	"log_has 'warning: peer :[0-9]+ \(pid [0-9]+, busctl\) uid [0-9]+: refused: .*limits.max_connections_per_uid'"
kill "$third"
wait "$third" 2>/dev/null
# Room again for the callers below.
printf '[limits]\nmax_connections_per_uid = 100\n[log]\nlevel = debug\n' >"$CONF"
kill -HUP "$BUSD_PID"
wait_for 5 sh -c "[ \$(grep -c 'reloaded the configuration' '$BUSD_LOG') -ge 2 ]"

# ---- an invalid file on SIGHUP: reported, the running configuration kept
printf '[limits]\nmax_connections_per_uid = 100\nmax_names_per_peer = lots\n' >"$CONF"
kill -HUP "$BUSD_PID"
wait_for 5 log_has "reload failed"
check "a bad file on SIGHUP is reported with file:line" \
	"log_has 'error: reload: $CONF:3: limits.max_names_per_peer: .lots. is not a number'"
check "  and busd keeps the running configuration" "log_has 'error: reload failed; keeping the running configuration'"
wait_for 5 grep -q "reload failed" "$NOTIFY_LOG"
expect_eq "  systemd hears READY=1 with a STATUS= saying so, with the first error" \
	"$(tail -n 1 "$NOTIFY_LOG")" \
	"READY=1 STATUS=reload failed, old configuration kept: $CONF:3: limits.max_names_per_peer: 'lots' is not a number"
expect_eq "  and keeps serving" "$(echo_reply after)" 'text: "after"'

# ---- SIGTERM drain: a pending call gets its error, the socket goes away
echo 'ms: 20000' | protoc --proto_path="$top_srcdir/proto" --encode=busd.examples.DelayRequest echo.proto \
	>"$TEST_TMP/delay"
"$BUSCTL" call --raw org.busd.Echo Delay <"$TEST_TMP/delay" >/dev/null 2>"$TEST_TMP/delay.err" &
caller=$!
wait_for 5 sh -c "[ \$('$BUSCTL' status | awk '\$1 == \"pending_calls\" { print \$2 }') -ge 1 ]"
sock=$BUS_ADDRESS
busd_stop
expect_eq "SIGTERM: busd exits 0" "$?" 0
wait "$caller"
expect_eq "  the pending call fails (exit 1)" "$?" 1
expect_eq "  with bus.Error.NoReply, busd is shutting down" "$(cat "$TEST_TMP/delay.err")" \
	"busctl: org.busd.Echo Delay: bus.Error.NoReply: busd is shutting down"
check "  the socket file is removed" "[ ! -e '$sock' ]"
expect_match "  and systemd heard STOPPING=1" "$(cat "$NOTIFY_LOG")" "^STOPPING=1"
wait "$listen_pid" 2>/dev/null

# ---- socket activation with systemd's own tool
ACT="$TEST_TMP/act.sock"
systemd-socket-activate -l "$ACT" "$BUSD" -c /dev/null 2>"$TEST_TMP/act.log" &
act_pid=$!
_bg_pids="$_bg_pids $act_pid"
wait_for 10 test -S "$ACT"
out=$("$BUSCTL" --socket "$ACT" status 2>&1)
expect_match "socket activation: busd answers on the passed socket" "$out" "^peers +1$"
check "  and says it uses the socket systemd passed" \
	"grep -q 'listening on the socket systemd passed' '$TEST_TMP/act.log'"
kill -TERM "$act_pid"
wait "$act_pid"
expect_eq "  SIGTERM: exit 0" "$?" 0
check "  and the socket file, systemd's, is left alone" "[ -S '$ACT' ]"

# ---- journal priority prefixes: stderr matching $JOURNAL_STREAM
# Run busd with stderr appended to $1 until it says it listens, then stop it.
busd_until_listening() {
	"$BUSD" -c /dev/null --socket "$TEST_TMP/j.sock" 2>>"$1" &
	_pid=$!
	wait_for 10 grep -q "listening on" "$1"
	kill -TERM "$_pid"
	wait "$_pid"
}
J="$TEST_TMP/journal"
: >"$J"
JOURNAL_STREAM=$(stat -c '%d:%i' "$J") busd_until_listening "$J"
expect_match "on the journal, lines carry <N> prefixes instead of the name" "$(cat "$J")" \
	"^<5>notice: busd [0-9.]+ listening on"
check "  and no line starts with 'busd:'" "! grep -q '^busd:' '$J'"
: >"$TEST_TMP/plain"
busd_until_listening "$TEST_TMP/plain"
expect_match "redirected elsewhere, lines are plain" "$(cat "$TEST_TMP/plain")" \
	"^busd: notice: busd [0-9.]+ listening on"

# ---- back-pressure: a subscriber that stops reading loses events, counted,
# and is not disconnected; the emitter is never held (tests/test-quota.c
# covers held callers, stalls and the ceiling)
printf '[limits]\nmax_frame_size = 64K\nmax_queued_bytes = 256K\nqueue_hold_bytes = 64K\n' >"$CONF"
busd_start -c "$CONF"
"$BUSCTL" listen --raw flood.topic >"$TEST_TMP/flood.out" 2>"$TEST_TMP/flood.err" &
slow=$!
wait_for 10 sh -c "[ \$('$BUSCTL' status | awk '\$1 == \"subscriptions\" { print \$2 }') -ge 1 ]"
kill -STOP "$slow"
head -c 60000 /dev/zero >"$TEST_TMP/blob"
i=0
while [ $i -lt 40 ]; do
	"$BUSCTL" emit --raw flood.topic <"$TEST_TMP/blob" || break
	i=$((i + 1))
done
expect_eq "40 emits of 60000 bytes toward a stopped subscriber all succeed" "$i" 40
dropped=$(counter events_dropped)
check "  the ones it could not take are dropped and counted ($dropped)" "[ '$dropped' -ge 30 ]"
queued=$("$BUSCTL" --json list | python3 -c 'import json, sys
print(max(json.loads(l)["queued_bytes"] for l in sys.stdin))')
check "  the queue toward it stays under the ceiling ($queued bytes)" "[ '$queued' -le 262144 ]"
check "  no peer was disconnected" "! log_has 'disconnected: .*limits'"
expect_match "  busctl list --long flags it congested" "$("$BUSCTL" list --long)" \
	"^:[0-9]+ +:[0-9]+ +$slow +.* congested"
kill -CONT "$slow"
wait_for 10 sh -c "[ \$('$BUSCTL' list --long | grep -c congested) -eq 0 ]"
"$BUSCTL" emit --raw flood.topic <"$TEST_TMP/blob"
want=$((40 - dropped + 1))
wait_for 10 sh -c "[ \$(wc -l <'$TEST_TMP/flood.out') -ge $want ]"
expect_eq "  resumed, it gets every event that was queued and the next one" \
	"$(wc -l <"$TEST_TMP/flood.out" | tr -d ' ')" "$want"
kill "$slow"
wait "$slow" 2>/dev/null
busd_stop
expect_eq "busd exits 0" "$?" 0

# ---- kill -9 busd under the example services: they come back by themselves
busd_start
"$ECHO_SVC" --reconnect 2>"$TEST_TMP/echo-rc.err" &
echo_pid=$!
"$SENSOR_SVC" --reconnect --interval 100 2>"$TEST_TMP/sensor-rc.err" &
sensor_pid=$!
_bg_pids="$_bg_pids $echo_pid $sensor_pid"
wait_for 10 sh -c "'$BUSCTL' list | grep -q org.busd.Echo && '$BUSCTL' list | grep -q org.busd.Sensor"
expect_match "echo --reconnect answers" "$("$BUSCTL" call org.busd.Echo Echo '{"text":"before"}')" '"text": ?"before"'
"$BUSCTL" listen --reconnect 'sensor.*' >"$TEST_TMP/rl.out" 2>"$TEST_TMP/rl.err" &
rl_pid=$!
_bg_pids="$_bg_pids $rl_pid"
wait_for 10 grep -q sensor "$TEST_TMP/rl.out"
kill -9 "$BUSD_PID"
wait "$BUSD_PID" 2>/dev/null
BUSD_PID=""
wait_for 5 grep -q "reconnecting" "$TEST_TMP/echo-rc.err"
check "busd killed with -9: echo says it lost busd and is reconnecting" \
	"grep -q 'echo: connection to busd lost: .*; reconnecting' '$TEST_TMP/echo-rc.err'"
check "  and keeps running" "kill -0 $echo_pid && kill -0 $sensor_pid"
busd_start
wait_for 10 sh -c "'$BUSCTL' list | grep -q org.busd.Echo && '$BUSCTL' list | grep -q org.busd.Sensor"
expect_match "a new busd on the same socket: both names are back" "$("$BUSCTL" list)" "^org\.busd\.Sensor "
expect_match "  echo answers calls again" "$("$BUSCTL" call org.busd.Echo Echo '{"text":"after"}')" '"text": ?"after"'
expect_match "  introspect describes it again (its schema was uploaded again)" \
	"$("$BUSCTL" introspect org.busd.Echo)" "^service busd\.examples\.Echo"
expect_match "  the sensor's events flow again" "$(timeout 10 "$BUSCTL" listen --count 1 'sensor.*' 2>&1)" "sensor\.temp[01]\.reading"
check "  echo said it reconnected" "grep -q 'echo: reconnected to busd as :' '$TEST_TMP/echo-rc.err'"
wait_for 10 grep -q "reconnected to busd" "$TEST_TMP/sensor-rc.err"
expect_eq "  the sensor said it lost busd once, and that it reconnected" \
	"$(grep -c 'reconnect' "$TEST_TMP/sensor-rc.err")" 2
expect_eq "  and no line per reading while busd was away" \
	"$(grep -c 'emit' "$TEST_TMP/sensor-rc.err")" 0
before=$(wc -l <"$TEST_TMP/rl.out")
wait_for 10 sh -c "[ \$(wc -l <'$TEST_TMP/rl.out') -gt $before ]"
check "busctl listen --reconnect is still running and prints the new busd's events" \
	"kill -0 $rl_pid && [ \$(wc -l <'$TEST_TMP/rl.out') -gt $before ]"
expect_match "  saying on stderr that it reconnected" "$(cat "$TEST_TMP/rl.err")" \
	"^busctl: reconnected to busd as :[0-9]+$"
kill "$rl_pid"
busd_stop
expect_eq "busd exits 0" "$?" 0

finish
