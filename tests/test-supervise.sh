#!/bin/sh
# test-supervise.sh - declared services (services.d): the service files'
# errors with FILE:LINE, a boot service started and owning its name, its
# output in busd's log, a kill -9 restarting it, a crash loop ending in
# failed, a start timeout, the user it runs as, SIGHUP applying changed,
# removed and new files, and SIGTERM leaving no process behind. Real busd,
# real children (services/echo), no sleeps: every wait polls a condition.
. "$top_srcdir/tests/lib.sh"
plan 43

ECHO_BIN=$(cd "$top_builddir/services" && pwd)/echo
SVC="$TEST_TMP/services.d"
CONF="$TEST_TMP/busd.conf"
mkdir -p "$SVC"
# Owning a name takes a policy rule like for any process (root needs none).
printf '[services]\ndir = %s\n[policy]\nallow = own org.t.Nobody user=nobody\n' "$SVC" >"$CONF"

check_config() {
	OUT=$("$BUSD" -c "$CONF" --socket "$TEST_TMP/c.sock" --check-config 2>&1)
	RC=$?
}
# The pid owning NAME (busctl list), "" when nobody does.
owner_pid() { "$BUSCTL" list 2>/dev/null | awk -v n="$1" '$1 == n { print $3 }'; }
owner_is() { [ "$(owner_pid "$1")" = "$2" ]; }
owned_by_other() { p=$(owner_pid "$1"); [ -n "$p" ] && [ "$p" != "$2" ]; }
log_has() { grep -qF -- "$1" "$BUSD_LOG"; }
gone() { [ ! -e "/proc/$1" ]; }
# The value of KEY (Uid, Gid) in /proc/PID/status: the real id.
proc_id() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
ppid_of() { sed 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f2; }

