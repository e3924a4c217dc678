#!/bin/sh
# test-services.sh - supervised services as an operator sees them: busctl
# services (the table and --json, against /proc and busctl list), the
# restart count and last exit after a kill, start, stop and restart (by id
# and by a declared name), a start that fails, a JSON call that starts a
# demand service (and fails once an operator stopped it), an unknown service, a busd
# without services, and the policy's verb manage: as nobody, listing works
# while start and stop are refused with bus.Error.AccessDenied, until a
# rule `allow = manage echo user=nobody` (applied by SIGHUP) lets them.
. "$top_srcdir/tests/lib.sh"
plan 48

CONF="$TEST_TMP/busd.conf"
SVC_DIR="$TEST_TMP/services.d"
mkdir -p "$SVC_DIR"
cat >"$SVC_DIR/echo.conf" <<EOF
[service]
exec = $ECHO_SVC
names = org.busd.Echo
restart = on-failure
backoff = 0.1
EOF
# A service whose start fails: it exits at once and is not restarted.
cat >"$SVC_DIR/broken.conf" <<EOF
[service]
exec = /bin/sh -c "exit 3"
names = org.test.Broken
restart = no
activation = demand
EOF
# Started by the first call to its name.
cat >"$SVC_DIR/later.conf" <<EOF
[service]
exec = $ECHO_SVC --name org.test.Later
names = org.test.Later
activation = demand
EOF
printf '[services]\ndir = %s\n' "$SVC_DIR" >"$CONF"

# The field F of echo's row in `busctl services` (by column number).
row() { "$BUSCTL" services | awk '$1 == "echo"'; }
field() { row | awk -v f="$1" '{ print $f }'; }
# A JSON value of echo's object in `busctl --json services`.
jfield() {
	"$BUSCTL" --json services | python3 -c 'import json, sys
for line in sys.stdin:
    o = json.loads(line)
    if o["service"] == "echo":
        v = o[sys.argv[1]]
        print(json.dumps(v) if isinstance(v, (list, bool)) else v)' "$1"
}
owner_pid() { "$BUSCTL" list | awk '$1 == "org.busd.Echo" { print $3 }'; }
state_is() { [ "$(field 2)" = "$1" ]; }
# run CMD...: sets RC, OUT, ERR
run() {
	"$@" </dev/null >"$TEST_TMP/out" 2>"$TEST_TMP/err"
	RC=$?
	OUT=$(cat "$TEST_TMP/out")
	ERR=$(cat "$TEST_TMP/err")
	return $RC
}
# echo runs again, in another process than $pid
replaced() { [ "$(field 2)" = running ] && [ "$(field 3)" != "$pid" ] && [ "$(field 3)" != 0 ]; }

busd_start -c "$CONF"
"$BUSCTL" wait --timeout 20 org.busd.Echo ||
	{ echo "Bail out! busd did not start the echo service"; sed 's/^/# /' "$BUSD_LOG"; exit 1; }

# ---- busctl services
OUT=$("$BUSCTL" services)
expect_match "services: a header" "$(printf '%s\n' "$OUT" | head -n 1)" \
	"^SERVICE +STATE +PID +UPTIME +RESTARTS +LAST EXIT +NAMES$"
expect_eq "  echo is running" "$(field 2)" running
pid=$(field 3)
expect_eq "  its PID is the owner of org.busd.Echo's" "$pid" "$(owner_pid)"
check "  and a process running the echo service (/proc/PID/cmdline)" \
	"tr '\\0' ' ' </proc/$pid/cmdline | grep -q 'echo'"
expect_eq "  restarted 0 times, no last exit, its name" "$(field 5) $(field 6) $(field 7)" \
	"0 - org.busd.Echo"
expect_eq "--json: the state as its word" "$(jfield state)" running
expect_eq "  the pid" "$(jfield pid)" "$pid"
expect_eq "  the names, the restarts, the last exit" \
	"$(jfield names) $(jfield restarts) $(jfield last_exit_status) $(jfield last_exit_signal)" \
	'["org.busd.Echo"] 0 -1 0'
