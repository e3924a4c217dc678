#!/bin/sh
# test-system-bus.sh - which bus busctl talks to. Two real busds stand in
# for the system bus ($BUS_SYSTEM_ADDRESS) and a user's bus
# ($XDG_RUNTIME_DIR/busd.sock), each with an echo service under a name of
# its own, so that `busctl list` shows which one answered:
#  - --system and --user, as a user other than root (nobody);
#  - without either: $BUS_ADDRESS, else the system bus, else (only when the
#    system bus socket does not exist) the user's bus; --socket before all;
#  - a system bus that refuses or is out of reach is an error, never a
#    quiet move to the user's bus; and when there is no bus at all, the
#    error says where busctl looked.
. "$top_srcdir/tests/lib.sh"
plan 25

# nobody must reach the sockets: the temporary directory is 0700.
chmod 0755 "$TEST_TMP"
# nor may it reach busctl in the build tree, which can sit below a
# directory only root may enter (a fresh clone in a 0700 mktemp -d): it runs
# a copy of the real binary and of the libraries it links, from $TEST_TMP.
mkdir -p "$TEST_TMP/bin" "$TEST_TMP/lib"
cp "$top_builddir/busctl/.libs/busctl" "$TEST_TMP/bin/busctl"
cp -P "$top_builddir"/libbus/.libs/libbus.so* "$top_builddir"/libbus/.libs/libbus-json.so* \
	"$TEST_TMP/lib/"
chmod -R a+rX "$TEST_TMP/bin" "$TEST_TMP/lib"
NOBODY_BUSCTL="$TEST_TMP/bin/busctl"
busd_start
SYS=$BUS_ADDRESS
unset BUS_ADDRESS
XDG="$TEST_TMP/run"
USR="$XDG/busd.sock"
mkdir -m 0755 "$XDG" "$TEST_TMP/empty" "$TEST_TMP/private"
bg "$BUSD" -c /dev/null --socket "$USR" 2>"$TEST_TMP/user-busd.log"
bg "$ECHO_SVC" --socket "$SYS"
bg "$ECHO_SVC" --socket "$USR" --name org.busd.UserEcho
wait_for 10 sh -c "'$BUSCTL' --socket '$SYS' list | grep -q '^org.busd.Echo '" ||
	{ echo "Bail out! the echo service is not on the system bus"; exit 1; }
wait_for 10 sh -c "'$BUSCTL' --socket '$USR' list | grep -q '^org.busd.UserEcho '" ||
	{ echo "Bail out! the echo service is not on the user bus"; exit 1; }

NOSYS="$TEST_TMP/none/bus.sock"
NOXDG="$TEST_TMP/empty"
# A system bus out of nobody's reach, and one that refuses: a socket file
# nobody listens on, as a busd that died leaves.
chmod 0700 "$TEST_TMP/private"
ln -s "$SYS" "$TEST_TMP/private/bus.sock"
python3 -c 'import socket, sys
socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$TEST_TMP/refusing.sock"
chmod 0666 "$TEST_TMP/refusing.sock"
ENOENT="No such file or directory"

# run WHO SYSTEM USER XDG ARGS...: busctl ARGS as WHO (root or nobody) with
# $BUS_SYSTEM_ADDRESS, $BUS_ADDRESS and $XDG_RUNTIME_DIR set to SYSTEM,
# USER and XDG ("-": unset) and no other bus variable; sets RC, OUT, ERR.
run() {
	_who=$1 _sys=$2 _usr=$3 _xdg=$4
	shift 4
	if [ "$_who" = root ]; then
		set -- "$BUSCTL" "$@"
	else
		set -- "LD_LIBRARY_PATH=$TEST_TMP/lib" "$NOBODY_BUSCTL" "$@"
	fi
	[ "$_xdg" = - ] || set -- "XDG_RUNTIME_DIR=$_xdg" "$@"
	[ "$_usr" = - ] || set -- "BUS_ADDRESS=$_usr" "$@"
	[ "$_sys" = - ] || set -- "BUS_SYSTEM_ADDRESS=$_sys" "$@"
	set -- env -u BUS_SYSTEM_ADDRESS -u BUS_ADDRESS -u XDG_RUNTIME_DIR "$@"
	[ "$_who" = root ] || set -- runuser -u "$_who" -- "$@"
	timeout 20 "$@" </dev/null >"$TEST_TMP/out" 2>"$TEST_TMP/err"
	RC=$?
	OUT=$(cat "$TEST_TMP/out")
	ERR=$(cat "$TEST_TMP/err")
}
# Which bus answered `list`: "system", "user" or "none".
which_bus() {
	if printf '%s\n' "$OUT" | grep -q '^org\.busd\.Echo '; then echo system
	elif printf '%s\n' "$OUT" | grep -q '^org\.busd\.UserEcho '; then echo user
	else echo none; fi
}

