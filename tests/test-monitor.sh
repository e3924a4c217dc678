#!/bin/sh
# test-monitor.sh - busctl monitor against a real busd: --match values
# checked, options ORed and terms ANDed, interface.Method, a well-known
# sender followed across a change of owner, other busctl processes' broker
# queries left out (and counted) unless --all while a peer that claims to
# be busctl hides nothing else, columns that stay put with a long name, and
# --max-body.
. "$top_srcdir/tests/lib.sh"
NAME_PEER="$top_builddir/tests/name-peer"
plan 46

run() {
	timeout 20 "$BUSCTL" "$@" </dev/null >"$TEST_TMP/out" 2>"$TEST_TMP/err"
	RC=$?
	OUT=$(cat "$TEST_TMP/out")
	ERR=$(cat "$TEST_TMP/err")
}
monitors() { "$BUSCTL" status | awk '$1 == "monitors" { print $2 }'; }
# Emit mark.$1 and wait until every monitor output file named after it
# shows it: busd copies frames to monitors in the order it routes them, so
# what was routed before is in the files too.
mark() {
	_m=$1; shift
	"$BUSCTL" emit --raw "mark.$_m" </dev/null
	for _f in "$@"; do
		wait_for 10 grep -q "mark\\.$_m" "$_f" || echo "# mark.$_m never reached $_f"
	done
}
# A monitor in the background, its output in $TEST_TMP/$1 (stderr in
# $1.err); waits until busd counts it.
MON_PIDS=""
monitor() {
	_out=$1; shift
	_n=$(monitors)
	"$BUSCTL" "$@" >"$TEST_TMP/$_out" 2>"$TEST_TMP/$_out.err" &
	MON_PIDS="$MON_PIDS $!"
	eval "pid_$_out=$!"
	wait_for 10 sh -c "[ \$('$BUSCTL' status | awk '\$1 == \"monitors\" { print \$2 }') -gt $_n ]"
}
# A name-peer fed through a FIFO: peer_start TAG NAME, peer TAG COMMAND
# (waits for its "done").
peer_start() {
	mkfifo "$TEST_TMP/$1.in"
	"$NAME_PEER" "$2" <"$TEST_TMP/$1.in" >"$TEST_TMP/$1.out" 2>&1 &
	_bg_pids="$_bg_pids $!"
	eval "exec $3>'$TEST_TMP/$1.in'"
	wait_for 10 grep -q '^id :' "$TEST_TMP/$1.out"
	eval "id_$1=\$(awk '\$1 == \"id\" { print \$2 }' '$TEST_TMP/$1.out')"
}
peer() {
	_before=$(grep -c '^done' "$TEST_TMP/$1.out")
	echo "$3" >&"$2"
	wait_for 10 sh -c "[ \$(grep -c '^done' '$TEST_TMP/$1.out') -gt $_before ]"
}

busd_start
LONG=org.test.AVeryLongServiceNameThatOverflowsTheColumn
bg "$ECHO_SVC"
bg "$ECHO_SVC" --name "$LONG"
wait_for 10 sh -c "'$BUSCTL' list | grep -q 'org.busd.Echo ' && '$BUSCTL' list | grep -q '$LONG'"

# ---- --match values are checked
run monitor --match kind=calls
expect_eq "--match kind=calls: exit 2" "$RC" 2
expect_match "  naming the kinds there are" "$ERR" \
	'^busctl monitor: bad --match: kind "calls" is not one of call, reply, error, event'
run monitor --match path=/org/x
expect_eq "an unknown key: exit 2" "$RC" 2
expect_match "  naming the keys there are" "$ERR" \
	'unknown key "path" \(keys: kind \(or type\), sender, destination, interface, method \(or member\), topic\)'
run monitor --match sender=org..Greeter
expect_match "a malformed sender: exit 2, saying what a sender is" "$RC $ERR" \
	'^2 busctl monitor: bad --match: sender "org\.\.Greeter" is not a unique id \(:N\), bus or a well-known name'
