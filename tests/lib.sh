# lib.sh - the shell test harness: sourced by tests/*.sh. Starts a real busd
# on a private socket in a temporary directory and cleans up on exit.
#
#   busd_start [busd options...]  start busd, wait until it accepts; sets
#                                 BUS_ADDRESS (exported), BUSD_PID, BUSD_LOG
#   busd_stop                     SIGTERM busd and wait for it (exit status)
#   bg CMD...                     run CMD in the background, killed at exit
#   wait_for SECONDS CMD...       retry CMD until it succeeds or time runs out
#   plan N                        declare the number of checks, before the first
#   check NAME COND...            record a test result (TAP line), COND via test/eval
#   expect_eq NAME GOT WANT       TAP check that GOT equals WANT
#   expect_match NAME TEXT REGEX  TAP check that a line of TEXT matches the ERE REGEX
#   skip NAME REASON              a check that cannot run here ("ok N - NAME # SKIP")
#   finish                        exit 1 if a check failed or the count is not
#                                 the plan's
set -u

: "${top_builddir:=.}"
: "${top_srcdir:=.}"
BUSD="$top_builddir/busd/busd"
BUSCTL="$top_builddir/busctl/busctl"
ECHO_SVC="$top_builddir/services/echo"
SENSOR_SVC="$top_builddir/services/sensor"

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/busd-test.XXXXXX")
_tap_n=0
_tap_failed=0
_tap_plan=
_bg_pids=""
BUSD_PID=""

_cleanup() {
	for p in $_bg_pids; do kill "$p" 2>/dev/null; done
	[ -n "$BUSD_PID" ] && kill "$BUSD_PID" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$TEST_TMP"
}
trap _cleanup EXIT

wait_for() {
	_secs=$1; shift
	_tries=$((_secs * 20))
	while [ "$_tries" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
		_tries=$((_tries - 1))
	done
	return 1
}

busd_start() {
	BUS_ADDRESS="$TEST_TMP/bus.sock"
	export BUS_ADDRESS
	BUSD_LOG="$TEST_TMP/busd.log"
	# -c /dev/null: hermetic, whatever is installed in /etc (a later -c wins).
	"$BUSD" -c /dev/null --socket "$BUS_ADDRESS" "$@" 2>"$BUSD_LOG" &
	BUSD_PID=$!
	if ! wait_for 10 "$BUSCTL" status; then
		echo "# busd did not start; its log:" >&2
		sed 's/^/#   /' "$BUSD_LOG" >&2
		exit 1
	fi
}

busd_stop() {
	[ -n "$BUSD_PID" ] || return 0
	kill -TERM "$BUSD_PID" 2>/dev/null
	wait "$BUSD_PID"
	_rc=$?
	BUSD_PID=""
	return $_rc
}

bg() {
	"$@" &
	_bg_pids="$_bg_pids $!"
	LAST_BG=$!
}

plan() {
	_tap_plan=$1
	echo "1..$1"
}

_tap() {
	_tap_n=$((_tap_n + 1))
	if [ "$1" = ok ]; then
		echo "ok $_tap_n - $2"
	else
		echo "not ok $_tap_n - $2"
		_tap_failed=$((_tap_failed + 1))
	fi
}

check() {
	_name=$1; shift
	if eval "$@"; then _tap ok "$_name"; else _tap fail "$_name"; fi
}

expect_eq() {
	if [ "$2" = "$3" ]; then
		_tap ok "$1"
	else
		_tap fail "$1"
		echo "#   got:  $2"
		echo "#   want: $3"
	fi
}

expect_match() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then
		_tap ok "$1"
	else
		_tap fail "$1"
		echo "#   text:  $2" | head -20
		echo "#   regex: $3"
	fi
}

skip() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $1 # SKIP $2"
}

finish() {
	if [ -z "$_tap_plan" ]; then
		echo "# no plan: call plan N before the first check"
		return 1
	fi
	if [ "$_tap_n" -ne "$_tap_plan" ]; then
		echo "# planned $_tap_plan checks, ran $_tap_n"
		return 1
	fi
	[ "$_tap_failed" -eq 0 ]
}
