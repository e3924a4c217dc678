#!/bin/sh
# test-busctl-bus.sh - busd's own name "bus" from the shell: busd serves the
# schema of its control service (bus.proto, built in), so busctl introspect
# and the JSON path of busctl call work on "bus" like on any service; the
# schema is charged to nobody, and a peer that uploads a bus.proto of its
# own or claims to export under "bus" changes nothing; calls the policy or
# busd refuses answer with a clear error; a frame above busd's limit is
# refused by busctl before it is sent.
. "$top_srcdir/tests/lib.sh"
SCHEMA_PEER="$top_builddir/tests/schema-peer"
plan 49

IN_FILE=/dev/null
run() {
	timeout "${RUN_TIMEOUT:-20}" "$BUSCTL" "$@" <"$IN_FILE" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
	RC=$?
	OUT=$(cat "$TEST_TMP/out")
	ERR=$(cat "$TEST_TMP/err")
}
# Evaluate the Python expression $1 with v = the JSON on stdin.
jq_() { python3 -c 'import json, sys
v = json.loads(sys.stdin.read())
print(eval(sys.argv[1]))' "$1"; }
counter() { "$BUSCTL" status | awk -v k="$1" '$1 == k { print $2 }'; }

# bus.proto's FileDescriptorSet, made as the build makes the one busd links in.
OWN_FDS="$TEST_TMP/bus.fds"
protoc --proto_path="$top_srcdir/proto" --include_imports --descriptor_set_out="$OWN_FDS" \
	"$top_srcdir/proto/bus.proto"
OWN_ID=$(sha256sum "$OWN_FDS" | cut -d' ' -f1)

busd_start

# ---- introspect bus, with nobody else on the bus
run introspect bus
expect_eq "introspect bus exits 0" "$RC" 0
expect_eq "  with nothing on stderr" "$ERR" ""
expect_match "  busd is its own owner, with one service" "$OUT" "^bus \(owner bus\): 1 service$"
expect_match "  bus.Bus" "$OUT" "^service bus\.Bus$"
expect_match "  ListNames with its request and reply types" "$OUT" \
	"^  ListNames +bus\.ListNamesRequest -> bus\.ListNamesReply$"
expect_match "  Stats" "$OUT" "^  Stats +bus\.StatsRequest -> bus\.StatsReply$"
expect_match "  GetNameOwner" "$OUT" "^  GetNameOwner +bus\.NameRequest -> bus\.PeerInfo$"
expect_match "  and the types, rendered" "$OUT" "^  uint32 max_frame_size = 18;$"
cp "$TEST_TMP/out" "$TEST_TMP/introspect-bus"
expect_eq "busd's schema is charged to nobody (schema_bytes 0)" "$(counter schema_bytes)" 0

run --json introspect bus
expect_eq "--json introspect bus: owner, service and its 17 methods" \
	"$(printf '%s' "$OUT" | jq_ 'v["owner"], v["services"][0]["service"], len(v["services"][0]["methods"])')" \
	"('bus', 'bus.Bus', 17)"
expect_eq "  Introspect's types" \
	"$(printf '%s' "$OUT" | jq_ '[(m["request"], m["reply"]) for m in v["services"][0]["methods"] if m["method"] == "Introspect"]')" \
	"[('bus.IntrospectRequest', 'bus.IntrospectReply')]"

run call bus Introspect '{"name":"bus"}'
expect_eq "call bus Introspect of bus: busd's own schema id (the SHA-256 of bus.fds)" \
	"$(printf '%s' "$OUT" | jq_ 'v["uniqueName"], v["services"], v["schemaIds"]')" \
	"('bus', ['bus.Bus'], ['$OWN_ID'])"
run call bus GetSchema "{\"id\":\"$OWN_ID\"}"
expect_eq "call bus GetSchema of it exits 0" "$RC" 0
printf '%s' "$OUT" | jq_ 'v["fileDescriptorSet"]' | base64 -d >"$TEST_TMP/served.fds"
check "  and gives bus.proto's FileDescriptorSet, byte for byte" "cmp -s '$OWN_FDS' '$TEST_TMP/served.fds'"

# ---- call bus METHOD JSON
bg "$ECHO_SVC"
ECHO_PID=$LAST_BG
wait_for 10 sh -c "'$BUSCTL' list | grep -q org.busd.Echo"

run call bus ListNames '{}'
expect_eq "call bus ListNames '{}' exits 0" "$RC" 0
expect_eq "  the echo service with its pid, comm and name" \
	"$(printf '%s' "$OUT" | jq_ '[(p["pid"], p["comm"]) for p in v["peers"] if "org.busd.Echo" in p.get("names", [])]')" \
	"[($ECHO_PID, 'echo')]"
expect_eq "  and the caller itself, busctl" \
	"$(printf '%s' "$OUT" | jq_ 'len([p for p in v["peers"] if p.get("comm") == "busctl"])')" 1
run call bus GetNameOwner '{"name":"org.busd.Echo"}'
expect_eq "call bus GetNameOwner: the owner's pid and comm" \
	"$(printf '%s' "$OUT" | jq_ 'v["pid"], v["comm"], v["names"]')" "($ECHO_PID, 'echo', ['org.busd.Echo'])"
run call bus Stats '{}'
expect_eq "call bus Stats: the max frame size, uint64 counters as strings" \
	"$(printf '%s' "$OUT" | jq_ 'v["maxFrameSize"], type(v["calls"]).__name__, v["peers"] >= 2')" \
	"(16777216, 'str', True)"

run call bus Hello '{"protocolVersion":1}'
expect_eq "a second Hello: exit 1" "$RC" 1
expect_eq "  busd's error, on one line" "$ERR" \
	"busctl: bus Hello: bus.Error.Failed: Hello was already called on this connection"
run call bus RequestName '{"name":"bus"}'
expect_eq "RequestName of bus: exit 1" "$RC" 1
expect_match "  InvalidArgs" "$ERR" "^busctl: bus RequestName: bus\.Error\.InvalidArgs: 'bus' is not a name that can be owned$"
run call bus GetSchema '{"id":"nope"}'
expect_eq "GetSchema of no schema: exit 1 with UnknownSchema" "$RC:$(printf '%s' "$ERR" | cut -d: -f3)" \
	"1: bus.Error.UnknownSchema"
run call bus Nope '{}'
expect_eq "a method bus.Bus does not have: exit 1" "$RC" 1
expect_match "  saying so" "$ERR" "describe no method Nope"
run call bus Stats '{"nope":1}'
expect_eq "a request that does not fit the type: exit 1" "$RC" 1
expect_match "  naming the field and the type" "$ERR" "not a valid bus\.StatsRequest: .*nope"

# ---- hostile peers cannot shadow bus
mkdir -p "$TEST_TMP/hostile"
cat >"$TEST_TMP/hostile/bus.proto" <<'EOF'
syntax = "proto3";
package bus;
message StealRequest { string what = 1; }
message StealReply { bytes loot = 1; }
service Bus {
  rpc Steal(StealRequest) returns (StealReply);
  rpc ListNames(StealRequest) returns (StealReply);
}
EOF
protoc --proto_path="$TEST_TMP/hostile" --include_imports \
	--descriptor_set_out="$TEST_TMP/hostile.fds" "$TEST_TMP/hostile/bus.proto"
check "a hostile bus.proto compiles (package bus, file bus.proto, service bus.Bus)" \
	"[ -s '$TEST_TMP/hostile.fds' ]"
"$SCHEMA_PEER" "file:$TEST_TMP/hostile.fds" org.evil.Bus bus.Bus >"$TEST_TMP/evil.out" 2>&1 &
_bg_pids="$_bg_pids $!"
wait_for 10 grep -q ready "$TEST_TMP/evil.out"
check "  its peer uploaded it and exports bus.Bus under its own name" \
	"grep -q ready '$TEST_TMP/evil.out'"

run introspect bus
expect_eq "introspect bus still exits 0" "$RC" 0
check "  and shows exactly what it showed before" "cmp -s '$TEST_TMP/introspect-bus' '$TEST_TMP/out'"
expect_eq "  (no Steal in it)" "$(grep -c Steal "$TEST_TMP/out")" 0
run call bus Introspect '{"name":"bus"}'
expect_eq "busd still lists only its own schema for bus" \
	"$(printf '%s' "$OUT" | jq_ 'v["schemaIds"]')" "['$OWN_ID']"
run call bus ListNames '{}'
expect_eq "call bus ListNames is still bus.Bus's (peers listed)" \
	"$(printf '%s' "$OUT" | jq_ 'len([p for p in v["peers"] if "org.evil.Bus" in p.get("names", [])])')" 1

run call bus Export '{"name":"bus","service":"bus.Bus"}'
expect_eq "a peer exporting under the name bus: exit 1" "$RC" 1
expect_eq "  refused with InvalidArgs" "$ERR" \
	"busctl: bus Export: bus.Error.InvalidArgs: the name 'bus' is busd's own: no peer exports under it"

# A peer that uploads busd's very bytes holds a copy of its own, charged to
# it; when it goes, busd's stays.
"$SCHEMA_PEER" "file:$OWN_FDS" org.copy.Bus bus.Bus >"$TEST_TMP/copy.out" 2>&1 &
COPY_PID=$!
_bg_pids="$_bg_pids $COPY_PID"
wait_for 10 grep -q ready "$TEST_TMP/copy.out"
run call bus GetNameOwner '{"name":"org.copy.Bus"}'
# Its bytes and busd's index of its methods: 20 bytes per method (one rpc
# line each in bus.proto).
own_cost=$(( $(wc -c <"$OWN_FDS") + 20 * $(grep -c '^ *rpc ' "$top_srcdir/proto/bus.proto") ))
expect_eq "a peer uploading busd's own bytes is charged for its copy" \
	"$(printf '%s' "$OUT" | jq_ 'v["schemaBytes"]')" "$own_cost"
kill "$COPY_PID"
wait_for 10 sh -c "! '$BUSCTL' list | grep -q org.copy.Bus"
check "  it is gone" "! '$BUSCTL' list | grep -q org.copy.Bus"
run call bus GetSchema "{\"id\":\"$OWN_ID\"}"
printf '%s' "$OUT" | jq_ 'v["fileDescriptorSet"]' | base64 -d >"$TEST_TMP/served2.fds"
check "  and busd still serves its own schema" "cmp -s '$OWN_FDS' '$TEST_TMP/served2.fds'"
run introspect bus
check "  introspect bus unchanged" "cmp -s '$TEST_TMP/introspect-bus' '$TEST_TMP/out'"

# ---- the policy answers control calls it refuses, clearly
kill "$ECHO_PID"
wait "$ECHO_PID" 2>/dev/null
busd_stop
printf '[policy]\ndeny = monitor\ndeny = own org.secret.*\n' >"$TEST_TMP/policy.conf"
busd_start -c "$TEST_TMP/policy.conf" --max-frame-size 1024
run call bus Monitor '{}'
expect_eq "call bus Monitor denied by the policy: exit 1" "$RC" 1
expect_eq "  AccessDenied naming the rule" "$ERR" \
	"busctl: bus Monitor: bus.Error.AccessDenied: monitor is not allowed ($TEST_TMP/policy.conf:2: deny monitor *)"
run call bus RequestName '{"name":"org.secret.x"}'
expect_match "call bus RequestName of a denied name: AccessDenied naming the rule" "$RC:$ERR" \
	"^1:busctl: bus RequestName: bus\.Error\.AccessDenied: .*policy\.conf:3: deny own org\.secret\.\*"

# ---- frames too big for busd are refused by busctl's libbus, not sent
head -c 2000 /dev/zero >"$TEST_TMP/big"
IN_FILE="$TEST_TMP/big"
run emit --raw big.event
expect_eq "emit of an event over busd's frame limit (1024 less 512): exit 1" "$RC" 1
expect_eq "  saying both sizes" "$ERR" \
	"busctl: emit big.event: bus.Error.LimitsExceeded: a 2000-byte body makes the event larger than the 512 bytes busd accepts in a frame (limits.max_frame_size less 512)"
run call --raw bus Stats
expect_eq "call --raw with a body over the limit: exit 1" "$RC" 1
expect_match "  LimitsExceeded with both sizes, not a lost connection" "$ERR" \
	"^busctl: bus Stats: bus\.Error\.LimitsExceeded: the frame of [0-9]+ bytes is larger than the 512 bytes busd accepts from this connection \(limits\.max_frame_size less 512\): not sent$"
IN_FILE=/dev/null
expect_eq "busd counted no protocol error" "$(counter protocol_errors)" 0

finish