run monitor --match 'topic=sensor.*.reading'
expect_match "a malformed topic pattern: exit 2" "$RC $ERR" \
	'^2 busctl monitor: bad --match: topic "sensor\.\*\.reading" is not a topic, a prefix pattern'
run monitor --match 'method=Echo/Echo'
expect_match "a malformed method: exit 2" "$RC $ERR" '^2 busctl monitor: bad --match: method "Echo/Echo"'
run monitor --match kind=
expect_match "an empty value: exit 2" "$RC $ERR" '^2 busctl monitor: bad --match: kind has no value'
run monitor --match kind=call,,sender=:1
expect_match "an empty term: exit 2" "$RC $ERR" '^2 busctl monitor: bad --match: an empty term'
run monitor --max-body lots
expect_match "--max-body that is not a size: exit 2" "$RC $ERR" '^2 busctl: --max-body takes a size'

# ---- the monitors: everything (busctl's queries left out), --all, two
# ORed filters, JSON and text with a 1 KiB body limit
monitor plain monitor
monitor all monitor --all
monitor qual monitor --match type=method_call,method=busd.examples.Echo.Echo \
	--match 'kind=signal,topic=mark.*'
monitor bare monitor --match member=Echo,destination=org.busd.Echo,kind=call --match 'topic=mark.*'
monitor jbody --json monitor --max-body 1K --match destination=org.busd.Echo --match 'topic=mark.*'
monitor tbody monitor --max-body 1K --match destination=org.busd.Echo --match 'topic=mark.*'
ALL="$TEST_TMP/plain $TEST_TMP/all $TEST_TMP/qual $TEST_TMP/bare $TEST_TMP/jbody $TEST_TMP/tbody"
mark start $ALL

run call org.busd.Echo Echo '{"text":"one"}'
expect_eq "a JSON call (introspect, schema, call) exits 0" "$RC" 0
run call --raw org.busd.Echo Echo
expect_eq "a raw call (no interface) exits 0" "$RC" 0
big=$(python3 -c 'print("x" * 2000)')
run call org.busd.Echo Echo "{\"text\":\"$big\"}"
expect_eq "a call with a 2000-byte text exits 0" "$RC" 0
run call "$LONG" Echo '{"text":"long"}'
expect_eq "a call to a name longer than its column exits 0" "$RC" 0
run introspect org.busd.Echo
expect_eq "introspect exits 0" "$RC" 0

# A peer that says it is busctl (a copy of name-peer run under that name)
# owns a name, asks busd for Stats, emits and gives the name up.
mkdir "$TEST_TMP/fake"
cp "$NAME_PEER" "$TEST_TMP/fake/busctl"
NAME_PEER_SAVED=$NAME_PEER
NAME_PEER="$TEST_TMP/fake/busctl"
peer_start fake org.test.Fake 5
NAME_PEER=$NAME_PEER_SAVED
peer fake 5 "emit fake.event"
peer fake 5 release
mark end $ALL
for p in $MON_PIDS; do kill -TERM "$p"; done
rcs=""
for p in $MON_PIDS; do wait "$p"; rcs="$rcs$?"; done
expect_eq "every monitor exits 0 on SIGTERM" "$rcs" 000000

plain=$(cat "$TEST_TMP/plain")
all=$(cat "$TEST_TMP/all")
expect_match "the monitor shows busctl's call to the service, decoded" "$plain" \
	' CALL  :[0-9]+ +-> org\.busd\.Echo +busd\.examples\.Echo\.Echo serial=[0-9]+ type=busd\.examples\.EchoRequest size=[0-9]+ \{"text":"one"\}$'
