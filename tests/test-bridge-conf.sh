#!/bin/sh
# test-bridge-conf.sh - bridge.conf as busbridge --check-config reads it:
# a valid file summarised, every error reported as FILE:LINE: what (all of
# them, not only the first), and the exit statuses.
. "$top_srcdir/tests/lib.sh"
BUSBRIDGE="$top_builddir/busbridge/busbridge"
if [ ! -x "$BUSBRIDGE" ]; then
	echo "1..0 # SKIP busbridge is not built (configure found no libnats)"
	exit 0
fi
plan 17

CONF="$TEST_TMP/bridge.conf"
cat >"$CONF" <<'EOF2'
# a bridge
[nats]
servers = nats://10.0.0.1:4222, nats://10.0.0.2:4222
servers = tls://10.0.0.3:4443
user = bridge
password = secret
tls_ca = /etc/ssl/ca.pem
call_timeout_ms = 5000
prefix = plant-7

[bridge]
node = machine-a

[export]
name = org.busd.Echo
name = org.example.Sensor
[import]
name = org.example.Remote
[topics]
pattern = sensor.*
pattern = alarm
EOF2
out=$("$BUSBRIDGE" --check-config -c "$CONF" 2>&1); rc=$?
expect_eq "a valid file: exit status 0" "$rc" 0
expect_match "the summary names node, bus (node by default), prefix and the URL count" "$out" \
	"^$CONF: OK: node machine-a on bus machine-a, subjects under plant-7\., 3 NATS URLs$"
expect_match "exports listed" "$out" "^  export org\.example\.Sensor$"
expect_match "imports listed" "$out" "^  import org\.example\.Remote$"
expect_match "topics listed" "$out" "^  topic  sensor\.\*$"

cat >"$CONF" <<'EOF2'
[nats]
servers = 10.0.0.1:4222
call_timeout_ms = 0
tls = maybe
randomize = often
[bridge]
node = a.b
colour = blue
[export]
name = :42
name = bus.Foo
[topics]
pattern = a.*.b
[mystery]
colour = red
this line is not an entry
EOF2
out=$("$BUSBRIDGE" --check-config -c "$CONF" 2>&1); rc=$?
expect_eq "an invalid file: exit status 1" "$rc" 1
expect_match "a server that is not a URL, with its line" "$out" \
	"^$CONF:2: servers: '10\.0\.0\.1:4222' is not a URL"
expect_match "a timeout out of range" "$out" "^$CONF:3: call_timeout_ms takes 1 to 3600000, not '0'$"
expect_match "a boolean that is not one" "$out" "^$CONF:4: tls takes yes or no, not 'maybe'$"
expect_match "randomize takes a boolean" "$out" "^$CONF:5: randomize takes yes or no, not 'often'$"
expect_match "a node that is not one token" "$out" "^$CONF:7: node must be 1 to 63 letters"
expect_match "an unknown key" "$out" "^$CONF:8: \[bridge\] has no setting 'colour'$"
expect_match "a unique id cannot be exported" "$out" "^$CONF:10: \[export\] name: ':42' is not a well-known name$"
expect_match "busd's own names never cross" "$out" "^$CONF:11: \[export\] name: 'bus\.Foo' is busd's own"
expect_match "a pattern busd would not take" "$out" "^$CONF:13: \[topics\] pattern: 'a\.\*\.b' is not a topic"
check "an unknown section (at its header, keys in it not repeated), a line that is no entry" \
	'printf "%s\n" "$out" | grep -qx "$CONF:14: unknown section \[mystery\] (nats, bridge, export, import, topics)" &&
	 printf "%s\n" "$out" | grep -qx "$CONF:16: not a \[section\] or key = value line"'

printf '[nats]\nservers = nats://h:1\n[export]\nname = a.B\n[import]\nname = a.B\n' >"$CONF"
out=$("$BUSBRIDGE" --check-config -c "$CONF" 2>&1)
expect_match "missing node, and a name both exported and imported" "$out" \
	"a\.B is both exported and imported"
finish
