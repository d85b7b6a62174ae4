#!/usr/bin/env bash
# `cryptblk serve` under valgrind memcheck: a short session (nbdinfo, 1 MiB
# written with nbdcopy and read back, SIGTERM) with no memcheck error and no
# definite leak, and a clean exit; with the openssl engine and with
# threads:2 (worker threads handing jobs back through the eventfd).
#
# valgrind 3.19 (Debian 12) holds its global lock across io_uring_enter, so
# a thread waiting there for a completion stops every other thread (a
# two-thread liburing program hangs the same way; liburing issue 657). The
# session therefore runs with CRYPTBLK_LOOP_WAIT=poll: each loop sleeps in
# poll() on its ring's fd, which valgrind knows may block, and submits with
# a non-waiting io_uring_enter (src/loop/loop.c). The loop also tells
# memcheck which bytes a read or recv completion filled, since the kernel
# writes them behind its back. Should serve hang anyway (no socket, no CPU
# used for 3 s, a thread inside io_uring_enter) the test fails and says so.
#
# Release build only: valgrind cannot run a binary built with ASan.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need_serve
nbd_need valgrind nbdinfo nbdcopy cmp readelf
if readelf -d "$CRYPTBLK" | grep -q 'NEEDED.*libasan'; then
	echo "skip: $CRYPTBLK is built with ASan, which valgrind cannot run" >&2
	exit 77
fi

fail() {
	echo "FAIL: $*" >&2
	[ -f "$TMP/vg.log" ] && cat "$TMP/vg.log" >&2
	exit 1
}

# The process's CPU time in clock ticks (user + system, all threads).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }
# True when a thread of the process waits inside io_uring_enter (x86-64
# syscall 426; the number is the first field of /proc/.../syscall).
in_io_uring_enter() { cat /proc/"$1"/task/*/syscall 2>/dev/null | grep -q '^426 '; }

size=$((4 * 1024 * 1024))
nbd_luks_image "$TMP/img" "$size" 512
SOCK="$TMP/nbd.sock"
URI="nbd+unix:///?socket=$SOCK"
head -c $((1024 * 1024)) /dev/urandom >"$TMP/in"

session() { # crypto-spec
	rm -f "$SOCK" "$TMP/vg.log" "$TMP/out"
	CRYPTBLK_LOOP_WAIT=poll valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite --log-file="$TMP/vg.log" \
		"$CRYPTBLK" serve "$TMP/img" --key-file "$TMP/key" --nbd "unix:$SOCK" --threads 2 \
		--crypto "$1" &
	SERVER_PID=$!
	local last=-1 idle=0 now rc=0
	for _ in $(seq 1 300); do
		[ -S "$SOCK" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null || fail "$1: serve under valgrind exited before listening"
		now=$(cpu_ticks "$SERVER_PID")
		if [ "$now" = "$last" ]; then idle=$((idle + 1)); else idle=0; fi
		last=$now
		if [ "$idle" -ge 6 ] && in_io_uring_enter "$SERVER_PID"; then
			fail "$1: serve hangs under $(valgrind --version): no CPU used for 3 s, no" \
				"socket, a thread waiting in io_uring_enter"
		fi
		sleep 0.5
	done
	[ -S "$SOCK" ] || fail "$1: serve under valgrind did not listen within 150 s"

	nbdinfo --size "$URI" >"$TMP/size" || fail "$1: nbdinfo"
	[ "$(cat "$TMP/size")" -eq "$size" ] || fail "$1: nbdinfo: size $(cat "$TMP/size"), not $size"
	nbdcopy --connections=1 "$TMP/in" "$URI" || fail "$1: nbdcopy write"
	nbdcopy --connections=1 "$URI" "$TMP/out" || fail "$1: nbdcopy read"
	cmp -n $((1024 * 1024)) "$TMP/in" "$TMP/out" || fail "$1: read back differs"

	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || rc=$?
	SERVER_PID=
	[ "$rc" -ne 99 ] || fail "$1: memcheck found errors in the serve session"
	[ "$rc" -eq 0 ] || fail "$1: serve under valgrind exited $rc after SIGTERM"
	grep -q 'ERROR SUMMARY: 0 errors' "$TMP/vg.log" || fail "$1: no clean memcheck summary"
	grep -q 'All heap blocks were freed\|definitely lost: 0 bytes' "$TMP/vg.log" ||
		fail "$1: memcheck reports a leak"
	echo "$1: memcheck clean"
}

session openssl
session threads:2
echo ok
