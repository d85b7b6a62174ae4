#!/usr/bin/env bash
# bench/compare --quick runs end to end: its JSON report has every job for
# every peer that is installed, with positive throughput, IOPS, latency and
# server CPU, the ratios and targets computed, and the latency-hiding pair
# (delay:100us,openssl against openssl). No speed is asserted. A peer that
# is not installed is skipped by bench/compare; then this test checks the
# rest and exits 77 so that the gap shows. Then --scaling --quick: every
# point measured, memory per connection bounded.
set -euo pipefail
: "${CRYPTBLK:?CRYPTBLK must name the built cryptblk command}"
: "${SRCDIR:?SRCDIR must name the source tree}"
PY=/usr/bin/python3
for tool in fio "$PY"; do
	command -v "$tool" >/dev/null 2>&1 || { echo "skip: $tool not installed" >&2; exit 77; }
done
if ! fio --enghelp=nbd >/dev/null 2>&1; then
	echo "skip: fio has no nbd engine" >&2
	exit 77
fi
TMP=$(mktemp -d "${BUILDDIR:-/tmp}/bench-smoke.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

rc=0
"$PY" "$SRCDIR/bench/compare" --quick --json --cryptblk "$CRYPTBLK" --workdir "$TMP" \
	>"$TMP/report.json" 2>"$TMP/err" || rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: bench/compare exited $rc: $(cat "$TMP/err")" >&2; exit 1; }
# The work directory is removed by bench/compare itself.
[ -z "$(ls -A "$TMP" | grep -v '^report.json$\|^err$')" ] || { echo "FAIL: leftovers in $TMP" >&2; exit 1; }

# --scaling: every point measured, and the memory it prints stays bounded:
# an idle connection costs at most 64 KiB, and a connection's peak during
# 1 MiB reads at QD 128 at most what serve's cap of 64 requests in flight
# allows (64 MiB of buffers, with room for allocator slack) over QD 1.
rc=0
"$PY" "$SRCDIR/bench/compare" --scaling --quick --json --cryptblk "$CRYPTBLK" \
	--workdir "$TMP" >"$TMP/scaling.json" 2>"$TMP/err" || rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: bench/compare --scaling exited $rc: $(cat "$TMP/err")" >&2; exit 1; }
"$PY" - "$TMP/scaling.json" <<'PYEOF'
import json, sys

report = json.load(open(sys.argv[1]))
rows = report["scaling"]["cryptblk-openssl"]
if len(rows) != 2 * 2 * 8:
    sys.exit("FAIL: %d scaling points, not 32" % len(rows))
for r in rows:
    for key in ("mib_s", "iops", "p50_us", "vmrss_kib", "vmhwm_kib"):
        if not isinstance(r.get(key), (int, float)) or r[key] <= 0:
            sys.exit("FAIL: scaling %s QD%d threads %d: %s is %r" %
                     (r["job"], r["qd"], r["threads"], key, r.get(key)))
for threads in (1, 2):
    m = report["scaling_memory"]["cryptblk-openssl"][str(threads)]
    if m["connections"] != 100 or not m["vmrss_before_kib"] > 0:
        sys.exit("FAIL: idle connections: %r" % m)
    if not m["kib_per_connection"] <= 64:
        sys.exit("FAIL: %.1f KiB per idle connection" % m["kib_per_connection"])
    seq = [r for r in rows if r["threads"] == threads and r["job"] == "seq read 1M"]
    grown = seq[-1]["vmhwm_kib"] - seq[0]["vmhwm_kib"]
    if grown > threads * (64 * 1024 * 3 // 2 + 16 * 1024):
        sys.exit("FAIL: --threads %d: VmHWM grew %d KiB from QD 1 to QD 128" % (threads, grown))
PYEOF

"$PY" - "$TMP/report.json" <<'PYEOF'
import json, sys

report = json.load(open(sys.argv[1]))
peers = ["nbdkit-plain", "nbdkit-luks", "nbdkit-cryptblk", "qemu-nbd-luks", "cryptblk-openssl",
         "cryptblk-threads2"]
jobs = ["seq-read-1m-qd8", "rand-read-4k-qd32", "seq-write-1m-qd8", "rand-write-4k-qd32",
        "rand-rw70-4k-qd32", "rand-read-4k-qd1"]
res, skipped = report["results"], report["skipped"]

def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)

for peer in peers:
    if peer in skipped:
        continue
    if peer not in res:
        fail("%s neither measured nor skipped" % peer)
    for job in jobs:
        r = res[peer].get(job)
        if r is None:
            fail("%s: no %s" % (peer, job))
        for key in ("mib_s", "iops", "p50_us", "p99_us", "bytes", "server_cpu_s_per_gib"):
            if not isinstance(r.get(key), (int, float)) or r[key] <= 0:
                fail("%s %s: %s is %r" % (peer, job, key, r.get(key)))
        if r["p99_us"] < r["p50_us"]:
            fail("%s %s: p99 below p50" % (peer, job))
    mem = report["memory"][peer]
    if not mem["vmhwm_kib"] > 0 or not mem["vmrss_max_kib"] > 0:
        fail("%s: memory %r" % (peer, mem))
for peer in ("cryptblk-openssl", "cryptblk-threads2"):
    if peer in skipped:
        fail("%s skipped: %s" % (peer, skipped[peer]))
for job in jobs:
    best = report["ratios"][job]["best_cryptblk"]
    if best not in ("cryptblk-openssl", "cryptblk-threads2"):
        fail("%s: best cryptblk engine %r" % (job, best))
    if "nbdkit-plain" in res:
        v = report["ratios"][job][best]["vs_plain"]
        if not v > 0:
            fail("%s: ratio against nbdkit-plain %r" % (job, v))
pair = report["latency_hiding"].get("cryptblk-openssl")
if not pair or not pair["plain"]["iops"] > 0 or not pair["delayed"]["iops"] > 0:
    fail("latency hiding pair missing: %r" % pair)
# With a 100 us delay a 4K read at QD 32 cannot take less than 100 us.
if not pair["delayed"]["p50_us"] >= 100:
    fail("delay:100us did not delay: p50 %r us" % pair["delayed"]["p50_us"])
if skipped:
    print("skip: measured the rest; not installed: %s" % skipped, file=sys.stderr)
    sys.exit(77)
print("ok: %d peers x %d jobs" % (len(res), len(jobs)))
PYEOF
