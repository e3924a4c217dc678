#!/bin/sh
# test-busctl.sh - busctl against a real busd and the example services:
# list, call (through protoc --encode/--decode and raw), errors and their
# exit status, emit and listen, monitor, status, usage errors and --help.
. "$top_srcdir/tests/lib.sh"

PROTO="--proto_path=$top_srcdir/proto"
encode() { protoc "$PROTO" --encode="$1" "$2"; }
decode() { protoc "$PROTO" --decode="$1" "$2"; }
# Run busctl with a time limit; sets OUT, ERR and RC. Input from $IN_FILE.
IN_FILE=/dev/null
run() {
	timeout 20 "$BUSCTL" "$@" <"$IN_FILE" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
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
sleep 0.3
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

"$BUSCTL" --json monitor --match kind=reply,sender=$echo_id --count 1 >"$TEST_TMP/jmon" 2>&1 &
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

"$BUSCTL" capture -o "$TEST_TMP/cap.pcap" --match method=Echo --count 1 2>"$TEST_TMP/cap.err" &
cap=$!
wait_for 10 sh -c "[ \$('$BUSCTL' status | awk '\$1 == \"monitors\" { print \$2 }') -ge 1 ]"
run call org.busd.Echo Echo '{"text":"captured"}'
wait "$cap"
expect_eq "capture --count 1 exits 0" "$?" 0
expect_eq "  writes a pcap file (magic, link type 147)" \
	"$(od -An -tx4 -N24 "$TEST_TMP/cap.pcap" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')" \
	"a1b2c3d4 00040002 00000000 00000000 04000000 00000093"
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

finish