expect_match "  and the service's reply" "$plain" ' REPLY :[0-9]+ +-> :[0-9]+ +serial=[0-9]+ reply_serial=[0-9]+ latency=[0-9]+us type=busd\.examples\.EchoReply size=[0-9]+ \{"text":"one"\}$'
# (between the marks: the busctl status that waited for this monitor to
# start said Hello before the monitor saw anything, so its Stats may show)
expect_eq "  but none of busctl's Hello, Introspect, GetSchema, Stats (or their answers)" \
	"$(sed -n '/mark\.start/,/mark\.end/p' "$TEST_TMP/plain" |
	   grep -cE 'bus\.Bus\.(Hello|Introspect|GetSchema|Stats|ListNames)|type=bus\.(HelloReply|IntrospectReply|GetSchemaReply|StatsReply)')" 0
expect_match "  and at exit says how many frames it left out" "$(cat "$TEST_TMP/plain.err")" \
	'^busctl: left out [1-9][0-9]* frames: the broker queries of other busctl processes \(--all shows them\)$'
hidden=$(sed -n 's/^busctl: left out \([0-9]*\) frames.*/\1/p' "$TEST_TMP/plain.err")
between=$(sed -n '/mark\.start/,/mark\.end/p' "$TEST_TMP/all" |
	grep -cE 'bus\.Bus\.(Hello|Introspect|GetSchema|Stats) |type=bus\.(HelloReply|IntrospectReply|GetSchemaReply|StatsReply) ')
check "  at least the $between queries and answers --all saw between the marks ($hidden)" \
	"[ $between -ge 10 ] && [ $hidden -ge $between ]"
expect_match "--all shows busctl's Hello, with the program it names" "$all" \
	' CALL  :[0-9]+ +-> bus +bus\.Bus\.Hello serial=1 type=bus\.HelloRequest size=[0-9]+ \{"protocolVersion":1,"client":"libbus [^"]* \(busctl\)","memfdBodies":true\}$'
expect_match "  its GetSchema and busd's answer" "$all" ' REPLY bus +-> :[0-9]+ +serial=[0-9]+ reply_serial=[0-9]+ latency=[0-9]+us type=bus\.GetSchemaReply '
check "  and says nothing about frames left out" "[ ! -s '$TEST_TMP/all.err' ]"

# The peer calling itself busctl hid its Stats queries, nothing else.
expect_match "a peer claiming to be busctl: its RequestName is shown" "$plain" \
	"^[0-9:.]+ CALL  $id_fake +-> bus +bus\.Bus\.RequestName .*\{\"name\":\"org\.test\.Fake\"\}$"
expect_match "  its event" "$plain" "^[0-9:.]+ EVENT $id_fake +-> \* +fake\.event serial="
expect_match "  its ReleaseName" "$plain" "^[0-9:.]+ CALL  $id_fake +-> bus +bus\.Bus\.ReleaseName "
expect_match "  and busd's name change" "$plain" \
	"EVENT bus +-> \* +bus\.NameOwnerChanged .*\"name\":\"org\.test\.Fake\",\"oldOwner\":\"$id_fake\""
expect_match "  while --all shows its Stats queries too" "$all" "^[0-9:.]+ CALL  $id_fake +-> bus +bus\.Bus\.Stats "

# ---- columns: kind, sender and destination have fixed widths; a longer
# destination is cut in the middle
cut_name="org.tes…$(printf '%s' "$LONG" | tail -c 16)"
expect_match "the long name is cut in the middle to its column" "$plain" \
	"^[0-9:.]+ CALL  :[0-9]+ +-> $cut_name busd\.examples\.Echo\.Echo serial="