# ---- service files with errors: each one named with its file and line
bad() {
	rm -f "$SVC"/*.conf
	printf '%s\n' "$3" >"$SVC/$2"
	check_config
	expect_eq "$1: --check-config fails" "$RC" 2
	expect_match "  and names $2 and the line" "$OUT" "$4"
}
bad "a bad restart value" bad.conf "[service]
exec = /bin/true
names = org.t.Bad
restart = sometimes" "^busd: $SVC/bad.conf:4: restart: 'sometimes' is not on-failure, always or no\$"
bad "an unknown key" bad.conf "[service]
exec = /bin/true
colour = blue
names = org.t.Bad" "^busd: $SVC/bad.conf:3: unknown key 'colour' in \\[service\\]\$"
bad "no exec" bad.conf "[service]
names = org.t.Bad" "^busd: $SVC/bad.conf:[0-9]+: no exec = PROGRAM"
bad "a relative program" bad.conf "[service]
exec = true
names = org.t.Bad" "^busd: $SVC/bad.conf:2: exec: the program must be an absolute path"
printf '[service]\nexec = /bin/true\nnames = org.t.A org.t.Shared\n' >"$SVC/a.conf"
printf '[service]\n\nexec = /bin/true\nnames = org.t.Shared\n' >"$SVC/b.conf"
check_config
expect_eq "a name declared by two services: --check-config fails" "$RC" 2
expect_match "  naming the second file, its line and the first service" "$OUT" \
	"^busd: $SVC/b.conf:4: names: 'org.t.Shared' is declared by service a too"
rm -f "$SVC"/*.conf

# ---- the services busd runs
cat >"$SVC/echo.conf" <<EOF
[service]
# Its output goes to busd's log; what it leaves in its group dies with it.
exec = /bin/sh -c "sleep 600 & echo straggler=\$! >&2; echo hello-from-child >&2; exec $ECHO_BIN --name org.t.Echo"
names = org.t.Echo
backoff = 0.05
EOF
cat >"$SVC/crash.conf" <<EOF
[service]
exec = /bin/false
names = org.t.Crash
restart = always
restart_intensity = 3 in 30
backoff = 0.01
EOF
cat >"$SVC/never.conf" <<EOF
[service]
exec = /bin/sleep 600
names = org.t.Never
restart = no
start_timeout = 0.2
EOF
cat >"$SVC/env.conf" <<EOF
[service]
# Prints its environment into busd's log and exits.
exec = /usr/bin/env
names = org.t.Env
restart = no
environment = A=1 "B=two words"
EOF
cat >"$SVC/nope.conf" <<EOF
[service]
exec = $TEST_TMP/no-such-program
names = org.t.Nope
restart = no
EOF
cat >"$SVC/chatty.conf" <<'EOF'
[service]
# A line too long, then more lines than a second's budget.
exec = /bin/sh -c "printf '%02000d\n' 0 >&2; yes spam | head -n 1000 >&2"
names = org.t.Chatty
restart = no
EOF
if [ "$(id -u)" = 0 ]; then
	chmod 755 "$TEST_TMP" # the socket, for nobody
	cat >"$SVC/nobody.conf" <<EOF
[service]
exec = $ECHO_BIN --name org.t.Nobody
names = org.t.Nobody
user = nobody
EOF
fi
check_config
expect_eq "the services' files are valid" "$RC" 0
expect_match "  --check-config prints each service" "$OUT" \
	"^service\\.crash\\.restart_intensity = 3 in 30\$"

busd_start -c "$CONF"
wait_for 30 owner_pid org.t.Echo
P1=$(owner_pid org.t.Echo)
check "a boot service starts and owns its name" "[ -n '$P1' ]"
expect_eq "  busd is its parent" "$(ppid_of "$P1")" "$BUSD_PID"
wait_for 30 log_has "service echo: starting -> running (pid $P1)"
check "  it is running once its pid owns the name" "log_has 'service echo: starting -> running (pid $P1)'"
wait_for 30 log_has "echo: hello-from-child"
check "  its stderr lines are in busd's log, tagged with the service" \
	"log_has 'info: echo: hello-from-child'"
STRAGGLER=$(sed -n 's/^.*echo: straggler=\([0-9]*\)$/\1/p' "$BUSD_LOG" | head -n 1)

kill -9 "$P1"
wait_for 30 owned_by_other org.t.Echo "$P1"
P2=$(owner_pid org.t.Echo)
check "kill -9: it is started again and owns its name (new pid)" "[ -n '$P2' ] && [ '$P2' != '$P1' ]"
check "  as restart 1, after a backoff, the death logged with its signal" \
	"log_has 'service echo: backoff -> starting (pid' && log_has 'restart 1)' &&
	 log_has 'service echo: running -> backoff (pid $P1): killed by signal 9'"
wait_for 30 gone "$STRAGGLER"
check "  what it left in its process group was killed too" "[ -n '$STRAGGLER' ] && gone '$STRAGGLER'"

wait_for 30 log_has "service crash: starting -> failed"
check "a crash loop (3 restarts in 30 s allowed) ends in failed" \
	"log_has 'service crash: starting -> failed (pid' && log_has 'failed: 4 restarts in 30 s'"
check "  after 3 restarts, with an error naming the service and the count" \
	"log_has 'restart 3)' && ! log_has 'restart 4)' &&
	 log_has 'error: service crash: 4 restarts within 30 s exceed restart_intensity 3 in 30'"

wait_for 30 log_has "service never: starting -> stopped"
check "a service that does not own its name in start_timeout is killed, and stays stopped (restart = no)" \
	"log_has 'service never: starting -> stopped (pid' && log_has 'did not own org.t.Never within 0.2 s'"

wait_for 30 log_has "service nope: starting -> stopped"
check "a program that cannot be executed: the start failed, and says why" \
	"log_has 'service nope: starting -> stopped (pid' &&
	 log_has 'cannot execute $TEST_TMP/no-such-program: No such file or directory'"

wait_for 30 log_has "service chatty: starting -> stopped"
expect_match "a line longer than 900 bytes is cut, and says so" "$(cat "$BUSD_LOG")" \
	"^busd: info: chatty: 0{900} \\[line cut\\]\$"
logged=$(grep -c '^busd: info: chatty: spam$' "$BUSD_LOG")
dropped=$(sed -n 's/^.*chatty: \([0-9]*\) lines of output not logged (more than 50 a second)$/\1/p' \
	"$BUSD_LOG" | awk '{ n += $1 } END { print n + 0 }')
check "a chatty child: lines past the budget are not logged, and counted" "[ '$dropped' -gt 0 ]"
expect_eq "  the logged and the counted lines add up to what it wrote" "$((logged + dropped))" 1000

if [ "$(id -u)" = 0 ]; then
	wait_for 30 owner_pid org.t.Nobody
	PN=$(owner_pid org.t.Nobody)
	expect_eq "user = nobody: it runs with nobody's uid" "$(proc_id "$PN" Uid)" "$(id -u nobody)"
	expect_eq "  and nobody's group" "$(proc_id "$PN" Gid)" "$(id -g nobody)"
	expect_eq "  and no_new_privs" "$(awk '$1 == "NoNewPrivs:" { print $2 }' "/proc/$PN/status")" 1
else
	skip "user = nobody: it runs with nobody's uid" "not root"
	skip "  and nobody's group" "not root"
	expect_eq "no_new_privs is set" "$(awk '$1 == "NoNewPrivs:" { print $2 }' "/proc/$P2/status")" 1
fi
wait_for 30 log_has "service env: starting -> stopped"
expect_eq "a child's environment: PATH, BUS_ADDRESS and its environment = entries, no more" \
	"$(sed -n 's/^busd: info: env: //p' "$BUSD_LOG" | tr '\n' ' ')" \
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin BUS_ADDRESS=$BUS_ADDRESS A=1 B=two words "

# ---- SIGHUP: a changed file restarts its service, a removed one stops, a new one starts
sed -i 's/^backoff = 0.05$/backoff = 0.05\nenvironment = GREETING=hi/' "$SVC/echo.conf"
sed -i 's/^restart_intensity = 3 in 30$/restart_intensity = 2 in 30/' "$SVC/crash.conf"
sed -i 's/^start_timeout = 0.2$/start_timeout = 0.3/' "$SVC/never.conf"
kill -HUP "$BUSD_PID"
wait_for 30 owned_by_other org.t.Echo "$P2"
P3=$(owner_pid org.t.Echo)
check "SIGHUP with a changed file: the service is restarted (new pid)" \
	"[ -n '$P3' ] && [ '$P3' != '$P2' ] && log_has 'service echo: its file changed; restarting it'"
expect_eq "  with the new file's environment" \
	"$(tr '\0' '\n' <"/proc/$P3/environ" | grep '^GREETING=')" "GREETING=hi"

wait_for 30 log_has "failed: 3 restarts in 30 s"
check "  a failed service whose file changed is started again (and fails by its new file)" \
	"log_has 'service crash: its file changed; starting it' && log_has 'failed: 3 restarts in 30 s'"
wait_for 30 log_has "did not own org.t.Never within 0.3 s"
check "  a stopped boot service whose file changed is started" \
	"log_has 'service never: its file changed; starting it' && log_has 'did not own org.t.Never within 0.3 s'"

rm "$SVC/echo.conf"
printf '[service]\nexec = %s --name org.t.Echo2\nnames = org.t.Echo2\n' "$ECHO_BIN" >"$SVC/echo2.conf"
kill -HUP "$BUSD_PID"
wait_for 30 gone "$P3"
check "SIGHUP with a removed file: its service is stopped" \
	"gone '$P3' && [ -z \"\$(owner_pid org.t.Echo)\" ] && log_has 'service echo: stopping -> stopped (pid $P3)'"
wait_for 30 owner_pid org.t.Echo2
P4=$(owner_pid org.t.Echo2)
check "  and a new boot service is started" "[ -n '$P4' ]"

# ---- SIGTERM: the services stop first, and no process is left
CHILDREN=$(for d in /proc/[0-9]*; do
	[ "$(ppid_of "${d#/proc/}" 2>/dev/null)" = "$BUSD_PID" ] && echo "${d#/proc/}"
done)
check "before SIGTERM busd has children (the running services)" "[ -n '$CHILDREN' ]"
busd_stop
expect_eq "SIGTERM: busd exits 0" "$?" 0
left=
for p in $CHILDREN $P1 $P2 $P3 $P4 $STRAGGLER; do
	gone "$p" || left="$left $p"
done
expect_eq "  and none of the processes it started is left" "$left" ""
check "  the services were stopped before the broker" \
	"grep -n 'service echo2: stopping -> stopped' '$BUSD_LOG' | cut -d: -f1 |
	 { read a; b=\$(grep -n 'answered pending\\|notice: stopped' '$BUSD_LOG' | tail -n 1 | cut -d: -f1); [ \"\$a\" -lt \"\$b\" ]; }"

# ---- a busd without services gets its first one on SIGHUP
rm -f "$SVC"/*.conf
busd_start -c "$CONF"
check "a busd with an empty services directory starts no process" \
	"! log_has 'service '"
printf '[service]\nexec = %s --name org.t.Late\nnames = org.t.Late\n' "$ECHO_BIN" >"$SVC/late.conf"
kill -HUP "$BUSD_PID"
wait_for 30 owner_pid org.t.Late
check "  and starts the first one a reload declares" "[ -n \"\$(owner_pid org.t.Late)\" ]"
busd_stop
expect_eq "  and stops it at SIGTERM (busd exits 0)" "$?" 0
finish