# ---- --system as nobody
run nobody "$SYS" - - --system list
expect_eq "nobody: busctl --system list exits 0" "$RC" 0
expect_match "  and lists the system bus's echo service" "$OUT" '^org\.busd\.Echo +:[0-9]+ +[0-9]+ +0 +0 '
expect_match "  and busctl's own connection, as nobody (uid and gid 65534)" "$OUT" \
	'^:[0-9]+ +:[0-9]+ +[0-9]+ +65534 +65534 +(lt-)?busctl '
expect_eq "  and nothing of the user bus" "$(printf '%s\n' "$OUT" | grep -c UserEcho)" 0

run nobody "$NOSYS" - - --system list
expect_eq "nobody: --system with no busd at \$BUS_SYSTEM_ADDRESS exits 1" "$RC" 1
expect_eq "  saying which bus, where and why" "$ERR" \
	"busctl: no system bus at $NOSYS (from \$BUS_SYSTEM_ADDRESS): $ENOENT"

run nobody "$TEST_TMP/private/bus.sock" - "$XDG" --system list
expect_eq "nobody: --system with the socket out of reach fails, naming it" "$ERR" \
	"busctl: no system bus at $TEST_TMP/private/bus.sock (from \$BUS_SYSTEM_ADDRESS): Permission denied"

run root "$NOSYS" "$USR" - --system list
expect_eq "--system never takes \$BUS_ADDRESS instead" "$RC:$(which_bus)" "1:none"

# ---- --user
run nobody "$SYS" - "$XDG" --user list
expect_eq "nobody: --user is \$XDG_RUNTIME_DIR/busd.sock, though a system bus is there" \
	"$RC:$(which_bus)" "0:user"
run nobody "$USR" "$SYS" "$NOXDG" --user list
expect_eq "--user is \$BUS_ADDRESS before \$XDG_RUNTIME_DIR" "$RC:$(which_bus)" "0:system"
run nobody - - - --user list
expect_eq "--user with neither variable fails, saying so" "$ERR" \
	"busctl: no user bus: neither \$BUS_ADDRESS nor \$XDG_RUNTIME_DIR is set"

# ---- neither: the order
run nobody "$SYS" - "$XDG" list
expect_eq "nobody, no option, both buses there: the system bus" "$RC:$(which_bus)" "0:system"
run nobody "$SYS" - - list
expect_eq "nobody, no option, no \$XDG_RUNTIME_DIR: the system bus" "$RC:$(which_bus)" "0:system"
run nobody "$SYS" "$USR" "$XDG" list
expect_eq "\$BUS_ADDRESS comes first" "$RC:$(which_bus)" "0:user"
run nobody "$NOSYS" - "$XDG" list
expect_eq "no system bus socket: the user bus" "$RC:$(which_bus)" "0:user"
run root "$SYS" "$SYS" "$XDG" --socket "$USR" list
expect_eq "--socket comes before everything" "$RC:$(which_bus)" "0:user"

run nobody "$TEST_TMP/refusing.sock" - "$XDG" list
expect_eq "a system bus socket that refuses is an error, not a move to the user bus" \
	"$RC:$(which_bus)" "1:none"
expect_eq "  that names it" "$ERR" \
	"busctl: no system bus at $TEST_TMP/refusing.sock (from \$BUS_SYSTEM_ADDRESS): Connection refused"
run nobody "$TEST_TMP/private/bus.sock" - "$XDG" list
expect_eq "so is one out of reach" "$RC:$(which_bus)" "1:none"

run nobody "$NOSYS" - "$NOXDG" list
expect_eq "no bus at all: exit 1" "$RC" 1
expect_eq "  and the error says where busctl looked" "$ERR" \
	"busctl: no bus found: no system bus at $NOSYS (from \$BUS_SYSTEM_ADDRESS): $ENOENT; no user bus at $NOXDG/busd.sock (from \$XDG_RUNTIME_DIR): $ENOENT (use --socket PATH, or start busd)"
run nobody "$NOSYS" - - list
expect_eq "  or what was not set" "$ERR" \
	"busctl: no bus found: no system bus at $NOSYS (from \$BUS_SYSTEM_ADDRESS): $ENOENT; no user bus: neither \$BUS_ADDRESS nor \$XDG_RUNTIME_DIR is set (use --socket PATH, or start busd)"

# ---- one choice only
run root "$SYS" - - --system --socket "$USR" list
expect_eq "--system with --socket is a usage error" "$RC" 2
expect_eq "  that says why" "$ERR" \
	"busctl: --system and --socket both choose the bus: give one of --system, --user and --socket"
run root "$SYS" - "$XDG" --user --user list
expect_eq "  but --user twice is --user" "$RC:$(which_bus)" "0:user"

finish
