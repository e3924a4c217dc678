#!/bin/sh
# test-abi.sh - what libbus.so offers the programs linked to it: only the API
# of its installed headers, every symbol in the LIBBUS_0.1 version node
# (libbus/libbus.sym), every function of <bus/bus.h> there, and no more
# libraries than it needs (libevent_core, not all of libevent).
. "$top_srcdir/tests/lib.sh"

LIB="$top_builddir/libbus/.libs/libbus.so"
check "libbus.so was built" test -f "$LIB"

# Defined dynamic symbols, "VERSION NAME", the version node's own symbol left out.
objdump -T --wide "$LIB" | awk '$0 !~ /\*UND\*/ && NF >= 6 && $NF != $(NF-1) { print $(NF-1), $NF }' |
	sort >"$TEST_TMP/exported"
# The functions the installed headers declare.
cat "$top_srcdir"/libbus/bus/*.h | grep -oE '\bbus_[a-z][a-z0-9_]*\(' | tr -d '(' | sort -u \
	>"$TEST_TMP/declared"
grep -oE '\bbus_[a-z][a-z0-9_]*\(' "$top_srcdir/libbus/bus/bus.h" | tr -d '(' | sort -u \
	>"$TEST_TMP/api"

n=$(wc -l <"$TEST_TMP/exported")
check "libbus.so exports symbols ($n)" test "$n" -gt 50
expect_eq "every exported symbol is versioned LIBBUS_0.1" \
	"$(awk '$1 != "LIBBUS_0.1"' "$TEST_TMP/exported")" ""
awk '{ print $2 }' "$TEST_TMP/exported" >"$TEST_TMP/names"
expect_eq "every exported symbol is a function the installed headers declare" \
	"$(comm -23 "$TEST_TMP/names" "$TEST_TMP/declared")" ""
expect_eq "every function of <bus/bus.h> is exported" \
	"$(comm -13 "$TEST_TMP/names" "$TEST_TMP/api")" ""
expect_eq "no internal symbol leaks (wire_, conn_, call_, bus__ generated code)" \
	"$(grep -E ' (wire_|conn_|call_|lifetime_|restore_|bus__)' "$TEST_TMP/exported")" ""

needed=$(objdump -p "$LIB" | awk '$1 == "NEEDED" { print $2 }')
expect_match "libbus.so needs libevent_core" "$needed" '^libevent_core-'
expect_eq "and not the whole of libevent" "$(printf '%s\n' "$needed" | grep -E '^libevent-')" ""
expect_match "libbus.pc asks pkg-config for libevent_core only" \
	"$(grep '^Requires' "$top_builddir/libbus/libbus.pc")" 'libevent_core'
expect_eq "  and never for libevent" \
	"$(grep '^Requires' "$top_builddir/libbus/libbus.pc" | grep -E 'libevent( |,|$)')" ""
finish
