#!/usr/bin/env bash
# Run the libFuzzer targets built in BUILD (tests/fuzz/CMakeLists.txt).
#
# usage: tests/fuzz/run.sh BUILD SECONDS [TARGET...]   (default: every target)
#   FUZZ_JOBS  targets run at once (default 2)
#
# For each target: first replay its regression inputs (tests/fuzz/regress/T),
# then fuzz for SECONDS from the seed corpus (tests/fuzz/corpus/T) plus the
# corpus grown by earlier runs (BUILD/corpus/T), with tests/fuzz/fuzz_T.dict
# and the flags in tests/fuzz/fuzz_T.flags when present. A crash, leak,
# timeout or out-of-memory input is copied to tests/fuzz/regress/T/ (commit
# it with the fix). One line per target; exit 1 when any target failed.
set -uo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "${1:?usage: run.sh BUILD SECONDS [TARGET...]}" && pwd) || exit 2
SECONDS_PER=${2:?usage: run.sh BUILD SECONDS [TARGET...]}
shift 2
JOBS=${FUZZ_JOBS:-2}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for f in "$SRC"/fuzz_*.c; do
		t=$(basename "$f" .c)
		targets+=("${t#fuzz_}")
	done
fi

# replay T LOG: run every regression input once; 0 when none crashes.
replay() {
	local t=$1 log=$2 inputs=()
	for f in "$SRC/regress/$t"/*; do
		[ -f "$f" ] && inputs+=("$f")
	done
	[ ${#inputs[@]} -eq 0 ] && return 0
	"$BUILD/fuzz_$t" -runs=1 "${inputs[@]}" >"$log" 2>&1
}

# keep T DIR: copy DIR's crash/leak/timeout/oom inputs to regress/T; print them.
keep() {
	local t=$1 dir=$2 f name
	for f in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*; do
		[ -f "$f" ] || continue
		name=$(basename "$f")
		cp "$f" "$SRC/regress/$t/$name"
		echo "tests/fuzz/regress/$t/$name"
	done
}

# why LOG: the line of a log that says what went wrong.
why() {
	grep -m1 -E 'invariant broken|^SUMMARY:|ERROR: libFuzzer|runtime error' "$1" |
		sed 's/^[[:space:]]*//' | cut -c1-160
}

# fuzz_one T: one line on stdout, exit status 0 when nothing was found.
fuzz_one() {
	local t=$1 bin="$BUILD/fuzz_$t" log="$BUILD/logs/$t.log"
	local art="$BUILD/artifacts/$t" work="$BUILD/corpus/$t" opts=() rc runs rate cov corp kept
	if [ ! -x "$bin" ]; then
		printf 'fuzz: %-12s result: FAIL, %s not built\n' "$t" "$bin"
		return 1
	fi
	mkdir -p "$art" "$work" "$SRC/regress/$t"
	rm -f "$art"/*
	if ! replay "$t" "$log"; then
		printf 'fuzz: %-12s result: FAIL, a regression input crashes: %s (log %s)\n' \
			"$t" "$(why "$log")" "$log"
		return 1
	fi
	[ -f "$SRC/fuzz_$t.dict" ] && opts+=("-dict=$SRC/fuzz_$t.dict")
	# shellcheck disable=SC2207
	[ -f "$SRC/fuzz_$t.flags" ] && opts+=($(cat "$SRC/fuzz_$t.flags"))
	"$bin" -max_total_time="$SECONDS_PER" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$art/" "${opts[@]}" \
		"$work" "$SRC/corpus/$t" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
	corp=$(grep -oE 'corp: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
	kept=$(keep "$t" "$art" | tr '\n' ' ')
	if [ "$rc" -eq 0 ] && [ -z "$kept" ]; then
		printf 'fuzz: %-12s runs %-9s (%s/s over %s s)  cov %s  corpus %s  result: ok\n' \
			"$t" "${runs:-?}" "${rate:-?}" "$SECONDS_PER" "${cov:-?}" "${corp:-?}"
		return 0
	fi
	printf 'fuzz: %-12s runs %-9s (%s/s)  result: FAIL (exit %d): %s; input kept: %s(log %s)\n' \
		"$t" "${runs:-?}" "${rate:-?}" "$rc" "$(why "$log")" "${kept:-none }" "$log"
	return 1
}

mkdir -p "$BUILD/logs" "$BUILD/results"
echo "fuzz: ${#targets[@]} targets, $SECONDS_PER s each, $JOBS at a time"
start=$(date +%s)
for t in "${targets[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
		wait -n
	done
	(fuzz_one "$t" >"$BUILD/results/$t") &
done
wait
failed=0
for t in "${targets[@]}"; do
	cat "$BUILD/results/$t"
	grep -q 'result: ok$' "$BUILD/results/$t" || failed=1
done
echo "fuzz: done in $(($(date +%s) - start)) s: $([ $failed -eq 0 ] && echo 'no failure' || echo 'FAILED')"
exit $failed
