#!/bin/sh
# test-config.sh - busd's configuration: defaults, the shipped file,
# precedence (command line > environment > file > defaults), every error with
# its file:line, and --check-config.
. "$top_srcdir/tests/lib.sh"
plan 120

unset BUS_ADDRESS BUSD_LOG_LEVEL BUSD_LOG_TARGET
CONF="$TEST_TMP/busd.conf"

# busd --check-config with a time limit; sets OUT, ERR and RC.
check_config() {
	timeout 10 "$BUSD" --check-config "$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
	RC=$?
	OUT=$(cat "$TEST_TMP/out")
	ERR=$(cat "$TEST_TMP/err")
}
lines() {
	if [ -z "$1" ]; then echo 0; else printf '%s\n' "$1" | wc -l | tr -d ' '; fi
}
value() { printf '%s\n' "$OUT" | sed -n "s/^$1 = \([^ ]*\)  (.*)\$/\1/p"; }
origin() { printf '%s\n' "$OUT" | sed -n "s/^$1 = .*  (\(.*\))\$/\1/p"; }

# ---- defaults
check_config -c /dev/null --socket "$TEST_TMP/d.sock"
expect_eq "an empty file is valid" "$RC" 0
expect_eq "  and prints the file's name and thirty-four options" "$(lines "$OUT")" 35
expect_eq "  the first line names the file read" "$(printf '%s\n' "$OUT" | head -n 1)" \
	"# configuration file /dev/null"
expect_eq "  listen.mode defaults to 0666" "$(value listen.mode)" 0666
expect_eq "  limits.max_frame_size to 16 MiB" "$(value limits.max_frame_size)" 16777216
expect_eq "  limits.max_queued_bytes to 64 MiB" "$(value limits.max_queued_bytes)" 67108864
expect_eq "  limits.max_pending_calls to 4096" "$(value limits.max_pending_calls)" 4096
expect_eq "  limits.max_connections_per_uid to 1024" "$(value limits.max_connections_per_uid)" 1024
expect_eq "  limits.max_names_per_peer to 256" "$(value limits.max_names_per_peer)" 256
expect_eq "  limits.queue_hold_bytes to an eighth of max_queued_bytes" \
	"$(value limits.queue_hold_bytes) $(origin limits.queue_hold_bytes)" \
	"8388608 built-in default: max_queued_bytes / 8"
expect_eq "  limits.queue_grace_seconds to 10" "$(value limits.queue_grace_seconds)" 10
expect_eq "  limits.max_subscriptions_per_peer to 1024" "$(value limits.max_subscriptions_per_peer)" 1024
expect_eq "  per uid: 256 MiB queued, 16384 pending calls, 1024 names, 16384 subscriptions" \
	"$(value limits.max_queued_bytes_per_uid) $(value limits.max_pending_calls_per_uid) $(value limits.max_names_per_uid) $(value limits.max_subscriptions_per_uid)" \
	"268435456 16384 1024 16384"
expect_eq "  limits.max_schema_bytes to 4 MiB" "$(value limits.max_schema_bytes)" 4194304
expect_eq "  log.level to info" "$(value log.level)" info
expect_eq "  log.target to stderr" "$(value log.target)" stderr
expect_eq "  and says where each came from" "$(origin limits.max_pending_calls)" "built-in default"

check_config -c "$top_builddir/conf/busd.conf" --socket "$TEST_TMP/d.sock"
expect_eq "the shipped conf/busd.conf is valid" "$RC" 0
# services.dir defaults to services.d beside the file read.
shipped=$(printf '%s\n' "$OUT" | sed 's/  (.*)$//' | grep -v '^listen.socket\|^services.dir\|^#')
check_config -c /dev/null --socket "$TEST_TMP/d.sock"
defaults=$(printf '%s\n' "$OUT" | sed 's/  (.*)$//' | grep -v '^listen.socket\|^services.dir\|^#')
expect_eq "  and changes nothing: every value is the default" "$shipped" "$defaults"

# ---- the configured path: where busd looks without -c, and what it says
"$BUSD" --help >"$TEST_TMP/help"
check "busd --help names the configured file ($busd_config_file)" \
	"grep -qxF '                             $busd_config_file' '$TEST_TMP/help'"
check "  the shipped busd.conf names it too" \
	"grep -qxF '# busd reads $busd_config_file' '$top_builddir/conf/busd.conf'"
