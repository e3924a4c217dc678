#!/bin/sh
# test-capture-tshark.sh - busctl capture's pcap files read by tshark through
# the Wireshark dissector busctl/busd.lua: every header field as a named
# field usable in display filters, bodies decoded by Wireshark's protobuf
# dissector (by name with the .proto files, by number without), and the
# snaplen (the file header's, and frames cut at it, also for busctl decode).
# tshark is required: its absence is a failure, not a skip.
. "$top_srcdir/tests/lib.sh"
plan 35

LUA="$top_srcdir/busctl/busd.lua"
PROTO_DIR=$(cd "$top_srcdir/proto" && pwd)
# Wireshark's preferences from an empty directory: the user's cannot change
# what is tested.
WIRESHARK_CONFIG_DIR="$TEST_TMP/wireshark"
export WIRESHARK_CONFIG_DIR
mkdir -p "$WIRESHARK_CONFIG_DIR"

check "tshark is installed (tests/build.sh installs it)" "command -v tshark >/dev/null"
# ts FILE [tshark options...]: the dissector loaded, warnings (tshark run
# by root says so) dropped.
ts() {
	_f=$1; shift
	tshark -r "$_f" -X lua_script:"$LUA" "$@" 2>/dev/null
}
# The value of header field $2 in the frames of $1 that display filter $3 keeps.
field() { ts "$1" -Y "$3" -T fields -e "$2"; }

busd_start
bg "$ECHO_SVC"
wait_for 10 sh -c "'$BUSCTL' list | grep -q org.busd.Echo"
echo_id=$("$BUSCTL" list | awk '$1 == "org.busd.Echo" { print $2 }')

# ---- a call, its reply and an error, captured until tshark sees the last
PCAP="$TEST_TMP/cap.pcap"
bg "$BUSCTL" capture -o "$PCAP"
cap=$LAST_BG
wait_for 10 sh -c "[ \$('$BUSCTL' status | awk '\$1 == \"monitors\" { print \$2 }') -ge 1 ]"
"$BUSCTL" call org.busd.Echo Echo '{"text":"captured"}' >"$TEST_TMP/echo.out"
expect_eq "the call returns its request" "$(cat "$TEST_TMP/echo.out")" '{"text":"captured"}'
"$BUSCTL" call org.busd.Echo Fail '{"message":"as planned"}' >/dev/null 2>&1
expect_eq "Fail exits 1" "$?" 1
wait_for 10 sh -c "tshark -r '$PCAP' -X lua_script:'$LUA' -Y 'busd.kind == 3' 2>/dev/null |
	grep -q Failed"
kill "$cap"
wait "$cap" 2>/dev/null

expect_eq "the pcap header: snaplen 262144, link type USER0 (147)" \
	"$(od -An -tx4 -j16 -N8 "$PCAP" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')" \
	"00040000 00000093"
ECHO_CALL='busd.kind == 1 && busd.member == "Echo"'
expect_eq "one frame is a CALL of Echo (display filter on busd.kind, busd.member)" \
	"$(ts "$PCAP" -Y "$ECHO_CALL" | wc -l | tr -d ' ')" 1
expect_eq "  to org.busd.Echo" "$(field "$PCAP" busd.destination "$ECHO_CALL")" org.busd.Echo
expect_eq "  interface busd.examples.Echo" "$(field "$PCAP" busd.interface "$ECHO_CALL")" \
	busd.examples.Echo
expect_eq "  body type busd.examples.EchoRequest" "$(field "$PCAP" busd.body_type "$ECHO_CALL")" \
	busd.examples.EchoRequest
caller=$(field "$PCAP" busd.sender "$ECHO_CALL")
expect_match "  sender: the caller's unique id, stamped by busd" "$caller" '^:[0-9]+$'
serial=$(field "$PCAP" busd.serial "$ECHO_CALL")
expect_match "  a serial" "$serial" '^[1-9][0-9]*$'
expect_eq "  flags 0, no fds" "$(ts "$PCAP" -Y "$ECHO_CALL" -T fields -e busd.flags -e busd.fd_count \
	-e busd.flags.no_reply_expected | tr '\t' ' ')" "  "
expect_eq "  preamble: version 1, header and body lengths" \
	"$(ts "$PCAP" -Y "$ECHO_CALL" -T fields -e busd.version -e busd.body_len | tr '\t' ' ')" "1 10"
expect_eq "  the frame's length is the preamble's sum" \
	"$(ts "$PCAP" -Y "$ECHO_CALL" -T fields -e frame.len -e busd.header_len -e busd.body_len |
		awk '{ print ($1 == 12 + $2 + $3) }')" 1
expect_match "  the Info column says what it is" "$(ts "$PCAP" -Y "$ECHO_CALL")" \
	"CALL +$caller -> org\.busd\.Echo busd\.examples\.Echo\.Echo serial=$serial"

REPLY="busd.kind == 2 && busd.reply_serial == $serial && busd.destination == \"$caller\""
expect_eq "its REPLY: reply_serial is the call's serial" \
	"$(ts "$PCAP" -Y "$REPLY" | wc -l | tr -d ' ')" 1
expect_eq "  sent by echo's unique id" "$(field "$PCAP" busd.sender "$REPLY")" "$echo_id"
expect_eq "  body type busd.examples.EchoReply" "$(field "$PCAP" busd.body_type "$REPLY")" \
	busd.examples.EchoReply

