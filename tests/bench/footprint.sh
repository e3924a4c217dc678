#!/bin/sh
# footprint.sh - what busd, libbus and busctl cost on disk and in memory, in
# the build tree given (default: the current directory), as docs/performance.md
# ("Footprint") reports it:
#
#   size  FILE BYTES TEXT DATA BSS   a stripped copy (strip --strip-all): its
#                                    file size and size(1)'s text/data/bss
#   absent FILE                      not built in this configuration
#   needed FILE LIB...               its DT_NEEDED libraries (readelf -d)
#   mem   WHAT VmRSS=.. Rss=.. Pss=.. Shared_Clean=.. Shared_Dirty=..
#         Private_Clean=.. Private_Dirty=.. Heap=..   (kB, one line)
#   map   WHAT RSS DIRTY NAME        per mapped file (and [heap], [stack],
#                                    [anonymous]) with resident pages, largest
#                                    Rss first: its Rss and Private_Dirty (kB)
#
#   idle BROKER V1 V2 .. median=M    VmRSS (kB) of a freshly started idle
#                                    broker, RUNS times (default 3), busd
#                                    and ubusd started in turn so both see
#                                    the same machine; "idle ubusd absent"
#                                    when UBUSD is not set
#
# WHAT: busd-idle (no peer yet), idle-client (tests/bench/idle-client: a
# client that owns a name and idles in bus_run), busd-1peer (busd with that
# client). VmRSS is from /proc/PID/status, the rest from
# /proc/PID/smaps_rollup; Heap is the Rss of the [heap] mapping in
# /proc/PID/smaps. Needs strip, size and readelf (binutils).
#
# UBUSD=/path/to/ubusd (OpenWrt's broker, built outside this tree) adds it
# to the comparison, and to a mem and map breakdown as ubusd-idle;
# UBUSD_LIBRARY_PATH is its LD_LIBRARY_PATH (where its libubox is). Nothing
# here needs it.
set -u
B=${1:-${top_builddir:-.}}
T=$(mktemp -d "${TMPDIR:-/tmp}/busd-footprint.XXXXXX")
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
die() { echo "footprint.sh: $*" >&2; exit 1; }

# The real ELF file behind a libtool-built program or library.
for f in busd/busd libbus/.libs/libbus.so libbus/.libs/libbus-json.so busctl/.libs/busctl \
	tests/bench/idle-client; do
	if [ ! -e "$B/$f" ]; then
		echo "absent $f"
		continue
	fi
	real=$(readlink -f "$B/$f")
	strip --strip-all -o "$T/stripped" "$real" || die "strip $real failed"
	bytes=$(wc -c <"$T/stripped" | tr -d ' ')
	# size(1): "text data bss dec hex filename", the numbers on line 2
	tdb=$(size "$T/stripped" | awk 'NR == 2 { print $1, $2, $3 }')
	echo "size $f $bytes $tdb"
	echo "needed $f $(readelf -d "$real" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
done

# mem WHAT PID: one line of memory figures for process PID.
mem() {
	[ -r "/proc/$2/smaps_rollup" ] || die "no /proc/$2/smaps_rollup ($1 is gone?)"
	vmrss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$2/status")
	heap=$(awk '/\[heap\]$/ { h = 1; next } h && $1 == "Rss:" { print $2; exit }' "/proc/$2/smaps")
	rollup=$(awk '$1 ~ /^(Rss|Pss|Shared_Clean|Shared_Dirty|Private_Clean|Private_Dirty):$/ {
		sub(":", "", $1); printf "%s=%s ", $1, $2 }' "/proc/$2/smaps_rollup")
	echo "mem $1 VmRSS=$vmrss ${rollup}Heap=${heap:-0}"
	awk -v w="$1" '
		/^[0-9a-f]+-[0-9a-f]+ / { name = NF >= 6 ? $6 : "[anonymous]"; sub(".*/", "", name) }
		$1 == "Rss:" { rss[name] += $2 }
		$1 == "Private_Dirty:" { dirty[name] += $2 }
		END { for (n in rss) if (rss[n] > 0) print "map", w, rss[n], dirty[n] + 0, n }' "/proc/$2/smaps" |
		sort -k3,3nr
}
# until SECONDS CMD...: retry CMD every 50 ms until it succeeds, or fail.
until_ok() {
	n=$(($1 * 20)); shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.05
	done
}

[ -x "$B/busd/busd" ] || die "$B/busd/busd was not built"
[ -x "$B/tests/bench/idle-client" ] || die "$B/tests/bench/idle-client was not built (make check builds it)"
# -c /dev/null: every option at its default, whatever /etc holds.
"$B/busd/busd" -c /dev/null --socket "$T/bus.sock" 2>"$T/busd.log" &
busd=$!
pids="$busd"
until_ok 10 grep -q "listening on $T/bus.sock" "$T/busd.log" ||
	die "busd did not start: $(cat "$T/busd.log")"
mem busd-idle "$busd"

"$B/tests/bench/idle-client" --socket "$T/bus.sock" >"$T/client.out" 2>&1 &
client=$!
pids="$client $pids"
until_ok 10 grep -q '^ready ' "$T/client.out" ||
	die "idle-client did not get its name: $(cat "$T/client.out")"
mem idle-client "$client"
mem busd-1peer "$busd"

# idle_once BROKER: start BROKER on a fresh socket, wait until it listens,
# print its VmRSS (or its mem and map lines with "full"), and stop it.
idle_once() {
	sock="$T/idle-$1.sock"
	rm -f "$sock"
	case $1 in
	busd)
		"$B/busd/busd" -c /dev/null --socket "$sock" 2>"$T/idle.log" &
		p=$!
		until_ok 10 grep -q "listening on $sock" "$T/idle.log" ||
			die "busd did not start: $(cat "$T/idle.log")" ;;
	ubusd)
		LD_LIBRARY_PATH=${UBUSD_LIBRARY_PATH:-${LD_LIBRARY_PATH:-}} "$UBUSD" -s "$sock" \
			>"$T/idle.log" 2>&1 &
		p=$!
		until_ok 10 test -S "$sock" || die "ubusd did not start: $(cat "$T/idle.log")" ;;
	esac
	pids="$p $pids"
	if [ "${2:-}" = full ]; then
		mem "$1-idle" "$p"
	else
		awk '$1 == "VmRSS:" { print $2 }' "/proc/$p/status"
	fi
	kill "$p"
	wait "$p" 2>/dev/null
}
brokers=busd
if [ -n "${UBUSD:-}" ]; then
	[ -x "$UBUSD" ] || die "UBUSD=$UBUSD is not an executable"
	brokers="busd ubusd"
	idle_once ubusd full
fi
runs=${RUNS:-3}
case $runs in '' | *[!0-9]* | 0) die "RUNS must be a positive number, not '$runs'" ;; esac
for b in $brokers; do : >"$T/runs-$b"; done
i=0
while [ "$i" -lt "$runs" ]; do
	for b in $brokers; do idle_once "$b" >>"$T/runs-$b"; done
	i=$((i + 1))
done
for b in $brokers; do
	median=$(sort -n "$T/runs-$b" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	echo "idle $b $(tr '\n' ' ' <"$T/runs-$b")median=$median"
done
[ -n "${UBUSD:-}" ] || echo "idle ubusd absent"