check "  and so do busd(8), busd.conf(5) and busd.service" \
	"grep -qF '$busd_config_file' '$top_builddir/docs/man/busd.8' && \
	 grep -qF '$busd_config_file' '$top_builddir/docs/man/busd.conf.5' && \
	 grep -qF '$busd_config_file' '$top_builddir/conf/busd.service'"
check "  with no placeholder or /etc/busd path left over" \
	"! grep -l '@BUSD_CONFIG_FILE@\|@bindir@' '$top_builddir/docs/man/busd.8' \
	 '$top_builddir/docs/man/busd.conf.5' '$top_builddir/conf/busd.conf' '$top_builddir/conf/busd.service' && \
	 ! cat '$top_builddir/docs/man/busd.8' '$top_builddir/docs/man/busd.conf.5' \
	   '$top_builddir/conf/busd.conf' | sed 's|$busd_config_file||g' | grep -q /etc/busd"
check "no man page holds a control character (a form feed where \\f was meant)" \
	"! grep -l \"\$(printf '[\\001-\\010\\013-\\037]')\" '$top_builddir/docs/man/busd.8' \
	 '$top_builddir/docs/man/busd.conf.5' '$top_builddir/docs/man/busctl.1' '$top_builddir/docs/man/libbus.3'"
if [ -e "$busd_config_file" ]; then
	skip "without -c and no file, --check-config says where it looked" "$busd_config_file exists here"
	skip "  and so does busd's log line when it listens" "$busd_config_file exists here"
else
	check_config --socket "$TEST_TMP/d.sock"
	expect_eq "without -c and no file, --check-config says where it looked" \
		"$RC $(printf '%s\n' "$OUT" | head -n 1)" "0 # no configuration file (looked for $busd_config_file)"
	timeout 10 "$BUSD" --socket "$TEST_TMP/n.sock" 2>"$TEST_TMP/n.log" &
	n_pid=$!
	wait_for 10 grep -q "listening on" "$TEST_TMP/n.log"
	kill -TERM "$n_pid"
	wait "$n_pid"
	expect_match "  and so does busd's log line when it listens" "$(cat "$TEST_TMP/n.log")" \
		"notice: busd [0-9.]+ listening on $TEST_TMP/n\.sock \(max frame [0-9]+ bytes; no configuration file \(looked for $busd_config_file\)\)$"
fi
printf '[log]\nlevel = notice\n' >"$CONF"
timeout 10 "$BUSD" -c "$CONF" --socket "$TEST_TMP/f.sock" 2>"$TEST_TMP/f.log" &
f_pid=$!
wait_for 10 grep -q "listening on" "$TEST_TMP/f.log"
kill -TERM "$f_pid"
wait "$f_pid"
expect_match "busd's log line when it listens names the file it read" "$(cat "$TEST_TMP/f.log")" \
	"notice: busd [0-9.]+ listening on $TEST_TMP/f\.sock \(max frame [0-9]+ bytes; configuration file $CONF\)$"
check_config -c "$CONF" --socket "$TEST_TMP/d.sock"
expect_eq "  and so does --check-config" "$(printf '%s\n' "$OUT" | head -n 1)" "# configuration file $CONF"

# ---- precedence
cat >"$CONF" <<EOF
[listen]
socket = $TEST_TMP/file.sock
mode = 0660

[limits]
max_frame_size = 64K
max_queued_bytes = 1M

[log]
level = warning
EOF
check_config -c "$CONF"
expect_eq "the file sets the socket" "$(value listen.socket)" "$TEST_TMP/file.sock"
expect_eq "  and names its file and line" "$(origin listen.socket)" "$CONF:2"
expect_eq "  mode 0660 from line 3" "$(value listen.mode) $(origin listen.mode)" "0660 $CONF:3"
expect_eq "  64K is 65536 bytes" "$(value limits.max_frame_size)" 65536
expect_eq "  1M is 1048576 bytes" "$(value limits.max_queued_bytes)" 1048576
expect_eq "  queue_hold_bytes follows it: 128K" "$(value limits.queue_hold_bytes)" 131072
expect_eq "  level warning" "$(value log.level)" warning

BUS_ADDRESS="$TEST_TMP/env.sock" BUSD_LOG_LEVEL=debug check_config -c "$CONF"
expect_eq "the environment beats the file: BUS_ADDRESS" "$(value listen.socket)" "$TEST_TMP/env.sock"
expect_eq "  and BUSD_LOG_LEVEL" "$(value log.level)" debug
expect_eq "  saying so" "$(origin log.level)" "environment BUSD_LOG_LEVEL"

