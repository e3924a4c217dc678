#!/bin/sh
# test-busctl.sh - busctl against a real busd and the example services:
# list, call (through protoc --encode/--decode and raw), errors and their
# exit status, emit and listen, monitor, status, usage errors and --help;
# hostile peers (tests/schema-peer) whose schemas busctl refuses, what
# listen fetches when event types are unknown, and terminal escapes; the
# command line (options after the command, --json modes, help and its
# alignment, wait, call --no-reply with tests/recorder, "--", a renamed
# busctl).
. "$top_srcdir/tests/lib.sh"
SCHEMA_PEER="$top_builddir/tests/schema-peer"
RECORDER="$top_builddir/tests/recorder"
plan 258

PROTO="--proto_path=$top_srcdir/proto"
encode() { protoc "$PROTO" --encode="$1" "$2"; }
decode() { protoc "$PROTO" --decode="$1" "$2"; }
# Run busctl with a time limit ($RUN_TIMEOUT, 20 s unless set); sets OUT,
# ERR and RC. Input from $IN_FILE.
IN_FILE=/dev/null
run() {
	timeout "${RUN_TIMEOUT:-20}" "$BUSCTL" "$@" <"$IN_FILE" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
	RC=$?
	OUT=$(cat "$TEST_TMP/out")
	ERR=$(cat "$TEST_TMP/err")
}
lines() {
	if [ -z "$1" ]; then echo 0; else printf '%s\n' "$1" | wc -l | tr -d ' '; fi
}
# The value of counter $1 in `busctl status`.
counter() { "$BUSCTL" status | awk -v k="$1" '$1 == k { print $2 }'; }

busd_start
bg "$ECHO_SVC"
ECHO_PID=$LAST_BG
bg "$SENSOR_SVC" --interval 100
wait_for 10 sh -c "'$BUSCTL' list | grep -q org.busd.Echo && '$BUSCTL' list | grep -q org.busd.Sensor"

# ---- list
run list
expect_eq "list exits 0" "$RC" 0
expect_match "list has a header" "$OUT" "^NAME +UNIQUE +PID +UID +GID +COMM +GROUPS$"
expect_match "org.busd.Echo is listed with echo's pid, uid and comm" "$OUT" \
	"^org\.busd\.Echo +:[0-9]+ +$ECHO_PID +$(id -u) +$(id -g) +echo +[-0-9,]+$"
echo_id=$(printf '%s\n' "$OUT" | awk '$1 == "org.busd.Echo" { print $2 }')
expect_match "  and its unique id has a row of its own" "$OUT" "^$echo_id +$echo_id +$ECHO_PID "
expect_match "org.busd.Sensor is listed" "$OUT" "org\.busd\.Sensor +:[0-9]+ +[0-9]+ +$(id -u) +$(id -g) +sensor"

# ---- call
echo 'text: "hello" data: "\001\002"' | encode busd.examples.EchoRequest echo.proto >"$TEST_TMP/req"
IN_FILE="$TEST_TMP/req"
run call --raw --type busd.examples.EchoRequest org.busd.Echo Echo
expect_eq "call --raw Echo exits 0" "$RC" 0
expect_eq "  with nothing on stderr" "$ERR" ""
reply=$(decode busd.examples.EchoReply echo.proto <"$TEST_TMP/out")
expect_eq "  and the reply decodes to the request's fields" "$reply" 'text: "hello"
data: "\001\002"'
check "  byte for byte (Echo returns its request)" "cmp -s '$TEST_TMP/req' '$TEST_TMP/out'"

run call --raw --interface busd.examples.Echo "$echo_id" Echo
expect_eq "call by unique id with --interface exits 0" "$RC" 0
check "  and returns the request" "cmp -s '$TEST_TMP/req' '$TEST_TMP/out'"

echo 'sensor: "temp1"' | encode busd.examples.ReadRequest sensor.proto >"$TEST_TMP/read"
IN_FILE="$TEST_TMP/read"
run call --raw org.busd.Sensor Read
expect_eq "call Sensor Read exits 0" "$RC" 0
reading=$(decode busd.examples.Reading sensor.proto <"$TEST_TMP/out" | tr '\n' ' ')
expect_match "  and the reply is temp1's reading" "$reading" \
	'^sensor: "temp1" value: [0-9.]+ unit: "C" seq: [0-9]+ time_usec: [0-9]+ $'

IN_FILE=/dev/null
run call --raw org.busd.Echo Echo
expect_eq "an empty body is a valid (empty) request" "$RC" 0
expect_eq "  and the empty reply writes nothing" "$(wc -c <"$TEST_TMP/out" | tr -d ' ')" 0

# ---- errors: one line on stderr, exit 1, nothing on stdout
echo 'message: "as asked"' | encode busd.examples.FailRequest echo.proto >"$TEST_TMP/fail"
IN_FILE="$TEST_TMP/fail"
run call --raw org.busd.Echo Fail
expect_eq "a service error exits 1" "$RC" 1
expect_eq "  with one line on stderr" "$(lines "$ERR")" 1
expect_eq "  naming the call, the error and its message" "$ERR" \
	"busctl: org.busd.Echo Fail: org.busd.Echo.Error.Failed: as asked"
expect_eq "  and nothing on stdout" "$OUT" ""

IN_FILE=/dev/null
run call org.test.Nobody Ping
expect_eq "a name without owner exits 1" "$RC" 1
expect_match "  with bus.Error.NameHasNoOwner" "$ERR" "^busctl: org\.test\.Nobody Ping: bus\.Error\.NameHasNoOwner: "

run call --raw org.busd.Echo NoSuchMethod
expect_eq "an unknown method exits 1" "$RC" 1
expect_match "  with bus.Error.UnknownMethod" "$ERR" "bus\.Error\.UnknownMethod"