got=$(jfield unique_name) want=$("$BUSCTL" list | awk '$1 == "org.busd.Echo" { print $2 }')
expect_eq "  its connection" "$got" "$want"
[ "$got" = "$want" ] || { "$BUSCTL" --json services 2>&1; "$BUSCTL" list 2>&1; } | sed 's/^/#   /'
check "--json=pretty: one document" "'$BUSCTL' --json=pretty services | python3 -m json.tool >/dev/null"

# ---- a crash: restarted by busd, counted
kill -KILL "$pid"
wait_for 20 replaced
pid2=$(field 3)
check "a killed instance is replaced (pid $pid -> $pid2)" "[ '$pid2' != '$pid' ] && [ -d /proc/$pid2 ]"
expect_eq "  RESTARTS 1, LAST EXIT signal KILL" "$(field 5) $(field 6) $(field 7)" "1 signal KILL"
expect_eq "  --json: restarts 1, last_exit_signal 9" "$(jfield restarts) $(jfield last_exit_signal)" "1 9"

# ---- stop, start, restart
run "$BUSCTL" stop echo
expect_eq "stop: prints the state it settled in" "$RC $OUT" "0 echo: stopped"
expect_eq "  services says stopped, no pid" "$(field 2) $(field 3)" "stopped 0"
check "  the process is gone" "[ ! -d /proc/$pid2 ] || grep -q '^State:.*Z' /proc/$pid2/status"
check "  and org.busd.Echo has no owner" "[ -z \"\$(owner_pid)\" ]"
run "$BUSCTL" start echo
pid3=$(field 3)
expect_eq "start: running with a pid" "$RC $OUT" "0 echo: running (pid $pid3)"
expect_eq "  the owner of org.busd.Echo" "$(owner_pid)" "$pid3"
run "$BUSCTL" restart org.busd.Echo
pid4=$(field 3)
expect_eq "restart, by a name it declares: a new instance" "$RC $OUT" "0 echo: running (pid $pid4)"
check "  not the old one ($pid3 -> $pid4)" "[ '$pid3' != '$pid4' ]"
run "$BUSCTL" --json restart echo
expect_eq "  --json: the ServiceInfo" "$RC $(printf '%s' "$OUT" | python3 -c 'import json, sys
o = json.load(sys.stdin); print(o["service"], o["state"], o["pid"] > 0)')" "0 echo running True"
run "$BUSCTL" start echo
expect_eq "start of a running service: no error, left running" "$RC $OUT" "0 echo: running (pid $(field 3))"
run "$BUSCTL" stop --no-block echo
expect_match "stop --no-block: the state busd answered with" "$RC $OUT" \
	"^0 echo: (stopping \(pid [0-9]+\)|stopped)$"
wait_for 20 state_is stopped
run "$BUSCTL" start nosuch
expect_eq "start of an unknown service: exit 1" "$RC" 1
expect_match "  bus.Error.InvalidArgs naming it" "$ERR" \
	"^busctl: start nosuch: bus\.Error\.InvalidArgs: no service 'nosuch'"
run "$BUSCTL" start echo
expect_eq "  (echo started again)" "$RC" 0
run "$BUSCTL" start broken
expect_eq "start of a service that exits at once: exit 1" "$RC" 1
[ "$RC" = 1 ] || printf '#   busctl said: %s\n' "$ERR" "$OUT"
expect_match "  saying how it ended" "$OUT" "^broken: (stopped|backoff|failed) \(exited with status 3\)$"

# busctl's JSON needs the callee's schema: it pings a name nobody owns, so
# that busd starts the service declaring it, then asks for the schema.
run "$BUSCTL" call org.test.Later Echo '{"text": "woken"}'
expect_eq "a JSON call to a demand service starts it and is answered" "$RC $OUT" \
	'0 {"text":"woken"}'
run "$BUSCTL" stop later
run "$BUSCTL" call org.test.Later Echo '{"text": "again"}'
expect_eq "  stopped by an operator: the call fails (exit 1)" "$RC" 1
expect_match "  with ServiceStartFailed saying so" "$ERR" \
	"bus\.Error\.ServiceStartFailed: .*stopped by an operator"