BUS_ADDRESS="$TEST_TMP/env.sock" BUSD_LOG_LEVEL=error check_config -c "$CONF" \
	--socket "$TEST_TMP/cmd.sock" --max-frame-size 32K -v
expect_eq "the command line beats both: --socket" "$(value listen.socket)" "$TEST_TMP/cmd.sock"
expect_eq "  --max-frame-size" "$(value limits.max_frame_size)" 32768
expect_eq "  -v" "$(value log.level)" debug
expect_eq "  saying so" "$(origin listen.socket)" "command line --socket"

# ---- errors: each with file:line, all reported, exit 2
bad() { # NAME LINE-OF-FILE EXPECTED-REGEX
	printf '%s\n' "$2" >"$CONF"
	check_config -c "$CONF" --socket "$TEST_TMP/d.sock"
	expect_eq "$1: exit 2" "$RC" 2
	expect_match "  busd: $CONF:N: message" "$ERR" "^busd: $CONF:[0-9]+: $3"
}
bad "an unknown key" "[limits]
max_frames = 5" "unknown key 'max_frames' in \[limits\]"
expect_match "  on line 2" "$ERR" ":2: "
bad "an unknown section" "[limit]
max_frame_size = 5" "unknown section \[limit\]"
bad "a key outside any section" "level = info" "'level' is outside any section"
bad "a line that is not key = value" "[log]
level = info
this is not valid" "not a \[section\] or key = value line"
expect_match "  on line 3" "$ERR" ":3: "
bad "a mode that is not octal" "[listen]
mode = 0999" "listen.mode: '0999' is not an octal mode"
bad "a size with a bad suffix" "[limits]
max_frame_size = 12Q" "limits.max_frame_size: '12Q' is not a size"
bad "a size below its minimum" "[limits]
max_frame_size = 512" "limits.max_frame_size: 512 is out of range"
bad "a size that overflows when scaled" "[limits]
max_queued_bytes = 18014398509481985K" "limits.max_queued_bytes: .* is out of range"
bad "a count of zero" "[limits]
max_pending_calls = 0" "limits.max_pending_calls: 0 is out of range"
bad "a count that is not a number" "[limits]
max_names_per_peer = many" "limits.max_names_per_peer: 'many' is not a number"
bad "a negative count" "[limits]
max_connections_per_uid = -1" "limits.max_connections_per_uid: '-1' is not a number"
bad "an unknown level" "[log]
level = loud" "log.level: 'loud' is not a level"
bad "an unknown target" "[log]
target = file" "log.target: 'file' is not a log target"
bad "a policy key that is not allow or deny" "[policy]
permit = own x" "\[policy\] takes 'allow = RULE' and 'deny = RULE' lines, not 'permit'"
bad "a policy rule with an unknown verb" "[policy]
allow = everyone" "allow: 'everyone' is not a verb \(own, call, emit, subscribe, monitor, manage\)"
bad "a policy rule naming an unknown user" "[policy]
deny = call org.x user=no-such-user-here" "deny: no user 'no-such-user-here'"
bad "a policy rule naming an unknown group" "[policy]
allow = own org.x.* group=no-such-group-here" "allow: no group 'no-such-group-here'"
bad "a policy rule with a bad name" "[policy]
allow = own org..x" "allow: 'org..x' is not a well-known name, 'prefix.\*' or '\*'"
bad "a policy rule with a bad topic" "[policy]
deny = emit a.*.b" "deny: 'a.\*.b' is not a topic"
bad "method= on a rule that is not a call" "[policy]
allow = own org.x method=Get" "allow: 'method=' is not allowed"
bad "a monitor rule with an object" "[policy]
allow = monitor org.x" "allow: monitor takes no object"
bad "a manage rule whose object is neither a service id nor a name" "[policy]
allow = manage echo/1" "allow: 'echo/1' is not a service id or well-known name"
printf '[policy]\nallow = own org.example.* user=0 group=0\nallow = manage echo@1 user=0\ndeny = call org.example.Secret method=Get\n' >"$CONF"
check_config -c "$CONF" --socket "$TEST_TMP/d.sock"
expect_eq "policy rules are valid" "$RC" 0
expect_match "  --check-config prints each rule with its file:line" "$OUT" \
	"^policy: allow own org\.example\.\* user=0 group=0  \($CONF:2\)$"
expect_match "  a manage rule naming a service id" "$OUT" \
	"^policy: allow manage echo@1 user=0  \($CONF:3\)$"
