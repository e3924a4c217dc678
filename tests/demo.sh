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

echo "== busd on $BUS_ADDRESS (its log: $DIR/busd.log)"
"$B/busd/busd" -c "$top_builddir/conf/busd.conf" --socket "$BUS_ADDRESS" -v 2>"$DIR/busd.log" &
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

echo "== the example services: echo (org.busd.Echo) and sensor (org.busd.Sensor)"
"$B/services/echo" --reconnect &
PIDS="$PIDS $!"
"$B/services/sensor" --interval 500 --reconnect &
PIDS="$PIDS $!"
"$busctl" --timeout 5 call org.busd.Sensor Read </dev/null >/dev/null 2>&1 || sleep 0.5
"$busctl" --timeout 5 call org.busd.Echo Echo </dev/null >/dev/null

echo
echo "== a busctl session (BUS_ADDRESS=$BUS_ADDRESS)"
# A monitor watches the whole session from the background.
"$busctl" monitor >"$DIR/monitor.txt" 2>&1 &
PIDS="$PIDS $!"
sleep 0.2

show "$busctl" list
show "$busctl" introspect org.busd.Echo
show "$busctl call org.busd.Echo Echo '{\"text\": \"hello, bus\", \"data\": \"AAEC\"}'"
show "$busctl call org.busd.Echo Delay '{\"ms\": 300, \"text\": \"later\"}'"
show "$busctl call org.busd.Sensor Read '{\"sensor\": \"temp1\"}'"
show "$busctl call org.busd.Echo Fail '{\"message\": \"as asked\"}' || echo \"(exit status \$?)\""
show "$busctl call org.busd.Echo Delay '{\"ms\": \"soon\"}' || echo \"(exit status \$?)\""
show "$busctl call org.busd.NoSuchService Ping || echo \"(exit status \$?)\""
show "echo 'text: \"raw bytes\"' | $encode=busd.examples.EchoRequest echo.proto |" \
	"$busctl call --raw org.busd.Echo Echo | $decode=busd.examples.EchoReply echo.proto"
show "$busctl listen --count 4 'sensor.*'"
show "$busctl --json status"

sleep 0.2
echo
echo "== what busctl monitor saw meanwhile (first 24 frames)"
head -n 24 "$DIR/monitor.txt"

echo
echo "== busd is killed (kill -9) and started again: the services reconnect by themselves"
kill -KILL "$BUSD"
wait "$BUSD" 2>/dev/null || true
"$B/busd/busd" -c "$top_builddir/conf/busd.conf" --socket "$BUS_ADDRESS" -v 2>>"$DIR/busd.log" &
BUSD=$!
PIDS="$PIDS $BUSD"
i=0
until "$busctl" list 2>/dev/null | grep -q org.busd.Sensor && "$busctl" list | grep -q org.busd.Echo; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		echo "the services did not come back:" >&2
		tail -n 20 "$DIR/busd.log" >&2
		exit 1
	fi
	sleep 0.05
done
show "$busctl" list
show "$busctl call org.busd.Echo Echo '{\"text\": \"still here\"}'"

echo
echo "== stopping: SIGTERM to busd"
kill -TERM "$BUSD"
wait "$BUSD" && echo "busd exited with status 0" || echo "busd exited with status $?"
test ! -e "$BUS_ADDRESS" && echo "and removed $BUS_ADDRESS"
