#!/bin/sh
# test-footprint.sh - what ./configure chose is what was built (libbus-json
# and busctl present or absent as configured), busd links libevent's core
# and not the whole of libevent (with --enable-static-deps: libc alone), no
# libsodium, and tests/bench/footprint.sh measures an
# idle busd and an idle client that owns a name (tests/bench/idle-client),
# each with a consistent breakdown of its resident memory, and the idle
# broker's VmRSS over several fresh starts with their median (ubusd, which
# this tree does not build, left out).
. "$top_srcdir/tests/lib.sh"
plan 20

UBUSD= RUNS=3 sh "$top_srcdir/tests/bench/footprint.sh" "$top_builddir" >"$TEST_TMP/out" 2>"$TEST_TMP/err"
expect_eq "footprint.sh exits 0" "$?" 0
[ -s "$TEST_TMP/err" ] && sed 's/^/#   /' "$TEST_TMP/err"
OUT=$(cat "$TEST_TMP/out")

# line KIND FILE: the line footprint.sh printed for FILE
line() { printf '%s\n' "$OUT" | awk -v k="$1" -v f="$2" '$1 == k && $2 == f'; }
# sized FILE: a size line with positive file bytes and text
sized() { line size "$1" | awk 'NF == 6 && $3 > 0 && $4 > 0 { ok = 1 } END { exit !ok }'; }

check "busd/busd: stripped size and text reported" sized busd/busd
check "libbus.so: stripped size and text reported" sized libbus/.libs/libbus.so
check "idle-client: stripped size and text reported" sized tests/bench/idle-client
if [ "$busd_json" = yes ]; then
	check "libbus-json.so is built (configured with JSON)" sized libbus/.libs/libbus-json.so
else
	expect_eq "libbus-json.so is not built (--disable-json)" \
		"$(line absent libbus/.libs/libbus-json.so)" "absent libbus/.libs/libbus-json.so"
fi
if [ "$busd_busctl" = yes ]; then
	check "busctl is built (configured with busctl)" sized busctl/.libs/busctl
else
	expect_eq "busctl is not built (configured without it)" \
		"$(line absent busctl/.libs/busctl)" "absent busctl/.libs/busctl"
fi

needed=$(line needed busd/busd)
if [ "${busd_static_deps:-no}" = yes ]; then
	expect_eq "busd needs libc alone (--enable-static-deps)" "$needed" "needed busd/busd libc.so.6 "
	expect_eq "  not libevent_core, inih or protobuf-c" \
		"$(printf '%s\n' "$needed" | grep -E ' lib(event|inih|protobuf-c)')" ""
else
	expect_match "busd needs libevent_core" "$needed" ' libevent_core-'
	expect_eq "  and not the whole of libevent (libevent_extra's http, dns, rpc)" \
		"$(printf '%s\n' "$needed" | grep -E ' libevent(_extra)?-')" ""
fi
expect_eq "  nor libsodium (busd has its own SipHash and SHA-256)" \
	"$(printf '%s\n' "$needed" | grep -E ' libsodium')" ""
expect_eq "  nor json-c" "$(printf '%s\n' "$needed" | grep -E ' libjson-c')" ""
expect_eq "idle-client needs no json-c either" \
	"$(line needed tests/bench/idle-client | grep -E ' libjson-c')" ""

# consistent WHAT: VmRSS and Rss positive, the four shared/private parts add
# up to Rss (all in kB), and the heap is part of it.
consistent() {
	line mem "$1" | tr ' =' '\n ' | awk '
		NF == 2 { v[$1] = $2 }
		END {
			parts = v["Shared_Clean"] + v["Shared_Dirty"] + v["Private_Clean"] + v["Private_Dirty"]
			exit !(v["VmRSS"] > 0 && v["Rss"] > 0 && parts == v["Rss"] && v["Heap"] <= v["Rss"])
		}' || { echo "#   $(line mem "$1")"; return 1; }
}
for w in busd-idle idle-client busd-1peer; do
	expect_match "$w: memory measured" "$(line mem "$w")" "^mem $w VmRSS=[0-9]+ Rss=[0-9]+ "
	check "  Shared_Clean+Shared_Dirty+Private_Clean+Private_Dirty = Rss, Heap within" consistent "$w"
done

# The idle busd's VmRSS in RUNS=3 fresh starts: three positive values and
# their median, which is the middle one.
idle=$(printf '%s\n' "$OUT" | awk '$1 == "idle" && $2 == "busd"')
expect_match "idle busd: three VmRSS figures and their median" "$idle" \
	'^idle busd [0-9]+ [0-9]+ [0-9]+ median=[0-9]+$'
# median_is_middle: the median= of "idle busd A B C median=M" is B after sorting.
median_is_middle() {
	set -- $idle
	mid=$(printf '%s\n' "$3" "$4" "$5" | sort -n | sed -n 2p)
	[ "${6#median=}" = "$mid" ] && [ "$mid" -gt 0 ]
}
check "  the median is the middle one" median_is_middle
expect_eq "ubusd not measured without UBUSD" \
	"$(printf '%s\n' "$OUT" | awk '$1 == "idle" && $2 == "ubusd"')" "idle ubusd absent"
finish
