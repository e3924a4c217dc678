#!/bin/sh
# test-completion.sh - busctl's bash completion (busctl/busctl.bash-completion,
# as make builds it) against a real busd and the example services: commands,
# global and per-command options, --match keys and values, and names, unique
# ids, methods, services and types asked from the bus the command line names.
# Plain bash: bash-completion need not be installed.
. "$top_srcdir/tests/lib.sh"
plan 24

SCRIPT="$top_builddir/busctl/busctl.bash-completion"

# comp LINE [WORD...]: the completions (one a line, sorted) of LINE with the
# cursor at its end, as bash asks for them: COMP_LINE and COMP_POINT, and
# COMP_WORDS (the WORDs if given: how bash splits at COMP_WORDBREAKS;
# else LINE split at blanks) with COMP_CWORD its last.
comp() {
	bash -c '
		. "$0" || exit 1
		COMP_LINE=$1; COMP_POINT=${#1}; shift
		if [ $# -gt 0 ]; then COMP_WORDS=("$@"); else
			read -ra COMP_WORDS <<<"$COMP_LINE"
			[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
		fi
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		fn=$(complete -p busctl | sed -n "s/.*-F \([^ ]*\) .*/\1/p")
		"$fn" busctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort' "$SCRIPT" "$@"
}
one_line() { tr '\n' ' ' | sed 's/ $//'; }

check "the script loads in bash and completes the command busctl" \
	"bash -c '. \"$SCRIPT\" && complete -p busctl' | grep -qx 'complete -F _busd_busctl busctl'"

busd_start
bg "$ECHO_SVC"
bg "$SENSOR_SVC" --interval 100
wait_for 10 sh -c "'$BUSCTL' list | grep -q org.busd.Echo && '$BUSCTL' list | grep -q org.busd.Sensor"
echo_id=$("$BUSCTL" list | awk '$1 == "org.busd.Echo" { print $2 }')

expect_eq "the commands" "$(comp "$BUSCTL " | one_line)" \
	"call capture decode emit introspect list listen monitor restart services start status stop wait"
expect_eq "  by their start" "$(comp "$BUSCTL in" | one_line)" "introspect"
expect_eq "the global options" "$(comp "$BUSCTL --" | one_line)" \
	"--help --json --max-schema-bytes --socket --system --timeout --user --version"
expect_eq "  after one of them, the commands still" "$(comp "$BUSCTL --json mo" | one_line)" monitor
expect_eq "monitor's options" "$(comp "$BUSCTL monitor --" | one_line)" \
	"--all --count --help --match --max-body --raw --reconnect"
expect_eq "call's options" "$(comp "$BUSCTL call --" | one_line)" "--help --interface --raw --type"
expect_eq "capture's options" "$(comp "$BUSCTL capture --" | one_line)" \
	"--bodies --count --help --match --output --snaplen"
expect_eq "restart's options" "$(comp "$BUSCTL restart --" | one_line)" "--help --no-block"

expect_eq "call NAME: the well-known names on the bus" "$(comp "$BUSCTL call " | one_line)" \
	"org.busd.Echo org.busd.Sensor"
expect_match "  and with \":\", the unique ids, echo's among them" \
	"$(comp "$BUSCTL call :" | one_line)" "(^| )$echo_id( |$)"
expect_eq "  by their start" "$(comp "$BUSCTL introspect org.busd.S" | one_line)" org.busd.Sensor
expect_eq "call NAME METHOD: the name's methods, from the bus" \
	"$(comp "$BUSCTL call org.busd.Echo " | one_line)" "Delay Echo Fail"
expect_eq "  by their start" "$(comp "$BUSCTL call org.busd.Echo F" | one_line)" Fail
expect_eq "  after a global option too" "$(comp "$BUSCTL --json call org.busd.Sensor " | one_line)" Read
expect_eq "call NAME --interface: the name's services" \
	"$(comp "$BUSCTL call org.busd.Sensor --interface " | one_line)" busd.examples.Sensor
expect_eq "emit TOPIC TYPE: the types the bus's methods use" \
	"$(comp "$BUSCTL emit alarm.kitchen busd.examples.Rea" | one_line)" \
	"busd.examples.ReadRequest busd.examples.Reading"

expect_eq "--match: its keys" "$(comp "$BUSCTL monitor --match " | one_line)" \
	"destination= kind= method= sender= topic="
expect_eq "  kind=: the kinds (bash replaces what follows \"=\")" \
	"$(comp "$BUSCTL monitor --match kind=r" "$BUSCTL" monitor --match kind = r | one_line)" reply
expect_match "  destination=: the names" \
	"$(comp "$BUSCTL monitor --match destination=org.busd.E" "$BUSCTL" monitor --match \
		destination = org.busd.E | one_line)" "^org\.busd\.Echo$"

expect_eq "--socket PATH: the names of that bus" \
	"$(sock=$BUS_ADDRESS; unset BUS_ADDRESS; XDG_RUNTIME_DIR="$TEST_TMP/none"
	   export XDG_RUNTIME_DIR; comp "$BUSCTL --socket $sock call org.busd." | one_line)" \
	"org.busd.Echo org.busd.Sensor"
check "  (and without it, that bus is not found)" \
	"! (unset BUS_ADDRESS; XDG_RUNTIME_DIR='$TEST_TMP/none' '$BUSCTL' list >/dev/null 2>&1)"
expect_eq "capture --snaplen (a number): nothing" "$(comp "$BUSCTL capture --snaplen " | one_line)" ""
busd_stop
expect_eq "without a bus: no names, no error" "$(comp "$BUSCTL call " 2>&1 | one_line)" ""
finish