misaligned=$(python3 -c 'import sys
bad = 0
for line in open(sys.argv[1], encoding="utf-8"):
    # time(15) kind(5) sender(8) " -> " destination(24): the method,
    # topic or serial starts at column 59
    if line[15] != " " or line[21] != " " or line[22] == " " or line[30:34] != " -> " or \
       line[34] == " " or line[58] != " " or line[59] == " ":
        bad += 1
print(bad)' "$TEST_TMP/plain")
expect_eq "  and every line keeps its columns ($(wc -l <"$TEST_TMP/plain") lines)" "$misaligned" 0

# ---- --match: ORed options, ANDed terms, interface.Method and Method
qual=$(cat "$TEST_TMP/qual")
expect_eq "method=busd.examples.Echo.Echo: the three calls with that interface" \
	"$(grep -c ' CALL .* busd\.examples\.Echo\.Echo serial=' "$TEST_TMP/qual")" 3
expect_eq "  not the raw call without one" "$(grep -c ' CALL .* Echo serial=[0-9]* size=0$' "$TEST_TMP/qual")" 0
expect_eq "  ORed with the other --match: both marks, nothing else" \
	"$(grep -vc ' CALL .* busd\.examples\.Echo\.Echo serial=' "$TEST_TMP/qual")" 2
expect_eq "method=Echo (and destination, ANDed): the three calls to org.busd.Echo" \
	"$(grep -c ' CALL  :[0-9]* *-> org\.busd\.Echo ' "$TEST_TMP/bare")" 3
expect_eq "  and not the one to the long name, nor any reply" \
	"$(grep -cE ' REPLY |AVeryLong' "$TEST_TMP/bare")" 0

# ---- --max-body 1K: larger bodies summed up, smaller ones decoded
expect_match "--max-body 1K: the 2000-byte call is not decoded: size, type, first bytes" \
	"$(cat "$TEST_TMP/tbody")" \
	" CALL .* type=busd\\.examples\\.EchoRequest size=2003 body=0ad00f$(printf '78%.0s' $(seq 21))\\.\\.\\. \\[not decoded: 2003 bytes > max-body 1024\\]\$"
expect_match "  the small one is" "$(cat "$TEST_TMP/tbody")" ' size=5 \{"text":"one"\}$'
expect_match "  and without --max-body (64K) the big one is decoded too" "$plain" \
	"size=2003 \\{\"text\":\"$big\"\\}\$"
jb=$(python3 -c 'import base64, json, sys
for line in open(sys.argv[1]):
    f = json.loads(line)
    if f.get("size") == 2003:
        print(f.get("body_truncated"), len(base64.b64decode(f["body_base64"])), "body" in f)
    if f.get("body") == {"text": "one"} and f.get("kind") == "CALL":
        print("small decoded")' "$TEST_TMP/jbody" | sort | tr '\n' ';')
expect_eq "--json --max-body 1K: body_truncated and the first 1024 bytes; the small one decoded" \
	"$jb" "True 1024 False;small decoded;"

# ---- sender=WELL.KNOWN follows the owner
peer_start a org.test.Greeter 6
monitor sender monitor --match sender=org.test.Greeter --match 'topic=mark.*'
mark s0 "$TEST_TMP/sender"
peer a 6 "emit greet.a1"
peer a 6 release
peer_start b org.test.Greeter 7
peer a 6 "emit greet.a2"
peer b 7 "emit greet.b1"
mark s1 "$TEST_TMP/sender"
kill -TERM $pid_sender
wait $pid_sender
check "the second owner has an id of its own ($id_a, then $id_b)" "[ '$id_a' != '$id_b' ]"
snd=$(cat "$TEST_TMP/sender")
expect_match "sender=org.test.Greeter: the first owner's event" "$snd" "^[0-9:.]+ EVENT $id_a +-> \* +greet\.a1 "
expect_match "  then the new owner's" "$snd" "^[0-9:.]+ EVENT $id_b +-> \* +greet\.b1 "
expect_eq "  not the old owner's once it gave the name up" "$(grep -c 'greet\.a2' "$TEST_TMP/sender")" 0
expect_eq "  every frame from one of the two owners or a mark" \
	"$(grep -vE "^[0-9:.]+ [A-Z]+ +($id_a|$id_b) |mark\.s[01] " "$TEST_TMP/sender" | wc -l | tr -d ' ')" 0
expect_match "  including the old owner's ReleaseName, sent while it owned the name" "$snd" \
	"CALL  $id_a +-> bus +bus\.Bus\.ReleaseName "

finish
