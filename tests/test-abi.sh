#!/bin/sh
# test-abi.sh - what libbus.so and libbus-json.so offer the programs linked
# to them: only the API of their installed headers (<bus/bus.h> with
# <bus/channel.h>, and <bus/schema.h>), every symbol in its library's
# version node (LIBBUS_0.1, LIBBUS_JSON_0.1), every declared function
# there, and no more libraries than needed (libevent_core, not all of
# libevent).
. "$top_srcdir/tests/lib.sh"
plan 17

# exports LIB OUT: the defined dynamic symbols, "VERSION NAME", the version
# node's own symbol left out.
exports()
{
	objdump -T --wide "$1" |
		awk '$0 !~ /\*UND\*/ && NF >= 6 && $NF != $(NF-1) { print $(NF-1), $NF }' | sort >"$2"
}
# declared HEADER OUT: the functions a header declares.
declared()
{
	grep -oE '\bbus_[a-z][a-z0-9_]*\(' "$1" | tr -d '(' | sort -u >"$2"
}

LIB="$top_builddir/libbus/.libs/libbus.so"
JLIB="$top_builddir/libbus/.libs/libbus-json.so"
check "libbus.so was built" test -f "$LIB"
# libbus-json is left out by ./configure --disable-json: its checks skip.
if [ "$busd_json" = no ]; then
	check "libbus-json.so was not built (--disable-json)" test ! -e "$JLIB"
else
	check "libbus-json.so was built" test -f "$JLIB"
fi
NOJSON="libbus-json is not built (--disable-json)"

exports "$LIB" "$TEST_TMP/exported"
declared "$top_srcdir/libbus/bus/bus.h" "$TEST_TMP/api-bus"
declared "$top_srcdir/libbus/bus/channel.h" "$TEST_TMP/api-channel"
sort -u "$TEST_TMP/api-bus" "$TEST_TMP/api-channel" >"$TEST_TMP/api"
n=$(wc -l <"$TEST_TMP/exported")
check "libbus.so exports symbols ($n)" test "$n" -gt 50
expect_eq "every symbol libbus.so exports is versioned LIBBUS_0.1" \
	"$(awk '$1 != "LIBBUS_0.1"' "$TEST_TMP/exported")" ""
awk '{ print $2 }' "$TEST_TMP/exported" >"$TEST_TMP/names"
expect_eq "  and is a function <bus/bus.h> or <bus/channel.h> declares" \
	"$(comm -23 "$TEST_TMP/names" "$TEST_TMP/api")" ""
expect_eq "every function of <bus/bus.h> and <bus/channel.h> is exported" \
	"$(comm -13 "$TEST_TMP/names" "$TEST_TMP/api")" ""
expect_eq "no internal symbol leaks (wire_, conn_, call_, bus__ generated code)" \
	"$(grep -E ' (wire_|conn_|call_|lifetime_|restore_|bus__)' "$TEST_TMP/exported")" ""

if [ "$busd_json" = no ]; then
	skip "every symbol libbus-json.so exports is versioned LIBBUS_JSON_0.1" "$NOJSON"
	skip "  and is a function <bus/schema.h> declares" "$NOJSON"
	skip "every function of <bus/schema.h> is exported" "$NOJSON"
	skip "  and nothing of its insides (wire_, text_, descriptor code)" "$NOJSON"
else
	exports "$JLIB" "$TEST_TMP/jexported"
	declared "$top_srcdir/libbus/bus/schema.h" "$TEST_TMP/japi"
	expect_eq "every symbol libbus-json.so exports is versioned LIBBUS_JSON_0.1" \
		"$(awk '$1 != "LIBBUS_JSON_0.1"' "$TEST_TMP/jexported")" ""
	awk '{ print $2 }' "$TEST_TMP/jexported" >"$TEST_TMP/jnames"
	expect_eq "  and is a function <bus/schema.h> declares" \
		"$(comm -23 "$TEST_TMP/jnames" "$TEST_TMP/japi")" ""
	expect_eq "every function of <bus/schema.h> is exported" \
		"$(comm -13 "$TEST_TMP/jnames" "$TEST_TMP/japi")" ""
	expect_eq "  and nothing of its insides (wire_, text_, descriptor code)" \
		"$(grep -E ' (wire_|text_|google__|bus__|protobuf_c_)' "$TEST_TMP/jexported")" ""
fi

needed=$(objdump -p "$LIB" | awk '$1 == "NEEDED" { print $2 }')
expect_match "libbus.so needs libevent_core" "$needed" '^libevent_core-'
expect_eq "  and not the whole of libevent" "$(printf '%s\n' "$needed" | grep -E '^libevent-')" ""
expect_eq "  nor json-c" "$(printf '%s\n' "$needed" | grep -E '^libjson-c')" ""
expect_match "libbus.pc asks pkg-config for libevent_core only" \
	"$(grep '^Requires' "$top_builddir/libbus/libbus.pc")" 'libevent_core'
expect_eq "  and never for libevent" \
	"$(grep '^Requires' "$top_builddir/libbus/libbus.pc" | grep -E 'libevent( |,|$)')" ""
if [ "$busd_json" = no ]; then
	skip "libbus-json.so needs libbus" "$NOJSON"
else
	jneeded=$(objdump -p "$JLIB" | awk '$1 == "NEEDED" { print $2 }')
	expect_match "libbus-json.so needs libbus" "$jneeded" '^libbus\.so'
fi
finish