IN_FILE="$TEST_TMP/req"
run call --raw --type busd.examples.Wrong org.busd.Echo Echo
expect_eq "a wrong --type exits 1" "$RC" 1
expect_match "  with bus.Error.InvalidArgs naming both types" "$ERR" \
	"bus\.Error\.InvalidArgs: .*busd\.examples\.EchoRequest.*busd\.examples\.Wrong"

echo 'ms: 5000' | encode busd.examples.DelayRequest echo.proto >"$TEST_TMP/delay"
IN_FILE="$TEST_TMP/delay"
run --timeout 0.3 call --raw org.busd.Echo Delay
expect_eq "a reply later than --timeout exits 1" "$RC" 1
expect_match "  with bus.Error.Timeout" "$ERR" "^busctl: org\.busd\.Echo Delay: bus\.Error\.Timeout"

IN_FILE=/dev/null
run call 'not a name' Echo
expect_eq "an invalid destination exits 1" "$RC" 1
expect_eq "  with one line" "$(lines "$ERR")" 1

run --socket "$TEST_TMP/nobody.sock" status
expect_eq "no busd on the socket: exit 1" "$RC" 1
expect_match "  with a line naming the socket" "$ERR" "^busctl: cannot connect to busd at .*nobody\.sock: "
expect_eq "  and only one" "$(lines "$ERR")" 1

run --socket "$BUS_ADDRESS" status
expect_eq "--socket overrides \$BUS_ADDRESS" "$RC" 0

# ---- emit and listen
subs0=$(counter subscriptions)
"$BUSCTL" listen --count 2 'test.*' >"$TEST_TMP/listen" 2>&1 &
listen_pid=$!
wait_for 10 sh -c "[ \$('$BUSCTL' status | awk '\$1 == \"subscriptions\" { print \$2 }') -gt $subs0 ]"
printf 'abc' >"$TEST_TMP/abc"
IN_FILE="$TEST_TMP/abc"
run emit --raw --type test.Blob test.one
expect_eq "emit exits 0" "$RC" 0
IN_FILE=/dev/null
run emit --raw other.topic
run emit --raw test.deeper.two
wait "$listen_pid"
expect_eq "listen --count 2 exits 0 after two events" "$?" 0
got=$(cat "$TEST_TMP/listen")
expect_eq "  and printed two lines" "$(lines "$got")" 2
expect_match "  the first: time, sender, topic, type, size and body" "$(echo "$got" | sed -n 1p)" \
	"^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} :[0-9]+ +test\.one type=test\.Blob size=3 body=616263$"
expect_match "  the second matched test.* at depth two; other.topic was not delivered" \
	"$(echo "$got" | sed -n 2p)" "^[0-9:.]+ :[0-9]+ +test\.deeper\.two type=- size=0$"

run listen --count 3 sensor.temp0.reading
expect_eq "listen to the sensor's exact topic exits 0" "$RC" 0
expect_eq "  after three lines" "$(lines "$OUT")" 3
expect_eq "  all on sensor.temp0.reading from the sensor" \
	"$(printf '%s\n' "$OUT" | awk '{ print $3, $4 }' | sort -u)" \
	"sensor.temp0.reading type=busd.examples.Reading"

# ---- monitor
"$BUSCTL" monitor --count 200 >"$TEST_TMP/monitor" 2>&1 &
mon_pid=$!
wait_for 10 sh -c "[ \$('$BUSCTL' status | awk '\$1 == \"monitors\" { print \$2 }') -ge 1 ]"
IN_FILE="$TEST_TMP/req"
run call --raw --type busd.examples.EchoRequest org.busd.Echo Echo
IN_FILE="$TEST_TMP/fail"
run call --raw org.busd.Echo Fail
wait_for 10 sh -c "grep -q 'error=org.busd.Echo.Error.Failed' '$TEST_TMP/monitor' &&
	grep -q 'sensor.temp[01].reading' '$TEST_TMP/monitor'"
kill "$mon_pid"
wait "$mon_pid" 2>/dev/null
mon=$(cat "$TEST_TMP/monitor")
call_line=$(printf '%s\n' "$mon" | grep -E ' CALL .*-> org\.busd\.Echo +Echo ' | tail -n 1)
expect_match "monitor shows the CALL: sender, destination, method, serial, type, size, body" "$call_line" \
	"^[0-9:.]+ CALL  :[0-9]+ +-> org\.busd\.Echo +Echo serial=[0-9]+ type=busd\.examples\.EchoRequest size=$(wc -c <"$TEST_TMP/req" | tr -d ' ') \\{ *\"text\": *\"hello\", *\"data\": *\"AQI=\" *\\}$"
caller=$(echo "$call_line" | awk '{ print $3 }')
serial=$(echo "$call_line" | sed 's/.* serial=\([0-9]*\).*/\1/')
expect_match "  and its REPLY from echo back to the caller, with reply_serial" "$mon" \
	"REPLY $echo_id +-> $caller +serial=[0-9]+ reply_serial=$serial latency=[0-9]+us type=busd\.examples\.EchoReply"
expect_match "  and the ERROR of Fail with its name and message" "$mon" \
	"ERROR $echo_id +-> :[0-9]+ +serial=[0-9]+ reply_serial=[0-9]+ latency=[0-9]+us size=0 error=org\.busd\.Echo\.Error\.Failed: as asked"
expect_match "  and the sensor's events" "$mon" "EVENT :[0-9]+ +-> \* +sensor\.temp[01]\.reading serial="

