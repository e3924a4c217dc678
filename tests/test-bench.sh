#!/bin/sh
# test-bench.sh - busbench's --quick smoke run, so the tool cannot rot: it
# must complete and report sane, positive figures. Never a speed threshold:
# the machines that run the suite are shared and noisy.
. "$top_srcdir/tests/lib.sh"
plan 41

BENCH="$top_builddir/tests/bench/busbench"
timeout 600 "$BENCH" --quick --json >"$TEST_TMP/bench.json" 2>"$TEST_TMP/bench.err"
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
# The payload sweep: every figure at every size, with its faults. Rates,
# latencies, trip counts and ratios must be positive; faults per message
# may be zero (a process that reuses its buffers takes none), never
# negative. One line per size and kind of figure.
sw = d.get("sweep", {})
who = ("relay", "busd")
for sz in ("64b", "4k", "64k", "1m", "16m"):
    keys = ["rtt_%s_trips" % sz, "window_%s" % sz, "%s_body_bytes" % sz]
    keys += ["rtt_%s_%s_%s" % (sz, w, p) for w in who for p in ("p50_us", "p99_us")]
    keys += ["%s_%s_%s_%s" % (k, sz, w, u) for w in who
             for k, u in (("pipelined", "calls_per_s"), ("pipelined", "mb_per_s"),
                          ("oneway", "events_per_s"), ("oneway", "mb_per_s"))]
    keys += ["%s_%s_busd_over_relay" % (k, sz) for k in ("rtt", "pipelined", "oneway")]
    bad = [k for k in keys if not (isinstance(sw.get(k), (int, float))
                                   and math.isfinite(sw[k]) and sw[k] > 0)]
    if not bad and not sw["rtt_%s_busd_p50_us" % sz] <= sw["rtt_%s_busd_p99_us" % sz]:
        bad = ["rtt_%s_busd p50 > p99" % sz]
    print(("ok" if not bad else "bad") + " sweep %s: %d figures present and positive%s"
          % (sz, len(keys), "" if not bad else " (%s)" % ", ".join(
              "%s=%r" % (k, sw.get(k)) for k in bad)))
faults = ["faults_%s_%s_%s%s_per_msg" % (sz, k, w, p) for sz in ("64b", "4k", "64k", "1m", "16m")
          for w in who for k, peer in (("rtt", "server"), ("pipelined", "server"),
                                       ("oneway", "subscriber"))
          for p in ("", "_" + peer, "_client")]
bad = [k for k in faults if not (isinstance(sw.get(k), (int, float))
                                 and math.isfinite(sw[k]) and sw[k] >= 0)]
print(("ok" if not bad else "bad") + " sweep: all %d faults-per-message figures present, >= 0%s"
      % (len(faults), "" if not bad else " (%s)" % ", ".join(bad[:5])))
# Shared-memory channels beside their floor, and busd's call rate.
ch = d.get("channels", {})
bad = [k for k in ("floor_64", "tuned_64", "channel_64", "floor_64k", "tuned_64k", "channel_64k",
                   "busd_call_64")
       if not (isinstance(ch.get(k, {}).get("rate"), (int, float)) and ch[k]["rate"] > 0)]
bad += [k for k in ("ratio_64", "ratio_64k", "ratio_tuned_64", "ratio_tuned_64k")
        if not (isinstance(ch.get(k), (int, float)) and math.isfinite(ch[k]) and ch[k] > 0)]
print(("ok" if not bad else "bad") + " channels: floor, channel and busd figures positive%s"
      % ("" if not bad else " (%s)" % ", ".join(bad)))
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

timeout 600 "$BENCH" --quick --sizes 64k >"$TEST_TMP/table" 2>&1
expect_eq "busbench --quick --sizes 64k (table) exits 0" "$?" 0
expect_match "  and prints the RTT line with its target" "$(cat "$TEST_TMP/table")" \
	"^RTT p50 64 B +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +<=1\.10 +(ok|MISS)$"
expect_match "  and the sweep's 64 KiB round trip, relay, busd and ratio" "$(cat "$TEST_TMP/table")" \
	"^64 KiB +RTT p50 us \([0-9]+ trips\) +[0-9.]+ +[0-9.]+ +[0-9.]+$"
# The fault counting must see faults where there are some: with glibc told
# to map every block above 128 KiB afresh (which also stops it raising that
# threshold), the reply block bus_call() returns, freed by busbench after
# each call, is mapped and faulted in again per call: 4,096 pages at 16 MiB.
# (busd sets its own thresholds; under ASan, its allocator maps large blocks
# itself.)
GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072 timeout 300 "$BENCH" --quick --json \
	--only sweep --sizes 16m >"$TEST_TMP/faults.json" 2>&1
expect_match "sweep: faults are counted (a client mapping its 16 MiB replies afresh)" \
	"$(python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))["sweep"]["faults_16m_rtt_busd_client_per_msg"]
print("%s per call" % ("many" if v >= 1000 else v))' "$TEST_TMP/faults.json" 2>&1)" "^many per call$"
"$BENCH" --runs 0 >/dev/null 2>&1
expect_eq "busbench --runs 0 is a usage error" "$?" 2
"$BENCH" --only sweep --sizes 64,2m >/dev/null 2>"$TEST_TMP/sizes.err"
expect_eq "busbench --sizes with an unknown size is a usage error" "$?" 2
expect_match "  and names the size and the valid ones" "$(cat "$TEST_TMP/sizes.err")" \
	"unknown size '2m' \(one of 64b, 4k, 64k, 1m, 16m\)"
"$BENCH" --only nothing >/dev/null 2>"$TEST_TMP/only.err"
expect_eq "busbench --only nothing is a usage error" "$?" 2
timeout 120 "$BENCH" --quick --json --only sweep --sizes 4K >"$TEST_TMP/only.json" 2>&1
expect_eq "busbench --quick --json --only sweep --sizes 4K exits 0" "$?" 0
expect_eq "  and reports the sweep at 4 KiB alone, without the method's figures" \
	"$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(sorted(set(k.split("_")[1] for k in d["sweep"] if k.startswith("rtt_"))), "figures" in d)' \
	"$TEST_TMP/only.json" 2>&1)" "['4k'] False"

finish