expect_match "  in file order" "$(printf '%s\n' "$OUT" | tail -n 1)" \
	"^policy: deny call org\.example\.Secret method=Get  \($CONF:4\)$"
bad "max_queued_bytes below max_frame_size" "[limits]
max_frame_size = 1M
max_queued_bytes = 512K" "limits.max_queued_bytes \(524288\) must be at least limits.max_frame_size"
bad "queue_hold_bytes above max_queued_bytes" "[limits]
max_queued_bytes = 16M
queue_hold_bytes = 32M" "limits.queue_hold_bytes \(33554432\) must be at most limits.max_queued_bytes"
bad "max_queued_bytes_per_uid below max_queued_bytes" "[limits]
max_queued_bytes_per_uid = 1M" "limits.max_queued_bytes_per_uid \(1048576\) must be at least limits.max_queued_bytes"
bad "a grace period past an hour" "[limits]
queue_grace_seconds = 3601" "limits.queue_grace_seconds: 3601 is out of range \(0 to 3600\)"

printf '[limits]\nmax_frame_size = x\n\n[log]\nlevel = y\n' >"$CONF"
check_config -c "$CONF" --socket "$TEST_TMP/d.sock"
expect_eq "two bad lines: two errors" "$(lines "$ERR")" 2
expect_match "  the first on line 2" "$ERR" "^busd: $CONF:2: limits.max_frame_size"
expect_match "  the second on line 5" "$ERR" "^busd: $CONF:5: log.level"
expect_eq "  and nothing on stdout" "$OUT" ""

check_config -c "$TEST_TMP/missing.conf" --socket "$TEST_TMP/d.sock"
expect_eq "-c with a missing file: exit 2" "$RC" 2
expect_match "  naming it" "$ERR" "missing\.conf: cannot read"

mkdir "$TEST_TMP/conf.d"
check_config -c "$TEST_TMP/conf.d" --socket "$TEST_TMP/d.sock"
expect_eq "-c with a directory: exit 2" "$RC" 2
expect_match "  saying it cannot be read" "$ERR" "^busd: $TEST_TMP/conf\.d: cannot read: Is a directory\$"

# The file is read whole, up to 1 MiB: comments fill it to the byte.
big() { # big BYTES: a valid file of BYTES bytes, its last line "level = debug"
	{ printf '[log]\n'; head -c "$(($1 - 20))" /dev/zero | tr '\0' '#' | fold -w 99 | sed 's/^#/;/'
	} | head -c "$(($1 - 15))" >"$CONF"
	printf '\nlevel = debug\n' >>"$CONF"
}
big 1048576
check_config -c "$CONF" --socket "$TEST_TMP/d.sock"
expect_eq "a file of exactly 1 MiB is read: exit 0" "$RC" 0
expect_eq "  its last line too" "$(value log.level)" debug
expect_eq "  (it is that long)" "$(wc -c <"$CONF" | tr -d ' ')" 1048576
big 1048577
check_config -c "$CONF" --socket "$TEST_TMP/d.sock"
expect_eq "one byte more: exit 2" "$RC" 2
expect_match "  saying the limit" "$ERR" "cannot read: larger than 1048576 bytes\$"
printf '[log]\nlevel = notice' >"$CONF"
check_config -c "$CONF" --socket "$TEST_TMP/d.sock"
expect_eq "a last line without a newline is read" "$(value log.level)" notice

BUSD_LOG_LEVEL=chatty check_config -c /dev/null --socket "$TEST_TMP/d.sock"
expect_eq "a bad BUSD_LOG_LEVEL: exit 2" "$RC" 2
expect_match "  naming the variable" "$ERR" "^busd: environment BUSD_LOG_LEVEL: 'chatty' is not a level"

check_config -c /dev/null --socket "$TEST_TMP/d.sock" --max-frame-size 10
expect_eq "a bad --max-frame-size: exit 2" "$RC" 2
expect_match "  naming the option" "$ERR" "^busd: --max-frame-size: 10 is out of range"

# A bad file keeps busd from starting at all.
printf '[log]\nlevel = loud\n' >"$CONF"
timeout 10 "$BUSD" -c "$CONF" --socket "$TEST_TMP/never.sock" 2>"$TEST_TMP/err"
expect_eq "busd with a bad file exits 2" "$?" 2
check "  and never creates its socket" "[ ! -e '$TEST_TMP/never.sock' ]"

finish
