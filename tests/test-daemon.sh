#!/bin/sh
# test-daemon.sh - busd as a process: command line, refusing a second
# instance, replacing a stale socket file, clean exit on SIGTERM and SIGINT,
# verbose logging, the socket path from $BUS_ADDRESS, and removing at exit
# only the socket file busd created.
. "$top_srcdir/tests/lib.sh"
plan 64

# Succeeds if something accepts connections on the Unix socket $1.
sock_connect() {
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])' "$1" 2>/dev/null
}

# Leave a socket file at $1 that nobody listens on (as after a crash).
stale_socket() {
	python3 -c 'import socket, sys
socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$1"
}

# Wait up to $2 seconds for process $1 to exit; its status, or 124 after
# killing it when it does not.
wait_exit() {
	_i=$(($2 * 20))
	while kill -0 "$1" 2>/dev/null && [ "$_i" -gt 0 ]; do
		sleep 0.05
		_i=$((_i - 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		return 124
	fi
	wait "$1"
}

# Run busd in the foreground with a time limit; sets OUT, ERR and RC.
run_busd() {
	timeout 10 "$BUSD" -c /dev/null "$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
	RC=$?
	OUT=$(cat "$TEST_TMP/out")
	ERR=$(cat "$TEST_TMP/err")
}

lines() {
	if [ -z "$1" ]; then echo 0; else printf '%s\n' "$1" | wc -l | tr -d ' '; fi
}

# ---- command line
run_busd --help
expect_eq "--help exits 0" "$RC" 0
expect_match "--help describes --socket" "$OUT$ERR" "--socket"
expect_match "--help describes --max-frame-size" "$OUT$ERR" "--max-frame-size"
expect_match "--help describes -v/--verbose" "$OUT$ERR" "--verbose"

run_busd --version
expect_eq "--version exits 0" "$RC" 0
expect_match "--version prints the version" "$OUT$ERR" "0\.1\.0"

run_busd --socket "$TEST_TMP/x.sock" --bogus-option
expect_eq "an unknown option exits 2" "$RC" 2
expect_eq "  with a one-line error" "$(lines "$ERR")" 1
expect_match "  naming the option" "$ERR" "bogus-option"
check "  and creates no socket" "[ ! -e '$TEST_TMP/x.sock' ]"

run_busd --socket
expect_eq "--socket without its argument exits 2" "$RC" 2

# The last two overflow 64 bits once scaled (2^44+1 MiB, 2^54+1 KiB) and
# would wrap to 1 MiB and 1 KiB.
for v in abc -5 12x "" 0 99999999999999999999 17592186044417M 18014398509481985K; do
	run_busd --socket "$TEST_TMP/x.sock" --max-frame-size "$v"
	check "--max-frame-size '$v' is refused" "[ '$RC' -ne 0 ] && [ '$RC' -lt 124 ]"
	expect_eq "  with a one-line error" "$(lines "$ERR")" 1
	check "  and no socket" "[ ! -e '$TEST_TMP/x.sock' ]"
done

run_busd --socket "$TEST_TMP/no/such/dir/bus.sock"
expect_eq "a socket in a missing directory: exit 1" "$RC" 1
expect_match "  with a message naming the path" "$ERR" "no/such/dir"

# ---- one instance per socket
busd_start
check "busd listens on its socket" "sock_connect '$BUS_ADDRESS'"
check "the socket file is a socket" "[ -S '$BUS_ADDRESS' ]"
run_busd --socket "$BUS_ADDRESS"
expect_eq "a second busd on the same socket exits 1" "$RC" 1
expect_match "  saying another busd is there" "$ERR" "[Aa]lready|in use|running"
check "the first busd still accepts connections" "sock_connect '$BUS_ADDRESS'"
check "  and its socket file is still there" "[ -S '$BUS_ADDRESS' ]"
check "busctl still reaches it" "'$BUSCTL' status >/dev/null 2>&1"

sock=$BUS_ADDRESS
busd_stop
expect_eq "SIGTERM: busd exits 0" "$?" 0
check "  and removes its socket file" "[ ! -e '$sock' ]"
cp "$BUSD_LOG" "$TEST_TMP/quiet.log"

# ---- a stale socket file is replaced
stale_socket "$TEST_TMP/bus.sock"
check "a stale socket file exists and refuses connections" \
	"[ -S '$TEST_TMP/bus.sock' ] && ! sock_connect '$TEST_TMP/bus.sock'"
busd_start
check "busd starts over a stale socket file" "sock_connect '$BUS_ADDRESS'"
busd_stop
expect_eq "  and exits 0 on SIGTERM" "$?" 0

# ---- SIGINT, with the default disposition a terminal would give
python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$BUSD" -c /dev/null --socket "$TEST_TMP/int.sock" 2>"$TEST_TMP/int.log" &
pid=$!
wait_for 10 sock_connect "$TEST_TMP/int.sock"
check "busd started for SIGINT" "sock_connect '$TEST_TMP/int.sock'"
kill -INT "$pid"
wait_exit "$pid" 10
expect_eq "SIGINT: busd exits 0" "$?" 0
check "  and removes its socket file" "[ ! -e '$TEST_TMP/int.sock' ]"

# ---- the socket path from $BUS_ADDRESS
BUS_ADDRESS="$TEST_TMP/env.sock" "$BUSD" -c /dev/null 2>"$TEST_TMP/env.log" &
pid=$!
wait_for 10 sock_connect "$TEST_TMP/env.sock"
check "without --socket busd listens on \$BUS_ADDRESS" "sock_connect '$TEST_TMP/env.sock'"
kill -TERM "$pid"
wait_exit "$pid" 10
expect_eq "  and exits 0 on SIGTERM" "$?" 0
check "  removing that socket" "[ ! -e '$TEST_TMP/env.sock' ]"

# ---- a socket file replaced under busd is not removed at exit
"$BUSD" -c /dev/null --socket "$TEST_TMP/a.sock" 2>"$TEST_TMP/a.log" &
pid_a=$!
"$BUSD" -c /dev/null --socket "$TEST_TMP/b.sock" 2>"$TEST_TMP/b.log" &
pid_b=$!
wait_for 10 sock_connect "$TEST_TMP/a.sock"
wait_for 10 sock_connect "$TEST_TMP/b.sock"
mv "$TEST_TMP/b.sock" "$TEST_TMP/a.sock"
kill -TERM "$pid_a"
wait_exit "$pid_a" 10
expect_eq "busd A exits 0 after busd B's socket replaced its own" "$?" 0
check "  the socket file is still there, and it is B's" "sock_connect '$TEST_TMP/a.sock'"
expect_match "  A says why it left the file alone" "$(cat "$TEST_TMP/a.log")" \
	"not removing .*/a.sock: it is no longer the socket this busd created"
kill -TERM "$pid_b"
wait_exit "$pid_b" 10
expect_eq "  B exits 0" "$?" 0
expect_match "  B, whose file was moved away from its path, leaves its path alone too" \
	"$(cat "$TEST_TMP/b.log")" "not removing .*/b.sock: it is no longer the socket this busd created"

# ---- -v: the same kind of session logs more
busd_start -v
sock_connect "$BUS_ADDRESS"
busd_stop
expect_eq "busd -v exits 0 on SIGTERM" "$?" 0
cp "$BUSD_LOG" "$TEST_TMP/verbose.log"
quiet=$(wc -l <"$TEST_TMP/quiet.log")
verbose=$(wc -l <"$TEST_TMP/verbose.log")
check "-v logs more than the default ($verbose lines vs $quiet)" "[ '$verbose' -gt '$quiet' ]"

busd_start --verbose --max-frame-size 65536
check "--verbose and a valid --max-frame-size are accepted" "sock_connect '$BUS_ADDRESS'"
busd_stop
expect_eq "  exit 0 on SIGTERM" "$?" 0

finish
