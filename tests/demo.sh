#!/bin/sh
# demo.sh - the main job of `tests/build.sh demo`: busd on a private socket
# with the example services, and a busctl session shown command by command.
# Needs top_builddir and top_srcdir (tests/build.sh sets them).
set -eu

: "${top_builddir:?}" "${top_srcdir:?}"
B=$top_builddir
DIR=$(mktemp -d "${TMPDIR:-/tmp}/busd-demo.XXXXXX")
BUS_ADDRESS="$DIR/bus.sock"
export BUS_ADDRESS
PIDS=""

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

# Show a command as typed (busctl without its path), then run it.
show() {
	printf '\n$ %s\n' "$(echo "$*" | sed "s|$B/busctl/||g; s|$B/services/||g")"
	eval "$@" 2>&1
}

busctl="$B/busctl/busctl"
encode="protoc --proto_path=$top_srcdir/proto --encode"
decode="protoc --proto_path=$top_srcdir/proto --decode"

# busd supervises the example services: two service files in a private
# services.d, made from the examples the build installs.
mkdir "$DIR/services.d"
for svc in echo sensor; do
	sed -e "s|^exec = [^ ]*/$svc|exec = $B/services/$svc|" \
		"$B/conf/services.d/$svc.conf.example" >"$DIR/services.d/$svc.conf"
done
sed -i 's|--interval [0-9]*|--interval 500|' "$DIR/services.d/sensor.conf"
cp "$B/conf/busd.conf" "$DIR/busd.conf"
printf '\n[services]\ndir = %s/services.d\n' "$DIR" >>"$DIR/busd.conf"

echo "== busd on $BUS_ADDRESS (its log: $DIR/busd.log), supervising echo (started at"
echo "   once) and sensor (started by the first call to its name)"
"$B/busd/busd" -c "$DIR/busd.conf" --socket "$BUS_ADDRESS" -v 2>"$DIR/busd.log" &
BUSD=$!
PIDS="$BUSD"
i=0
until "$busctl" status >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		echo "busd did not start:" >&2
		cat "$DIR/busd.log" >&2
		exit 1
	fi
	sleep 0.05
done
"$busctl" --timeout 10 wait org.busd.Echo >/dev/null

echo
echo "== a busctl session (BUS_ADDRESS=$BUS_ADDRESS)"
# A monitor watches the whole session from the background.
"$busctl" monitor >"$DIR/monitor.txt" 2>&1 &
PIDS="$PIDS $!"
sleep 0.2

show "$busctl" services
show "$busctl" list
show "$busctl" introspect org.busd.Echo
show "$busctl call org.busd.Echo Echo '{\"text\": \"hello, bus\", \"data\": \"AAEC\"}'"
show "$busctl call org.busd.Echo Delay '{\"ms\": 300, \"text\": \"later\"}'"
show "$busctl call org.busd.Sensor Read '{\"sensor\": \"temp1\"}'"
show "$busctl" services
show "$busctl call org.busd.Echo Fail '{\"message\": \"as asked\"}' || echo \"(exit status \$?)\""
show "$busctl call org.busd.Echo Delay '{\"ms\": \"soon\"}' || echo \"(exit status \$?)\""
show "$busctl call org.busd.NoSuchService Ping || echo \"(exit status \$?)\""
show "echo 'text: \"raw bytes\"' | $encode=busd.examples.EchoRequest echo.proto |" \
	"$busctl call --raw org.busd.Echo Echo | $decode=busd.examples.EchoReply echo.proto"
echo
echo "   (a body from 256 KiB travels out of line: libbus puts it in a sealed memfd,"
echo "    busd checks the seals and passes the descriptor on, echo maps it read-only)"
show "head -c 750000 /dev/urandom | base64 -w0 | sed 's/.*/{\"data\": \"&\"}/' |" \
	"$busctl call org.busd.Echo Echo | wc -c"
show "$busctl listen --count 4 'sensor.*'"
show "$busctl --json status"