ERROR='busd.kind == 3 && busd.error_name == "org.busd.Echo.Error.Failed"'
expect_eq "Fail's ERROR: its name" "$(ts "$PCAP" -Y "$ERROR" | wc -l | tr -d ' ')" 1
expect_eq "  and message" "$(field "$PCAP" busd.error_message "$ERROR")" "as planned"
fail_serial=$(field "$PCAP" busd.serial 'busd.member == "Fail"')
expect_eq "  answers the Fail call" "$(field "$PCAP" busd.reply_serial "$ERROR")" "$fail_serial"

expect_eq "busd's answers carry sender bus (Hello's REPLY)" \
	"$(field "$PCAP" busd.body_type 'busd.sender == "bus"' | sort -u | grep -c HelloReply)" 1

# ---- bodies: by Wireshark's protobuf dissector, named with the .proto files
PB="-o uat:protobuf_search_paths:\"$PROTO_DIR\",\"TRUE\" -o protobuf.preload_protos:TRUE
	-o protobuf.pbf_as_hf:TRUE"
# shellcheck disable=SC2086
expect_eq "the call's body by name: pbf.busd.examples.EchoRequest.text" \
	"$(ts "$PCAP" $PB -Y "$ECHO_CALL" -T fields -e pbf.busd.examples.EchoRequest.text)" captured
# shellcheck disable=SC2086
expect_eq "  the reply's too, filtered by a body field" \
	"$(ts "$PCAP" $PB -Y 'pbf.busd.examples.EchoReply.text == "captured"' -T fields -e busd.sender)" \
	"$echo_id"
expect_eq "without them: field 1, its bytes read as a string" \
	"$(ts "$PCAP" -o protobuf.try_dissect_as_string:TRUE -Y "$ECHO_CALL" -T fields \
		-e protobuf.field.number -e protobuf.field.value.string | tr '\t' ' ')" "1 captured"
expect_match "  under the message type from the header" "$(ts "$PCAP" -Y "$ECHO_CALL" -V)" \
	'^Protocol Buffers: busd\.examples\.EchoRequest$'

# ---- the snaplen: a body longer than it is cut, the frame's length kept
big=$(head -c 70000 /dev/zero | tr '\0' x)
PCAP2="$TEST_TMP/cut.pcap"
bg "$BUSCTL" capture -o "$PCAP2" --snaplen 65548 --count 1 --match method=Echo
cap=$LAST_BG
wait_for 10 sh -c "[ \$('$BUSCTL' status | awk '\$1 == \"monitors\" { print \$2 }') -ge 1 ]"
"$BUSCTL" call org.busd.Echo Echo "{\"text\":\"$big\"}" >/dev/null
wait "$cap"
expect_eq "capture --snaplen 65548 --count 1 exits 0" "$?" 0
expect_eq "  the header says 65548" "$(od -An -tu4 -j16 -N4 "$PCAP2" | tr -d ' ')" 65548
hl=$(ts "$PCAP2" -T fields -e busd.header_len)
got=$((65548 - 12 - hl))
expect_eq "  tshark: the record cut at 65548 of the whole frame, body_len whole" \
	"$(ts "$PCAP2" -T fields -e frame.cap_len -e frame.len -e busd.body_len | tr '\t' ' ')" \
	"65548 $((12 + hl + 70004)) 70004"
expect_match "  and an expert note says so" "$(ts "$PCAP2" -T fields -e _ws.expert.message)" \
	"^$got of 70004 body bytes captured"
"$BUSCTL" decode "$PCAP2" >"$TEST_TMP/dec.out" 2>"$TEST_TMP/dec.err"
expect_eq "busctl decode of a cut frame exits 0" "$?" 0
expect_match "  prints the call, the captured body in hex" "$(cat "$TEST_TMP/dec.out")" \
	'CALL +:[0-9]+ +-> org\.busd\.Echo +busd\.examples\.Echo\.Echo .* size='"$got"' body=0a[0-9a-f]+\.\.\.$'
expect_match "  and says on stderr that it was cut" "$(cat "$TEST_TMP/dec.err")" \
	"record 1: body cut at $got of 70004 bytes"
# ---- a record whose header is broken: named as such, nothing else hurt
BAD="$TEST_TMP/bad.pcap"
{ printf '\324\303\262\241\002\000\004\000\000\000\000\000\000\000\000\000'
  printf '\000\000\004\000\223\000\000\000'
  printf '\000\000\000\000\000\000\000\000\015\000\000\000\015\000\000\000'
  printf 'BD\001\000\001\000\000\000\000\000\000\000\210'; } >"$BAD"
expect_eq "a header cut inside a field tag: tshark says malformed" \
	"$(ts "$BAD" -T fields -e _ws.expert.message)" "truncated field tag"
"$BUSCTL" decode "$BAD" >/dev/null 2>"$TEST_TMP/bad.err"
expect_eq "  busctl decode: exit 1, saying which record" "$? $(cat "$TEST_TMP/bad.err")" \
	"1 busctl: $BAD: record 1 is not a valid frame"
"$BUSCTL" capture -o "$TEST_TMP/x.pcap" --snaplen 1000 2>"$TEST_TMP/snap.err"
expect_eq "--snaplen below a whole header: exit 2" "$?" 2
finish
