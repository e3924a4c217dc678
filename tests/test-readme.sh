#!/bin/sh
# test-readme.sh - README.md's "A service in 30 lines" as a new user meets
# it: the greeter's .proto, C source and build commands are taken from the
# README itself (the code blocks after its "tests/test-readme.sh: NAME"
# comments), built against this build installed with make install DESTDIR
# into a temporary directory, run on a real busd, called with JSON through
# busctl and introspected: the schema is the one bus_export() made. Then
# the installed examples build with their installed Makefile.
#
# The greeter is compiled with the build's compiler and flags (in a
# --enable-sanitizers build the installed libbus is instrumented, so the
# program must be too); pkg-config finds the staged libbus.pc through
# PKG_CONFIG_SYSROOT_DIR, and the program the staged libbus.so through
# LD_LIBRARY_PATH.
. "$top_srcdir/tests/lib.sh"
plan 16

STAGE="$TEST_TMP/stage"
WORK="$TEST_TMP/greeter"
mkdir -p "$WORK"

# The build's own settings, as configure wrote them into its Makefile.
mkvar() { sed -n "s/^$1 = //p" "$top_builddir/Makefile" | head -n 1; }
BUILD_CC=$(mkvar CC)
BUILD_FLAGS="$(mkvar CFLAGS) $(mkvar SAN_CFLAGS)"
BUILD_LDFLAGS="$(mkvar LDFLAGS) $(mkvar SAN_LDFLAGS)"

# The code block after <!-- tests/test-readme.sh: NAME --> in README.md.
readme_block() {
	awk -v tag="<!-- tests/test-readme.sh: $1 -->" '
		$0 == tag { found = 1; next }
		found == 1 && /^```/ { found = 2; next }
		found == 2 && /^```/ { exit }
		found == 2 { print }' "$top_srcdir/README.md"
}
readme_block greeter.proto >"$WORK/greeter.proto"
readme_block greeter.c >"$WORK/greeter.c"
readme_block build >"$WORK/build.sh"
check "README.md marks the greeter's .proto, C source and build commands" \
	'grep -q "^service Greeter" "$WORK/greeter.proto" &&
	 grep -q "bus_export(" "$WORK/greeter.c" &&
	 grep -q "pkg-config --cflags --libs libbus" "$WORK/build.sh"'
expect_eq "  the greeter does not upload a schema itself" \
	"$(grep -c 'bus_add_schema' "$WORK/greeter.c")" 0

# make install into the stage; MAKEFLAGS from a make check around us are
# not ours to pass on (jobserver, TESTS=...).
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$top_builddir" install DESTDIR="$STAGE" \
	>"$TEST_TMP/install.log" 2>&1
RC=$?
[ "$RC" -eq 0 ] || sed 's/^/#   /' "$TEST_TMP/install.log" | tail -n 20
expect_eq "make install DESTDIR= of this build" "$RC" 0
PC=$(find "$STAGE" -name libbus.pc -path '*/pkgconfig/*' | head -n 1)
LIB=$(dirname "$(find "$STAGE" -name 'libbus.so.*' | head -n 1)")
EXAMPLES=$(dirname "$(find "$STAGE" -path '*/examples/Makefile' | head -n 1)")
check "  installs libbus.pc, libbus.so, <bus/bus.h>, bus.proto and the examples" \
	'[ -n "$PC" ] && [ -d "$LIB" ] && [ -f "$EXAMPLES/echo.c" ] &&
	 [ -n "$(find "$STAGE" -path "*/include/bus/bus.h")" ] &&
	 [ -n "$(find "$STAGE" -path "*/share/busd/proto/bus.proto")" ]'
cmp -s "$(find "$STAGE" -path '*/share/busd/proto/bus.proto')" "$top_srcdir/proto/bus.proto"
expect_eq "  bus.proto installed as it is" $? 0

PKG_CONFIG_PATH=$(dirname "$PC")
PKG_CONFIG_SYSROOT_DIR=$STAGE
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
expect_match "pkg-config finds the staged libbus" "$(pkg-config --cflags --libs libbus)" \
	"-I$STAGE/.*/include.*-L$STAGE/.*-lbus"

# The README's build commands, word for word, with its cc being the build's.
(
	cd "$WORK" || exit 1
	# shellcheck disable=SC2086
	cc() { $BUILD_CC $BUILD_FLAGS "$@" $BUILD_LDFLAGS; }
	. ./build.sh
) >"$TEST_TMP/build.log" 2>&1
RC=$?
[ "$RC" -eq 0 ] || sed 's/^/#   /' "$TEST_TMP/build.log"
check "the README's build commands build the greeter" '[ "$RC" -eq 0 ] && [ -x "$WORK/greeter" ]'

busd_start
LD_LIBRARY_PATH="$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" bg "$WORK/greeter"
GREETER_PID=$LAST_BG
has_greeter() { "$BUSCTL" list | grep -q 'org\.example\.Greeter'; }
check "the greeter owns org.example.Greeter" wait_for 10 has_greeter

OUT=$("$BUSCTL" call org.example.Greeter Greet '{"who":"x"}' 2>&1)
RC=$?
expect_eq "busctl call with JSON: exit 0" "$RC" 0
UNIQUE=$("$BUSCTL" list | awk '$1 == "org.example.Greeter" { print $2 }')
GOT=$(printf '%s' "$OUT" | python3 -c 'import json, sys; print(json.load(sys.stdin)["text"])' 2>&1)
expect_match "  the reply's text, decoded from JSON" "$GOT" "^hello x, you are :[0-9]+$"
OUT=$("$BUSCTL" call org.example.Greeter Greet '{"who":"x","age":3}' 2>&1)
expect_match "  a field the schema lacks: refused by name" "$OUT" "age"

INTRO=$("$BUSCTL" introspect org.example.Greeter 2>&1)
expect_match "introspect: the service and its method with their types" "$INTRO" \
	"^ +Greet +demo\.GreetRequest -> demo\.GreetReply$"
expect_match "  the request's fields" "$INTRO" "^ +string who = 1;$"
kill "$GREETER_PID" 2>/dev/null

# The installed examples, built by their installed Makefile in a copy.
cp -R "$EXAMPLES" "$TEST_TMP/examples"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$TEST_TMP/examples" CC="$BUILD_CC" \
	CFLAGS="$BUILD_FLAGS" LDFLAGS="$BUILD_LDFLAGS" >"$TEST_TMP/examples.log" 2>&1
RC=$?
[ "$RC" -eq 0 ] || sed 's/^/#   /' "$TEST_TMP/examples.log" | tail -n 20
check "the installed examples build with their installed Makefile" \
	'[ "$RC" -eq 0 ] && [ -x "$TEST_TMP/examples/echo" ] && [ -x "$TEST_TMP/examples/sensor" ]'
LD_LIBRARY_PATH="$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
	"$TEST_TMP/examples/echo" --help >"$TEST_TMP/echo-help" 2>&1
expect_match "  and run, linked to the staged libbus" "$(cat "$TEST_TMP/echo-help")" "echo"
LD_LIBRARY_PATH="$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
	ldd "$TEST_TMP/examples/sensor" >"$TEST_TMP/ldd" 2>&1
expect_match "  the staged libbus.so, not another" "$(cat "$TEST_TMP/ldd")" \
	"libbus\.so\.[0-9]+ => $STAGE/"

busd_stop
finish