# ---- the policy: as nobody
if [ "$(id -u)" != 0 ]; then
	for t in 1 2 3 4 5 6 7 8 9 10 11; do skip "as nobody (test $t)" "needs root"; done
else
	# nobody reaches the socket (the temporary directory is 0700) and runs
	# a copy of busctl and its libraries from $TEST_TMP (the build tree can
	# sit below a directory only root may enter).
	chmod 0755 "$TEST_TMP"
	mkdir -p "$TEST_TMP/bin" "$TEST_TMP/lib"
	cp "$top_builddir/busctl/.libs/busctl" "$TEST_TMP/bin/busctl"
	cp -P "$top_builddir"/libbus/.libs/libbus.so* "$top_builddir"/libbus/.libs/libbus-json.so* \
		"$TEST_TMP/lib/"
	chmod -R a+rX "$TEST_TMP/bin" "$TEST_TMP/lib"
	nobody() {
		run runuser -u nobody -- env "LD_LIBRARY_PATH=$TEST_TMP/lib" \
			"BUS_ADDRESS=$BUS_ADDRESS" "$TEST_TMP/bin/busctl" "$@"
	}
	pid=$(field 3)
	nobody services
	expect_eq "nobody: services works" "$RC" 0
	expect_match "  and lists echo running" "$OUT" "^echo +running +$pid "
	nobody stop echo
	expect_eq "nobody: stop is refused, exit 1" "$RC" 1
	expect_match "  with bus.Error.AccessDenied and the default that denied" "$ERR" \
		"^busctl: stop echo: bus\.Error\.AccessDenied: manage echo is not allowed \(no \[policy\] rule allows it; without one only root and busd's own user may manage services\)$"
	expect_eq "  echo still runs, the same instance" "$(field 2) $(field 3)" "running $pid"
	nobody start org.busd.Echo
	expect_match "nobody: start (by name) is refused too" "$RC $ERR" "^1 .*AccessDenied"
	check "  busd logs the denial, naming the peer" \
		"grep -q 'uid 65534: access denied: manage echo' '$BUSD_LOG'"
	printf '[services]\ndir = %s\n[policy]\nallow = manage echo user=nobody\n' "$SVC_DIR" >"$CONF"
	kill -HUP "$BUSD_PID"
	# The reload is done when nobody may stop it.
	wait_for 20 nobody stop echo
	nobody services
	expect_match "allow = manage echo user=nobody, after SIGHUP: nobody stopped echo" "$OUT" \
		"^echo +stopped +0 "
	nobody start echo
	expect_match "  and starts it" "$RC $OUT" "^0 echo: running \(pid [0-9]+\)$"
	expect_eq "  the new instance owns org.busd.Echo" "$(owner_pid)" "$(field 3)"
	nobody restart org.busd.Echo
	expect_eq "  a rule on the id covers the service's names: restart by name" "$RC" 0
fi

# ---- completion: the services on the bus
expect_eq "bash completion of start SERVICE: the services" \
	"$(bash -c '. "$0"; COMP_LINE="$1 start e"; COMP_POINT=${#COMP_LINE}
		COMP_WORDS=("$1" start e); COMP_CWORD=2
		_busd_busctl "$1" e start; printf "%s\n" "${COMPREPLY[@]}"' \
		"$top_builddir/busctl/busctl.bash-completion" "$BUSCTL")" echo

# ---- a busd without services
OTHER="$TEST_TMP/other.sock"
bg "$BUSD" -c /dev/null --socket "$OTHER"
wait_for 10 "$BUSCTL" --socket "$OTHER" status
run "$BUSCTL" --socket "$OTHER" services
expect_eq "no services: the header alone" "$RC $(printf '%s\n' "$OUT" | wc -l)" "0 1"
run "$BUSCTL" --socket "$OTHER" --json=short services
expect_eq "  --json=short: an empty array" "$OUT" "[]"
run "$BUSCTL" --socket "$OTHER" start echo
expect_match "  start: no such service" "$RC $ERR" \
	"^1 busctl: start echo: bus\.Error\.InvalidArgs: no service 'echo': busd supervises no services$"

busd_stop
expect_eq "busd stops (and its service with it), exit 0" "$?" 0
finish
