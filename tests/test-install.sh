#!/bin/sh
# test-install.sh - an installation under other program names: configure
# --program-prefix=x- in a scratch build directory, make install-data into
# a DESTDIR, and read what landed. The programs' man pages take the
# programs' names, every page and the systemd unit name the programs as
# installed, the bash completion follows busctl's name, the dissector and
# bus.proto go to $(datadir)/busd; make uninstall takes it all back.
# (No compiling: install-data needs none.)
. "$top_srcdir/tests/lib.sh"
plan 20

B="$TEST_TMP/build"
D="$TEST_TMP/dest"
mkdir -p "$B"
if [ -e "$top_srcdir/config.status" ]; then
	# configure refuses a second build directory beside an in-tree build
	for n in $(seq 20); do
		skip "installation under other names ($n)" "the source tree is configured in place"
	done
	finish
	exit
fi
# make's own variables from make check must not reach this make
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
inner_make() { make -C "$B" "$@" DESTDIR="$D" >>"$TEST_TMP/make.log" 2>&1; }

(cd "$B" && "$top_srcdir/configure" --quiet --prefix=/usr --sysconfdir=/etc \
	--program-prefix=x- --with-systemdsystemunitdir=/lib/systemd/system \
	--with-sysusersdir=no --with-bashcompletiondir=/usr/share/bash-completion/completions \
	>"$TEST_TMP/configure.log" 2>&1)
expect_eq "configure --program-prefix=x- succeeds" "$?" 0
inner_make install-data
rc=$?
expect_eq "make install-data DESTDIR=... succeeds" "$rc" 0
[ "$rc" -eq 0 ] || tail -n 20 "$TEST_TMP/make.log" | sed 's/^/# /'

MAN="$D/usr/share/man"
# busbridge's pages, where configure found libnats (docs/bridge.md)
bridge_pages=""
grep -q '^am__append_[0-9]* = busbridge/busbridge' "$B/Makefile" && bridge_pages="./man5/bridge.conf.5 ./man8/x-busbridge.8 "
expect_eq "the programs' pages take the programs' names; busd.conf(5), libbus(3) keep theirs" \
	"$(cd "$MAN" && find . -type f | sort | tr '\n' ' ')" \
	"$(echo "./man1/x-busctl.1 ./man3/libbus.3 ./man5/busd.conf.5 ${bridge_pages}./man8/x-busd.8" |
	   tr ' ' '\n' | sort | tr '\n' ' ')"
expect_eq "x-busd(8): its title" "$(grep '^\.TH' "$MAN/man8/x-busd.8" | cut -d' ' -f1-3)" ".TH X-BUSD 8"
expect_eq "  its name line" "$(sed -n '/^\.SH NAME/{n;p;}' "$MAN/man8/x-busd.8")" \
	'x-busd \- the busd service bus broker'
expect_eq "  its synopsis" "$(sed -n '/^\.SH SYNOPSIS/{n;p;}' "$MAN/man8/x-busd.8")" '.B x-busd'
check "  its SEE ALSO names x-busctl(1)" \
	"sed -n '/^\.SH SEE ALSO/,\$p' '$MAN/man8/x-busd.8' | grep -qx '\.BR x-busctl (1),'"
expect_eq "x-busctl(1): its name line" "$(sed -n '/^\.SH NAME/{n;p;}' "$MAN/man1/x-busctl.1")" \
	'x-busctl \- inspect and drive a busd service bus'
expect_eq "  its synopsis" "$(sed -n '/^\.SH SYNOPSIS/{n;p;}' "$MAN/man1/x-busctl.1")" '.B x-busctl'
check "  its SEE ALSO names x-busd(8)" \
	"sed -n '/^\.SH SEE ALSO/,\$p' '$MAN/man1/x-busctl.1' | grep -qx '\.BR x-busd (8),'"
check "  its examples run x-busctl" "grep -qx 'x-busctl list' '$MAN/man1/x-busctl.1'"
check "  and it names the installed dissector" \
	"grep -qx '\.I /usr/share/busd/busd\.lua' '$MAN/man1/x-busctl.1'"
check "busd.conf(5) and libbus(3) name x-busd(8) and x-busctl(1)" \
	"grep -qx '\.BR x-busd (8),' '$MAN/man5/busd.conf.5' && grep -qx '\.BR x-busctl (1),' '$MAN/man5/busd.conf.5' &&
	 grep -qx '\.BR x-busd (8),' '$MAN/man3/libbus.3' && grep -qx '\.BR x-busctl (1),' '$MAN/man3/libbus.3'"
expect_eq "no page names busd(8) or busctl(1), or keeps a placeholder" \
	"$(cat "$MAN"/man*/* | grep -cE '^\.BR (busd \(8\)|busctl \(1\))|@[A-Za-z_]+@')" 0
expect_eq "busd.service starts /usr/bin/x-busd and documents it" \
	"$(grep -E '^(ExecStart|Documentation)=' "$D/lib/systemd/system/busd.service" | tr '\n' ' ')" \
	"Documentation=man:x-busd(8) man:busd.conf(5) ExecStart=/usr/bin/x-busd "
COMPL="$D/usr/share/bash-completion/completions/x-busctl"
check "the bash completion is installed as x-busctl" "[ -f '$COMPL' ]"
check "  and completes the command x-busctl" \
	"bash -c '. \"$COMPL\" && complete -p x-busctl' | grep -qx 'complete -F _busd_busctl x-busctl'"
check "the dissector and bus.proto in /usr/share/busd" \
	"cmp -s '$top_srcdir/busctl/busd.lua' '$D/usr/share/busd/busd.lua' &&
	 cmp -s '$top_srcdir/proto/bus.proto' '$D/usr/share/busd/proto/bus.proto'"

mkdir -p "$D/usr/bin" "$D/usr/libexec/busd" # uninstall cds there (no program was installed)
inner_make uninstall
expect_eq "make uninstall DESTDIR=... succeeds" "$?" 0
expect_eq "  and leaves no file behind" "$(find "$D" -type f | wc -l | tr -d ' ')" 0
finish
