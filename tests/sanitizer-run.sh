#!/usr/bin/env bash
# Run one ctest test of the sanitizer build (ASan + UBSan, LSan on) so that
# any sanitizer report fails it, whichever process wrote it.
#
# usage: tests/sanitizer-run.sh CMD [ARGS...]     (CMakeLists.txt adds it)
#
# A report in the test's own process aborts it (abort_on_error,
# halt_on_error). But an interop test starts `cryptblk serve` in the
# background, stops it with SIGTERM and often ignores its exit status and
# its stderr; a leak (LSan runs when the server exits after SIGTERM) or a
# UBSan report there would pass unseen. So every instrumented process of the
# test writes its reports to files in a directory of this run (log_path
# makes one file per process, created only when there is a report), and the
# test fails when any file appears, even one that exited 77 (skipped). The
# files are printed, then removed with the directory.
#
# Options already in ASAN_OPTIONS/UBSAN_OPTIONS (from `make test`) are kept;
# the defaults here make a bare `ctest` in the sanitizer tree behave the same.
set -u

dir=$(mktemp -d "${TMPDIR:-/tmp}/cryptblk-sanitizer.XXXXXX") || exit 1
asan="detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}:log_path=$dir/asan"
ubsan="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}:log_path=$dir/ubsan"
# Only the test gets them (not this script, so the search for stragglers
# below does not find itself). Tools the test runs that are not built with
# the sanitizers (nbdkit, qemu, python) ignore them.
ASAN_OPTIONS=$asan UBSAN_OPTIONS=$ubsan "$@"
rc=$?

# A background server the test did not wait for may still be writing its
# leak report: give the processes that carry this run's options (found by
# their environment) up to 5 s to exit.
stragglers() { grep -lzs "log_path=$dir/" /proc/[0-9]*/environ 2>/dev/null; }
for _ in $(seq 1 25); do
	[ -z "$(stragglers)" ] && break
	sleep 0.2
done
if [ -n "$(stragglers)" ]; then
	echo "sanitizer-run: warning: processes of the test still running:" \
		"$(stragglers | tr '\n' ' ')" >&2
fi

found=0
for f in "$dir"/*; do
	[ -f "$f" ] || continue
	found=1
	echo "sanitizer-run: report in $(basename "$f") (exit status of the test: $rc):" >&2
	cat "$f" >&2
done
rm -rf "$dir"
if [ "$found" -ne 0 ]; then
	echo "sanitizer-run: FAIL: a sanitizer report was written during the test" >&2
	exit 1
fi
exit "$rc"
