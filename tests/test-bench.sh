#!/bin/sh
# test-bench.sh - busbench's --quick smoke run, so the tool cannot rot: it
# must complete and report sane, positive figures. Never a speed threshold:
# the machines that run the suite are shared and noisy.
. "$top_srcdir/tests/lib.sh"
plan 27

BENCH="$top_builddir/tests/bench/busbench"
timeout 300 "$BENCH" --quick --json >"$TEST_TMP/bench.json" 2>"$TEST_TMP/bench.err"
expect_eq "busbench --quick --json exits 0" "$?" 0
if [ -s "$TEST_TMP/bench.err" ]; then
	sed 's/^/# stderr: /' "$TEST_TMP/bench.err"
fi

# One line per finding, "ok NAME" or "bad NAME: why".
python3 - "$TEST_TMP/bench.json" >"$TEST_TMP/verdicts" 2>&1 <<'PY'
import json, math, sys
# A fixed number of lines whatever the output, so that the plan holds: a
# figure missing from it is a "bad" line of its own.
try:
    d = json.load(open(sys.argv[1]))
    print("ok the output is JSON")
except Exception as e:
    print("bad the output is JSON: %s" % e)
    d = {}
f = d.get("figures", {})
want = ["rtt_%s_%s" % (s, w) for s in ("64", "4096") for w in ("socketpair", "relay", "busd")]
want += ["pipelined_relay", "pipelined_busd", "oneway_relay", "oneway_busd",
         "fanout_1_busd", "fanout_10_busd", "fanout_100_busd", "rtt_64_busd_slow_consumer_flooded"]
for k in want:
    r = f.get(k)
    if r is None:
        print("bad %s: missing" % k)
        continue
    good = all(isinstance(r.get(x), (int, float)) and math.isfinite(r[x]) and r[x] >= 0
               for x in ("p50_us", "p99_us", "rate", "mbps"))
    good = good and r["rate"] > 0
    if k.startswith("rtt_"):
        good = good and 0 < r["p50_us"] <= r["p99_us"] < 1e6
    if good:
        print("ok %s: finite figures, rate > 0%s"
              % (k, ", 0 < p50 <= p99" if k.startswith("rtt_") else ""))
    else:
        print("bad %s: %r" % (k, r))
dropped = f.get("slow_consumer_events_dropped", 0)
print(("ok" if isinstance(dropped, (int, float)) and dropped > 0 else "bad")
      + " the slow consumer beside the round trips lost events (%s)" % dropped)
rss = d.get("rss", {})
idle = rss.get("idle_bytes", 0)
print(("ok" if 0 < idle < 1 << 30 else "bad") + " busd idle RSS is positive and plausible (%s)" % idle)
crowds = rss.get("peers", [])
ok = len(crowds) > 0 and all(p.get("peers", 0) > 0 and p.get("bytes", 0) >= idle for p in crowds)
print(("ok" if ok else "bad") + " RSS with %s idle peers is at least the idle RSS"
      % " and ".join(str(p.get("peers")) for p in crowds))
r = d.get("ratios", {})
for k in ("rtt_p50_64_busd_over_relay", "pipelined_busd_over_relay", "oneway_busd_over_relay",
          "fanout_100_over_oneway", "rtt_p50_64_flooded_over_busd"):
    v = r.get(k)
    ok = isinstance(v, (int, float)) and math.isfinite(v) and v > 0
    print(("ok" if ok else "bad") + " ratio %s is finite and positive (%s)" % (k, v))
PY
while read -r verdict rest; do
	if [ "$verdict" = ok ]; then _tap ok "$rest"; else _tap fail "$rest"; fi
done <"$TEST_TMP/verdicts"

"$BENCH" --quick >"$TEST_TMP/table" 2>&1
expect_eq "busbench --quick (table) exits 0" "$?" 0
expect_match "  and prints the RTT line with its target" "$(cat "$TEST_TMP/table")" \
	"^RTT p50 64 B +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +<=1\.10 +(ok|MISS)$"
"$BENCH" --runs 0 >/dev/null 2>&1
expect_eq "busbench --runs 0 is a usage error" "$?" 2

finish