sleep 0.2
echo
echo "== what busctl monitor saw meanwhile (first 24 frames)"
head -n 24 "$DIR/monitor.txt"

echo
echo "== echo is killed (kill -9) five times while a caller keeps calling Echo"
echo "   (Echo is marked idempotent in echo.proto: busd holds or re-sends the calls)"
"$busctl" listen --count 15 bus.ServiceStateChanged >"$DIR/states.txt" 2>&1 &
LISTEN=$!
i=0
until "$busctl" --json status | grep -q '"subscriptions": *[1-9]'; do
	i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.05
done
(
	n=0 failed=0
	while [ ! -e "$DIR/stop-calling" ]; do
		n=$((n + 1))
		"$busctl" --timeout 10 call org.busd.Echo Echo "{\"text\": \"call $n\"}" \
			>/dev/null 2>"$DIR/call.err" || { failed=$((failed + 1)); cat "$DIR/call.err"; }
	done
	echo "$n calls, $failed failed" >"$DIR/calls.txt"
) &
CALLER=$!
echo_pid() { "$busctl" services | awk '$1 == "echo" && $2 == "running" { print $3 }'; }
last=""
for k in 1 2 3 4 5; do
	# the next instance, once it runs (the backoff doubles per crash)
	i=0
	while pid=$(echo_pid); [ -z "$pid" ] || [ "$pid" = "$last" ]; do
		i=$((i + 1))
		if [ $i -gt 400 ]; then
			echo "echo did not come back:" >&2
			tail -n 20 "$DIR/busd.log" >&2
			exit 1
		fi
		sleep 0.05
	done
	sleep 0.2
	kill -KILL "$pid"
	echo "kill -9 $pid"
	last=$pid
done
"$busctl" --timeout 10 wait org.busd.Echo >/dev/null
sleep 0.3
touch "$DIR/stop-calling"
wait "$CALLER"
echo "the caller: $(cat "$DIR/calls.txt")"
wait "$LISTEN" 2>/dev/null || kill "$LISTEN" 2>/dev/null || true
echo "bus.ServiceStateChanged events seen meanwhile:"
sed -n 's/^.*"service": *"\([^"]*\)".*"newState": *"\([A-Z]*\)".*"reason": *"\([^"]*\)".*$/  \1 -> \2 (\3)/p; s/^.*"service": *"\([^"]*\)".*"newState": *"\([A-Z]*\)"[^r]*$/  \1 -> \2/p' \
	"$DIR/states.txt" | head -n 15
show "$busctl" services
echo "busd's log about it:"
grep -E 'echo' "$DIR/busd.log" | grep -Ei 'restart|died|killed|signal' | tail -n 4 | sed 's/^/  /'

echo
echo "== busd is killed (kill -9) and started again: its services go with it (parent-death"
echo "   signal), the new busd starts echo, and the first call starts sensor again"
kill -KILL "$BUSD"
wait "$BUSD" 2>/dev/null || true
"$B/busd/busd" -c "$DIR/busd.conf" --socket "$BUS_ADDRESS" -v 2>>"$DIR/busd.log" &
BUSD=$!
PIDS="$PIDS $BUSD"
i=0
until "$busctl" list 2>/dev/null | grep -q org.busd.Echo; do
	i=$((i + 1))
	if [ $i -gt 200 ]; then
		echo "the services did not come back:" >&2
		tail -n 20 "$DIR/busd.log" >&2
		exit 1
	fi
	sleep 0.05
done
show "$busctl" services
show "$busctl call org.busd.Echo Echo '{\"text\": \"still here\"}'"
show "$busctl call org.busd.Sensor Read '{\"sensor\": \"temp0\"}'"

echo
echo "== stopping: SIGTERM to busd"
kill -TERM "$BUSD"
wait "$BUSD" && echo "busd exited with status 0" || echo "busd exited with status $?"
test ! -e "$BUS_ADDRESS" && echo "and removed $BUS_ADDRESS"
