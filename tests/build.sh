#!/bin/sh
# build.sh - the README's two commands: install what is missing (Debian 12),
# build out of tree, then run the demo or the full test suite.
#
#   tests/build.sh demo    build into build/, run busd + examples + a busctl session
#   tests/build.sh check   build into build/ and build-san/ (ASan+UBSan), run
#                          `make check` in both, `make distcheck` and the
#                          libFuzzer targets for 60 s each (make fuzz-run), print
#                          "N passed, N failed" last; non-zero exit on failure
set -eu

mode=${1:-check}
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"

PKGS="build-essential autoconf automake libtool pkg-config libevent-dev \
libprotobuf-c-dev protobuf-c-compiler libinih-dev protobuf-compiler libprotobuf-dev \
libjson-c-dev python3 systemd clang tshark"
# busbridge (docs/bridge.md): cnats to build it, nats-server for its tests.
PKGS="$PKGS nats-server libnats-dev"

install_deps() {
	missing=""
	for p in $PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "== installing:$missing"
	if [ "$(id -u)" -ne 0 ]; then
		echo "build.sh: missing packages:$missing (run as root, or install them with apt-get)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

bootstrap() {
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ] ||
		[ ! -f build-aux/tap-driver.sh ]; then
		echo "== autoreconf"
		autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
	fi
}

# build DIR [configure args...]
build() {
	dir=$1; shift
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ]; then
		echo "== configure $dir $*"
		(cd "$dir" && "$src/configure" --quiet "$@")
	fi
	echo "== make -C $dir"
	make -C "$dir" -j"$(nproc)" >/dev/null
}

# Sum the results of the automake test-suite.log files given.
summarize() {
	awk '/^# PASS: /{p+=$3} /^# FAIL: /{f+=$3} /^# XPASS: /{f+=$3} /^# ERROR: /{f+=$3}
	     /^# SKIP: /{s+=$3}
	     END { if (s) printf "%d passed, %d failed, %d skipped\n", p, f, s;
	           else printf "%d passed, %d failed\n", p, f }' "$@"
}

install_deps
bootstrap

case "$mode" in
demo)
	build build
	top_builddir="$src/build" top_srcdir="$src" sh tests/demo.sh
	;;
check)
	status=0
	build build || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
	echo "== make check (build/)"
	make -C build -j2 check >build/check.out 2>&1 || status=1
	grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):' build/check.out | grep -v '^PASS' || true
	build build-san --enable-sanitizers ||
		{ echo "sanitizer build failed"; echo "0 passed, 1 failed"; exit 1; }
	echo "== make check (build-san/, ASan+UBSan)"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		make -C build-san -j2 check >build-san/check.out 2>&1 || status=1
	grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):' build-san/check.out | grep -v '^PASS' || true
	echo "== make distcheck"
	if make -C build distcheck >build/distcheck.out 2>&1; then
		echo "PASS: distcheck"
		dist=1
	else
		tail -n 30 build/distcheck.out
		echo "FAIL: distcheck"
		dist=0; status=1
	fi
	echo "== make fuzz-run (libFuzzer, ${FUZZ_SECONDS:-60} s per target)"
	rm -rf build/tests/fuzz/crash-*
	if make -C build fuzz-run FUZZ_SECONDS="${FUZZ_SECONDS:-60}" >build/fuzz.out 2>&1; then
		grep -E '^(PASS|stat::number_of_executed_units)' build/fuzz.out || true
		fuzz=1
	else
		tail -n 50 build/fuzz.out
		echo "FAIL: fuzz-run"
		fuzz=0; status=1
	fi
	for d in build build-san; do
		if [ -f "$d/test-suite.log" ]; then
			sed -n '/^# TOTAL/,/^# ERROR/p' "$d/test-suite.log"
		else
			echo "$d: no test-suite.log (build failed?)"; tail -n 30 "$d/check.out"; status=1
		fi
		if grep -qE '^(FAIL|ERROR):' "$d/check.out" 2>/dev/null; then
			# One log per test program; automake names a .sh test's log
			# without its extension.
			for t in $(grep -E '^(FAIL|ERROR):' "$d/check.out" | awk '{print $2}' | sort -u); do
				log="$d/${t%.sh}.log"
				echo "---- $log"; tail -n 60 "$log" 2>/dev/null || true
			done
		fi
	done
	{ cat build/test-suite.log build-san/test-suite.log 2>/dev/null
	  echo "# PASS: $((dist + fuzz))"; echo "# FAIL: $((2 - dist - fuzz))"; } > build/summary.in
	summarize build/summary.in
	exit $status
	;;
*)
	echo "usage: tests/build.sh demo|check" >&2
	exit 2
	;;
esac