# ---- status
IN_FILE=/dev/null
calls0=$(counter calls)
run call --raw org.busd.Echo Echo
calls1=$(counter calls)
run status
expect_eq "status exits 0" "$RC" 0
expect_match "  and shows the peers" "$OUT" "^peers +[1-9][0-9]*$"
expect_match "  the names" "$OUT" "^names +[0-9]+$"
expect_match "  and max_frame_size" "$OUT" "^max_frame_size +16777216$"
check "  the calls counter grew by the call and status's own Hello calls ($calls0 -> $calls1)" \
	"[ '$calls1' -ge $((calls0 + 2)) ]"
expect_match "  what busd holds for its peers" "$OUT" "^connections +[1-9][0-9]*$"
expect_match "  and a line per uid, this one's with its connections and the echo's schema" "$OUT" \
	"^$(id -u) +[1-9][0-9]* +[0-9]+ +[0-9]+ +[0-9]+ +[1-9][0-9]* +[0-9]+ +[1-9][0-9]* +[1-9][0-9]*$"

# ---- JSON: introspect, call, emit and listen, monitor, --json, capture
norm() { python3 -c 'import json, sys; print(json.dumps(json.loads(sys.stdin.read()), sort_keys=True))'; }
# field NAME of the JSON object on stdin, as JSON
jget() { python3 -c 'import json, sys
v = json.loads(sys.stdin.read())
for k in sys.argv[1].split("."):
    v = v[k]
print(json.dumps(v))' "$1"; }

IN_FILE=/dev/null
run introspect org.busd.Echo
expect_eq "introspect exits 0" "$RC" 0
expect_match "  names the owner" "$OUT" "^org\.busd\.Echo \(owner $echo_id\): 1 service$"
expect_match "  lists Echo with its request and reply types" "$OUT" \
	"^  Echo +busd\.examples\.EchoRequest -> busd\.examples\.EchoReply$"
expect_match "  and Delay" "$OUT" "^  Delay +busd\.examples\.DelayRequest -> busd\.examples\.EchoReply$"
expect_match "  and renders the service like a .proto" "$OUT" "rpc Delay *\(.*DelayRequest\) returns \(.*EchoReply\)"
expect_match "  with the types it uses" "$OUT" "message .*DelayRequest"
expect_match "  and their fields" "$OUT" "uint32 ms = 1;"
run introspect org.test.Nobody
expect_eq "introspect of a name nobody owns exits 1" "$RC" 1
expect_match "  with NameHasNoOwner" "$ERR" "bus\.Error\.NameHasNoOwner"
run --json introspect org.busd.Sensor
expect_eq "--json introspect: the Read method" "$(printf '%s' "$OUT" | jget services | python3 -c 'import json,sys; s=json.load(sys.stdin)[0]; print(s["service"], s["methods"][0]["method"], s["methods"][0]["request"], s["methods"][0]["reply"])')" \
	"busd.examples.Sensor Read busd.examples.ReadRequest busd.examples.Reading"

run call org.busd.Echo Echo '{"text":"hi","data":"AAEC"}'
expect_eq "call with JSON exits 0" "$RC" 0
expect_eq "  and prints the reply as JSON" "$(printf '%s' "$OUT" | norm)" '{"data": "AAEC", "text": "hi"}'
expect_eq "  on one line (stdout is not a terminal)" "$(lines "$OUT")" 1
printf '{"text": "from stdin"}' >"$TEST_TMP/in.json"
IN_FILE="$TEST_TMP/in.json"
run call org.busd.Echo Echo
expect_eq "the JSON request may come from stdin" "$(printf '%s' "$OUT" | jget text)" '"from stdin"'
IN_FILE=/dev/null
run call org.busd.Echo Echo
expect_eq "no request at all is {}" "$(printf '%s' "$OUT" | norm)" '{}'
run call org.busd.Sensor Read '{"sensor":"temp1"}'
expect_eq "call Sensor Read with JSON: the reading of temp1" "$(printf '%s' "$OUT" | jget sensor)" '"temp1"'
expect_match "  its uint64 seq as a JSON string (proto3 mapping)" "$(printf '%s' "$OUT" | jget seq)" '^"[0-9]+"$'
run call org.busd.Sensor Read '{"sensor":"nope"}'
expect_eq "a service error with JSON: exit 1" "$RC" 1
expect_match "  with its name" "$ERR" "^busctl: org\.busd\.Sensor Read: org\.busd\.Sensor\.Error\.NoSuchSensor: "
run call org.busd.Echo Echo '{"txt":"x"}'
expect_eq "an unknown field: exit 1" "$RC" 1
expect_match "  naming the field and the type" "$ERR" "^busctl: org\.busd\.Echo Echo: the request is not a valid busd\.examples\.EchoRequest: .*txt"
run call org.busd.Echo Delay '{"ms":"soon"}'
expect_eq "a wrong type: exit 1" "$RC" 1
expect_match "  naming the JSON path" "$ERR" "\.ms"
run call org.busd.Echo Echo '{"text":'
expect_eq "malformed JSON: exit 1" "$RC" 1
expect_eq "  with one line" "$(lines "$ERR")" 1
run call org.busd.Echo Nope '{}'
expect_eq "a method the schema does not have: exit 1" "$RC" 1
expect_match "  saying so" "$ERR" "describe no method Nope"

subs0=$(counter subscriptions)
"$BUSCTL" --json listen --count 1 'json.*' >"$TEST_TMP/jlisten" 2>&1 &
jl=$!
wait_for 10 sh -c "[ \$('$BUSCTL' status | awk '\$1 == \"subscriptions\" { print \$2 }') -gt $subs0 ]"
run emit json.test busd.examples.Reading '{"sensor":"x","value":1.5,"seq":"18446744073709551615"}'
expect_eq "emit TOPIC TYPE JSON exits 0" "$RC" 0
wait "$jl"
ev=$(cat "$TEST_TMP/jlisten")
expect_eq "listen --json: one object" "$(lines "$ev")" 1
expect_eq "  on the topic" "$(printf '%s' "$ev" | jget topic)" '"json.test"'
expect_eq "  with the body decoded, uint64 max intact" "$(printf '%s' "$ev" | jget body | norm)" \
	'{"sensor": "x", "seq": "18446744073709551615", "value": 1.5}'
run emit json.test busd.examples.Nothing '{}'
expect_eq "emit with a type no schema describes: exit 1" "$RC" 1

"$BUSCTL" --json monitor --match kind=reply,sender=$echo_id --count 1 >"$TEST_TMP/jmon" 2>"$TEST_TMP/jmon.err" &
jm=$!
wait_for 10 sh -c "[ \$('$BUSCTL' status | awk '\$1 == \"monitors\" { print \$2 }') -ge 1 ]"
run call org.busd.Echo Echo '{"text":"watched"}'
wait "$jm"
jmon=$(cat "$TEST_TMP/jmon")
expect_eq "monitor --json --match kind=reply: the one reply" "$(printf '%s' "$jmon" | jget kind)" '"REPLY"'
expect_eq "  decoded" "$(printf '%s' "$jmon" | jget body.text)" '"watched"'
expect_match "  with the latency since its call" "$(printf '%s' "$jmon" | jget latency_us)" '^[0-9]+$'
run monitor --match colour=red
expect_eq "a bad --match: exit 2" "$RC" 2

run --json list
expect_match "list --json: a line per name" "$OUT" '^\{"name":"org\.busd\.Echo","unique":"'"$echo_id"'","pid":'"$ECHO_PID"','
run --json status
expect_match "status --json: the counters" "$(printf '%s' "$OUT" | jget max_frame_size)" '^16777216$'
expect_match "  and the per-uid table, this uid in it" \
	"$(printf '%s' "$OUT" | python3 -c 'import json, sys
print(" ".join(str(u["uid"]) for u in json.loads(sys.stdin.read())["users"]))')" "(^| )$(id -u)( |$)"

"$BUSCTL" capture -o "$TEST_TMP/cap.pcap" --match method=Echo --count 1 2>"$TEST_TMP/cap.err" &
cap=$!
wait_for 10 sh -c "[ \$('$BUSCTL' status | awk '\$1 == \"monitors\" { print \$2 }') -ge 1 ]"
run call org.busd.Echo Echo '{"text":"captured"}'
wait "$cap"
expect_eq "capture --count 1 exits 0" "$?" 0
expect_eq "  writes a pcap file (magic, link type 147)" \
	"$(od -An -tx4 -N24 "$TEST_TMP/cap.pcap" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')" \
	"a1b2c3d4 00040002 00000000 00000000 00040000 00000093"
run decode "$TEST_TMP/cap.pcap"
expect_eq "decode exits 0" "$RC" 0
expect_match "  and prints the captured call, decoded" "$OUT" \
	'^[0-9:.]+ CALL  :[0-9]+ +-> org\.busd\.Echo +busd\.examples\.Echo\.Echo serial=[0-9]+ type=busd\.examples\.EchoRequest size=[0-9]+ \{ *"text": *"captured" *\}$'
run --json decode "$TEST_TMP/cap.pcap"
expect_eq "decode --json: the body" "$(printf '%s' "$OUT" | jget body.text)" '"captured"'
printf 'not a capture at all, no' >"$TEST_TMP/bad.pcap"
run decode "$TEST_TMP/bad.pcap"
expect_eq "decode of something else: exit 1" "$RC" 1
expect_match "  saying so" "$ERR" "not a pcap file"

# ---- schemas hostile peers uploaded (busd stores them unread): busctl
# refuses them with one line naming the peer and why, and goes on
bg "$SCHEMA_PEER" deep:100000 org.test.Deep d.Deep >/dev/null
hostile_pids=$LAST_BG
bg "$SCHEMA_PEER" nameless org.test.Nameless h.Nameless >/dev/null
hostile_pids="$hostile_pids $LAST_BG"
bg "$SCHEMA_PEER" chain:60000 org.test.Chain c.Chain >/dev/null
hostile_pids="$hostile_pids $LAST_BG"
wait_for 20 sh -c "'$BUSCTL' list >'$TEST_TMP/names' && grep -q org.test.Deep '$TEST_TMP/names' &&
	grep -q org.test.Nameless '$TEST_TMP/names' && grep -q org.test.Chain '$TEST_TMP/names'"
deep_id=$(awk '$1 == "org.test.Deep" { print $2 }' "$TEST_TMP/names")
IN_FILE=/dev/null
run introspect org.test.Deep
expect_eq "introspect of a schema nested 100,000 deep: exit 1 (it overflowed the stack)" "$RC" 1
expect_eq "  with one line" "$(lines "$ERR")" 1
expect_match "  naming the peer's schema and why it is refused" "$ERR" \
	"^busctl: org\.test\.Deep: [a-zA-Z.]+: schema [0-9a-f]{64} of $deep_id refused: the set nests messages more than 32 deep$"
run call org.test.Deep Get '{}'
expect_eq "call against it: exit 1 (it overflowed the stack)" "$RC" 1
expect_match "  saying why" "$ERR" "^busctl: org\.test\.Deep Get: .*refused: the set nests messages"
run call org.test.Nameless Get '{"x":1}'
expect_eq "call against a schema with a nameless field: exit 1 (the encoder crashed)" "$RC" 1
expect_match "  naming the field" "$ERR" "refused: nameless\.proto: field 1 of h\.M has no name$"
run emit json.test busd.examples.Reading '{"sensor":"x"}'
expect_eq "emit with the hostile schemas on the bus: exit 0 (it overflowed the stack)" "$RC" 0
expect_match "  a line on each schema ignored, naming the peer" "$ERR" \
	"^busctl: ignoring schema [0-9a-f]{64} of $deep_id \(pid [0-9]+, schema-peer\): the set nests messages more than 32 deep$"
expect_match "  the nameless one too" "$ERR" "^busctl: ignoring schema .*: nameless\.proto: field 1 of h\.M has no name$"
run listen --count 1 sensor.temp0.reading
expect_eq "listen with them on the bus: exit 0 (it overflowed the stack)" "$RC" 0
expect_match "  and the sensor's events still decode" "$OUT" 'type=busd\.examples\.Reading size=[0-9]+ \{"sensor":"temp0",'
run monitor --count 1 --match kind=event,topic=sensor.*
expect_eq "monitor with them on the bus: exit 0 (it overflowed the stack)" "$RC" 0
expect_match "  decoding too" "$OUT" 'EVENT .*type=busd\.examples\.Reading size=[0-9]+ \{"sensor":'
RUN_TIMEOUT=40
run introspect org.test.Chain
RUN_TIMEOUT=20
expect_eq "introspect of a chain of 60,000 types: exit 0 (took a minute: killed at 40 s)" "$RC" 0
expect_match "  rendering its last type" "$OUT" "^message c\.M59999 \{$"

# ---- listen looks for unknown types without fetching every schema again:
# 50 events of 50 types no schema describes (each one used to refetch every
# schema on the bus), counted with a raw monitor of the calls to busd (--all:
# busctl's own queries are what is counted)
kill $hostile_pids
wait_for 10 sh -c "! '$BUSCTL' list | grep -q org.test."
bg "$SCHEMA_PEER" "file:$top_builddir/tests/json-test.fds" org.test.Json jt.Svc >/dev/null
wait_for 10 sh -c "'$BUSCTL' list | grep -q org.test.Json"
mons0=$(counter monitors)
"$BUSCTL" --json monitor --raw --all --match kind=call,destination=bus >"$TEST_TMP/fetches" 2>&1 &
fmon=$!
wait_for 10 sh -c "[ \$('$BUSCTL' status | awk '\$1 == \"monitors\" { print \$2 }') -gt $mons0 ]"
subs0=$(counter subscriptions)
"$BUSCTL" listen --count 50 'amp.*' >"$TEST_TMP/amp" 2>"$TEST_TMP/amp.err" &
lamp=$!
wait_for 10 sh -c "[ \$('$BUSCTL' status | awk '\$1 == \"subscriptions\" { print \$2 }') -gt $subs0 ]"
bg "$SCHEMA_PEER" --emit 50 none org.test.Amp a.Amp >/dev/null
wait "$lamp"
expect_eq "listen --count 50 of unknown types exits 0" "$?" 0
expect_eq "  after printing them undecoded" "$(grep -c 'type=amp\.Unknown[0-9]* size=2 body=0801$' "$TEST_TMP/amp")" 50
"$BUSCTL" call --raw bus SyncMark </dev/null >/dev/null 2>&1
wait_for 10 grep -q '"method":"SyncMark"' "$TEST_TMP/fetches"
kill "$fmon"
wait "$fmon" 2>/dev/null
# GetSchemaRequest { id = 1 }: the id from each call's body
fetches=$(python3 -c 'import base64, json, sys
ids, lists = [], 0
for line in open(sys.argv[1]):
    f = json.loads(line)
    if f.get("method") == "GetSchema":
        ids.append(base64.b64decode(f["body_base64"])[2:].decode())
    lists += f.get("method") == "ListNames"
print(len(ids), len(set(ids)), lists)' "$TEST_TMP/fetches")
set -- $fetches
check "  it fetched the schemas on the bus ($2 of them) once each, not again per type ($1 fetches)" \
	"[ $2 -ge 3 ] && [ $1 -eq $2 ]"
check "  and looked at the bus far fewer times than there were types ($3 ListNames for 50)" \
	"[ $3 -le 10 ]"
run --max-schema-bytes 1 listen --count 1 sensor.temp0.reading
expect_eq "listen --max-schema-bytes 1: exit 0" "$RC" 0
expect_match "  fetching no more schemas after the first, saying so" "$ERR" \
	"^busctl: fetched [0-9]+ bytes in 1 schemas, busctl's limits \(--max-schema-bytes 1, 4096 schemas\): fetching no more$"
run --max-schema-bytes 1x status
expect_eq "--max-schema-bytes 1x: exit 2" "$RC" 2

# ---- terminal escapes in what peers choose (process names, error
# messages, bodies) reach the operator's terminal escaped
# The control characters (but newlines), DEL, C1 and bytes that are not
# UTF-8 in a file: how many.
raw_controls() { python3 -c 'import sys
d = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
print(sum(1 for c in d if (ord(c) < 32 and c != "\n") or 127 <= ord(c) < 160 or c == "\ufffd"))' "$1"; }
# ESC ] 0 ; x BEL (sets a terminal's title), C1 CSI, a byte that is not UTF-8
bg "$SCHEMA_PEER" --comm "$(printf 'e\033]0;x\007\302\233\377')" none org.test.Esc e.Esc >/dev/null
wait_for 10 sh -c "'$BUSCTL' list | grep -q org.test.Esc"
run list
expect_eq "list prints a process name with escapes in it escaped" "$(raw_controls "$TEST_TMP/out")" 0
expect_match "  as C escapes" "$OUT" '^org\.test\.Esc +:[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ e\\x1b\]0;x\\x07\\xc2\\x9b\\xff +'
run --json list
expect_eq "list --json: no raw control characters or bytes that are not UTF-8 either" \
	"$(raw_controls "$TEST_TMP/out")" 0
expect_eq "  the name as JSON escapes (U+FFFD for the stray byte)" \
	"$(printf '%s\n' "$OUT" | grep org.test.Esc | python3 -c 'import json, sys; print(ascii(json.loads(sys.stdin.read())["comm"]))')" \
	"'e\\x1b]0;x\\x07\\x9b\\ufffd'"
"$BUSCTL" monitor --count 1 --match kind=error >"$TEST_TMP/escmon" 2>&1 &
escmon=$!
wait_for 10 sh -c "[ \$('$BUSCTL' status | awk '\$1 == \"monitors\" { print \$2 }') -ge 1 ]"
run call org.busd.Echo Fail '{"message":"a\u001b[2Jb\u009bc\nbusctl: forged"}'
expect_eq "an error message with escapes and a newline: one line on stderr" "$(lines "$ERR")" 1
expect_eq "  without raw control characters" "$(raw_controls "$TEST_TMP/err")" 0
expect_match "  the message escaped" "$ERR" 'Failed: a\\x1b\[2Jb\\xc2\\x9bc\\nbusctl: forged$'
wait "$escmon"
expect_eq "monitor prints that error without raw control characters" "$(raw_controls "$TEST_TMP/escmon")" 0
expect_match "  escaped" "$(cat "$TEST_TMP/escmon")" 'error=org\.busd\.Echo\.Error\.Failed: a\\x1b\[2Jb'
subs0=$(counter subscriptions)
"$BUSCTL" listen --count 1 'esc.*' >"$TEST_TMP/esclisten" 2>&1 &
escl=$!
wait_for 10 sh -c "[ \$('$BUSCTL' status | awk '\$1 == \"subscriptions\" { print \$2 }') -gt $subs0 ]"
run emit esc.test busd.examples.Reading '{"sensor":"s\u001b[2J\u007f\u009b"}'
wait "$escl"
expect_eq "listen prints a body with ESC, DEL and C1 in a string without them raw" \
	"$(raw_controls "$TEST_TMP/esclisten")" 0
expect_match "  as JSON escapes" "$(cat "$TEST_TMP/esclisten")" '"sensor":"s\\u001b\[2J\\u007f\\u009b"'

# ---- emit under a policy that refuses it: busctl says so and exits 1
printf '[policy]\ndeny = emit alarm.*\n' >"$TEST_TMP/policy.conf"
"$BUSD" -c "$TEST_TMP/policy.conf" --socket "$TEST_TMP/policy.sock" 2>"$TEST_TMP/policy.log" &
pbusd=$!
wait_for 10 env BUS_ADDRESS="$TEST_TMP/policy.sock" "$BUSCTL" status
BUS_ADDRESS="$TEST_TMP/policy.sock" "$BUSCTL" emit --raw alarm.fire </dev/null >"$TEST_TMP/o" 2>"$TEST_TMP/e"
expect_eq "emit refused by the policy: exit 1" "$?" 1
expect_match "  saying why, with the rule" "$(cat "$TEST_TMP/e")" \
	"^busctl: emit alarm.fire: bus.Error.AccessDenied: emit alarm.fire is not allowed \($TEST_TMP/policy.conf:2: deny emit alarm\.\*\)$"
BUS_ADDRESS="$TEST_TMP/policy.sock" "$BUSCTL" emit --raw public.news </dev/null
expect_eq "  another topic: exit 0" "$?" 0
kill "$pbusd"
wait "$pbusd"

# ---- usage
run
expect_eq "no command: exit 2" "$RC" 2
run frobnicate
expect_eq "an unknown command: exit 2" "$RC" 2
expect_match "  naming it" "$ERR" "unknown command \"frobnicate\""
run call org.busd.Echo
expect_eq "call without METHOD: exit 2" "$RC" 2
run listen --count 0
expect_eq "listen --count 0: exit 2" "$RC" 2
run --timeout abc status
expect_eq "--timeout abc: exit 2" "$RC" 2
run call --bogus org.busd.Echo Echo
expect_eq "an unknown option of a command: exit 2" "$RC" 2
expect_match "  naming it" "$ERR" "unknown option --bogus"
run --help
expect_eq "--help exits 0" "$RC" 0
for c in list status introspect call emit listen monitor capture decode; do
	expect_match "  and lists $c" "$OUT" "^  $c "
done
for c in list status introspect call emit listen monitor capture decode; do
	run "$c" --help
	expect_eq "$c --help exits 0" "$RC" 0
	expect_match "  and shows its usage" "$OUT" "^Usage: busctl .*$c"
done

# ---- the command line as systemd's busctl and ubus users expect it:
# options anywhere, --json modes, help, wait, calls without a reply, "--"
run list --json
expect_eq "options after the command: list --json exits 0" "$RC" 0
expect_match "  and prints a line per name" "$OUT" '^\{"name":"org\.busd\.Echo","unique":"'"$echo_id"'",'
run status -j
expect_eq "status -j: the counters as JSON" "$(printf '%s' "$OUT" | jget max_frame_size)" 16777216
run call org.busd.Echo Echo '{"text":"late"}' --timeout 3
expect_eq "call NAME METHOD JSON --timeout 3: the reply" "$(printf '%s' "$OUT" | jget text)" '"late"'
run call org.busd.Echo Echo '{"text":"x"}' --timeout abc
expect_eq "a bad --timeout after the command: exit 2" "$RC" 2
expect_match "  saying why" "$ERR" '^busctl: --timeout takes seconds \(0 for none\), not "abc"$'
run status --socket "$TEST_TMP/nobody.sock"
expect_eq "--socket after the command is the socket busctl uses: exit 1" "$RC" 1
expect_match "  naming it" "$ERR" "^busctl: cannot connect to busd at .*nobody\.sock: "
run list --user --socket "$BUS_ADDRESS"
expect_eq "two options that choose the bus, after the command: exit 2" "$RC" 2
run list --bogus
expect_eq "an unknown option after the command: exit 2" "$RC" 2
expect_match "  naming the option and the command" "$ERR" "^busctl list: unknown option --bogus$"
run status -x
expect_match "  a short one too" "$ERR" "^busctl status: unknown option -x$"
run list --long=yes
expect_match "  a value given to an option that takes none" "$ERR" "^busctl list: option --long takes no value$"
run --bogus list
expect_eq "an unknown option before the command: exit 2" "$RC" 2
expect_match "  naming it" "$ERR" "^busctl: unknown option --bogus "

# One JSON document: --json=pretty and --json=short on list, status and
# introspect; streams stay one object per line.
parses() { printf '%s\n' "$1" | python3 -m json.tool >/dev/null 2>&1 && echo parses || echo "does not parse"; }
run list --json=pretty
expect_eq "list --json=pretty exits 0" "$RC" 0
expect_eq "  one document: python3 -m json.tool reads it" "$(parses "$OUT")" parses
expect_eq "  an array of the names, org.busd.Echo among them with its owner" \
	"$(printf '%s' "$OUT" | python3 -c 'import json, sys
a = json.load(sys.stdin)
print(type(a).__name__, [r["unique"] for r in a if r["name"] == "org.busd.Echo"][0])')" "list $echo_id"
check "  indented over several lines ($(lines "$OUT"))" "[ $(lines "$OUT") -gt 3 ]"
run -j=pretty status
expect_eq "-j=pretty status (before the command): one document" "$(parses "$OUT")" parses
expect_eq "  with the counters" "$(printf '%s' "$OUT" | jget max_frame_size)" 16777216
run introspect org.busd.Echo --json=pretty
expect_eq "introspect --json=pretty: one document" "$(parses "$OUT")" parses
expect_eq "  naming the owner" "$(printf '%s' "$OUT" | jget owner)" "\"$echo_id\""
run list --json=short
expect_eq "list --json=short: one line" "$(lines "$OUT")" 1
expect_eq "  one document" "$(parses "$OUT")" parses
run list -j
check "list -j: a line per name ($(lines "$OUT"))" "[ $(lines "$OUT") -ge 4 ]"
expect_eq "  each one an object" \
	"$(printf '%s\n' "$OUT" | python3 -c 'import json, sys
print(sorted({type(json.loads(l)).__name__ for l in sys.stdin}))')" "['dict']"
run call org.busd.Echo Echo '{"text":"pretty"}' --json=pretty
expect_eq "call --json=pretty: the reply indented" "$(lines "$OUT")" 3
expect_eq "  one document" "$(printf '%s' "$OUT" | jget text)" '"pretty"'
run listen --count 2 sensor.temp0.reading --json=pretty
expect_eq "listen --json=pretty: still one object per line" "$(lines "$OUT")" 2
expect_eq "  each one parses" \
	"$(printf '%s\n' "$OUT" | python3 -c 'import json, sys
print([json.loads(l)["topic"] for l in sys.stdin])')" "['sensor.temp0.reading', 'sensor.temp0.reading']"
run list --json=bogus
expect_eq "--json=bogus: exit 2" "$RC" 2
expect_match "  naming the modes" "$ERR" '^busctl: --json takes lines, short, pretty or off, not "bogus"$'

# help and --no-pager
run help
expect_eq "busctl help exits 0" "$RC" 0
expect_match "  and lists wait" "$OUT" "^  wait +Wait until every NAME has an owner$"
run help wait
expect_eq "busctl help wait exits 0" "$RC" 0
expect_match "  and shows its usage" "$OUT" "^Usage: busctl \[OPTIONS\] wait NAME\.\.\.$"
run help nope
expect_eq "busctl help of an unknown command: exit 2" "$RC" 2
expect_match "  naming it" "$ERR" '^busctl help: unknown command "nope"$'
run list --no-pager
expect_eq "list --no-pager exits 0" "$RC" 0
expect_match "  and prints the table" "$OUT" "^NAME +UNIQUE +PID"
run --no-pager status
expect_eq "--no-pager before the command too" "$RC" 0

# Every help output: option rows and their further lines start their
# description at one column; the command list too.
misaligned() { python3 -c 'import re, sys
row = re.compile(r"^( {2}-[A-Za-z0-9], | {6})--[a-z][a-z-]*(\[=[A-Z]+\])?( [A-Z][A-Z_.,=|]*)? +(?=\S)")
cols, bad, prev_row = set(), [], False
for line in sys.stdin.read().split("\n"):
    m = row.match(line)
    if m:
        cols.add(m.end()); prev_row = True
    elif prev_row and line.startswith("   ") and line.strip():
        cols.add(len(line) - len(line.lstrip()))
    else:
        prev_row = False
print(len(cols) if cols else 1)'; }
run --help
expect_eq "busctl --help: every option row at one column" "$(printf '%s\n' "$OUT" | misaligned)" 1
expect_eq "  and every command's summary at one column" \
	"$(printf '%s\n' "$OUT" | sed -n '/^Commands:/,/^$/p' | grep '^  ' | python3 -c 'import sys
print(len({len(l) - len(l[2:].split(" ", 1)[1].lstrip()) for l in sys.stdin}))')" 1
for c in list status introspect call emit listen monitor capture decode wait help; do
	run "$c" --help
	expect_eq "$c --help: every option row at one column" "$(printf '%s\n' "$OUT" | misaligned)" 1
done

# wait: returns when the names have owners, watching rather than asking
run wait org.busd.Echo
expect_eq "wait for a name that has an owner: exit 0 at once" "$RC" 0
expect_eq "  printing nothing" "$OUT$ERR" ""
# (a generous --timeout: with the CPUs busy, sanitizer builds start slowly)
"$BUSCTL" wait --timeout 120 org.test.Later org.test.Later2 >"$TEST_TMP/wait.out" 2>&1 &
wpid=$!
# its connection is on the bus and subscribed (the name watch) before the
# services start, so that it really waits for them
wait_for 60 sh -c "'$BUSCTL' --json=short list | python3 -c 'import json, sys
sys.exit(not any(r[\"pid\"] == $wpid and r[\"subscriptions\"] >= 1 for r in json.load(sys.stdin)))'"
check "  wait for two names without owner is still waiting" "kill -0 $wpid"
bg "$ECHO_SVC" --name org.test.Later
wait_for 60 sh -c "'$BUSCTL' list | grep -q '^org\.test\.Later '"
check "  and still waits when one of them has an owner" "kill -0 $wpid"
bg "$ECHO_SVC" --name org.test.Later2
wait "$wpid"
expect_eq "  it exits 0 once both have one" "$?" 0
expect_eq "  printing nothing" "$(cat "$TEST_TMP/wait.out")" ""
run wait --timeout 0.3 org.test.Never org.busd.Echo
expect_eq "wait past --timeout: exit 1" "$RC" 1
expect_eq "  with one line naming the name still without an owner" "$ERR" \
	"busctl: wait: timed out after 0.3 s: no owner for org.test.Never (--timeout SEC waits longer, 0 forever)"
run wait 'not a name'
expect_eq "wait for something that is not a name: exit 2" "$RC" 2
expect_match "  saying so" "$ERR" '^busctl wait: "not a name" is not a well-known name'
run wait
expect_eq "wait without a name: exit 2" "$RC" 2

# call --no-reply: the call goes out flagged NO_REPLY_EXPECTED; the
# recorder writes down what it got
bg "$RECORDER" "$TEST_TMP/calls" org.test.Recorder >/dev/null
wait_for 10 sh -c "'$BUSCTL' list | grep -q '^org\.test\.Recorder '"
run call --no-reply org.test.Recorder Echo '{"text":"fire"}'
expect_eq "call --no-reply exits 0" "$RC" 0
expect_eq "  printing nothing" "$OUT$ERR" ""
wait_for 10 grep -q '^Echo fire' "$TEST_TMP/calls"
expect_eq "  and the service got the call, flagged as wanting no reply" \
	"$(grep '^Echo fire' "$TEST_TMP/calls")" "Echo fire reply=no"
echo 'text: "raw fire"' | encode busd.examples.EchoRequest echo.proto >"$TEST_TMP/rawfire"
IN_FILE="$TEST_TMP/rawfire"
run call --raw org.test.Recorder Echo --expect-reply=no
IN_FILE=/dev/null
expect_eq "call --raw --expect-reply=no exits 0" "$RC" 0
wait_for 10 grep -q '^Echo raw fire' "$TEST_TMP/calls"
expect_eq "  and the service got it without wanting a reply" \
	"$(grep '^Echo raw fire' "$TEST_TMP/calls")" "Echo raw fire reply=no"
run call org.test.Recorder Echo '{"text":"answered"}'
expect_eq "an ordinary call to the recorder: the reply" "$(printf '%s' "$OUT" | jget text)" '"answered"'
expect_eq "  which it got wanting one" "$(grep '^Echo answered' "$TEST_TMP/calls")" \
	"Echo answered reply=yes"
run call --no-reply org.test.Nobody Ping
expect_eq "call --no-reply to a name without owner: exit 1" "$RC" 1
expect_match "  busctl asked busd first" "$ERR" "^busctl: org\.test\.Nobody Ping: bus\.Error\.NameHasNoOwner: "
run call --raw --no-reply org.test.Nobody Ping
expect_eq "  with --raw too" "$RC" 1
run call --expect-reply=maybe org.test.Recorder Echo
expect_eq "--expect-reply=maybe: exit 2" "$RC" 2

# "--" ends the options: what follows is an operand, even with a leading -
run call org.test.Recorder Echo -5
expect_eq "call NAME METHOD -5: an unknown option, exit 2" "$RC" 2
expect_match "  naming it" "$ERR" "^busctl call: unknown option -5$"
run call org.test.Recorder Echo -- -5
expect_eq "call NAME METHOD -- -5: the JSON -5, which is no EchoRequest: exit 1" "$RC" 1
expect_match "  saying so" "$ERR" "^busctl: org\.test\.Recorder Echo: the request is not a valid busd\.examples\.EchoRequest"
run call --json=short org.test.Recorder Echo -- '{"text":"--timeout"}'
expect_eq "options before --, the body after it" "$(printf '%s' "$OUT" | jget text)" '"--timeout"'

# Renamed (./configure --program-transform-name): help, usage and errors
# speak under the name busctl was invoked as
if [ -x "$top_builddir/busctl/.libs/busctl" ]; then
	ln -s "$(cd "$top_builddir/busctl/.libs" && pwd)/busctl" "$TEST_TMP/busdctl"
	renamed() { LD_LIBRARY_PATH="$top_builddir/libbus/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$TEST_TMP/busdctl" "$@"; }
	expect_match "renamed busdctl: --help says busdctl" "$(renamed --help)" "^Usage: busdctl \[OPTIONS\] COMMAND"
	expect_eq "  a command's help has no busctl left in it" "$(renamed call --help | grep -c busctl)" 0
	expect_match "  and its examples use busdctl" "$(renamed call --help)" "^  busdctl call org\.busd\.Echo Echo "
	expect_match "  errors start with busdctl:" "$(renamed call org.test.Nobody Ping 2>&1)" \
		"^busdctl: org\.test\.Nobody Ping: bus\.Error\.NameHasNoOwner: "
	expect_match "  usage errors name busdctl and the command" "$(renamed list --bogus 2>&1)" \
		"^busdctl list: unknown option --bogus$"
else
	for n in 1 2 3 4 5; do skip "renamed busctl check $n" "no busctl/.libs/busctl in this build"; done
fi

finish
