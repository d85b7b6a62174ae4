# Sourced by tests/interop/test-nbd-*.sh: start an NBD server on a unix
# socket in a temporary directory and stop it on exit.
#
# Until `cryptblk serve` can open a LUKS image, the server is the test-only
# one built into the unit test test_nbd_serve (`--serve`): the real NBD
# server code over an in-memory model of the volume.
#
#   nbd_need CMD...            exit 77 (skip) unless every command exists
#   nbd_start SIZE [SECTOR [THREADS [NAME [DESCRIPTION]]]]
#                              sets SOCK, URI (nbd+unix) and TMP
set -euo pipefail

: "${BUILDDIR:?BUILDDIR must name the build tree}"
# nbdsh runs the python3 first on PATH: it must be Debian's.
export PATH=/usr/bin:$PATH

nbd_need() {
	for cmd in "$@"; do
		if ! command -v "$cmd" >/dev/null 2>&1; then
			echo "skip: $cmd not installed" >&2
			exit 77
		fi
	done
}

TMP=$(mktemp -d "${BUILDDIR}/nbd-interop.XXXXXX")
SERVER_PID=
nbd_cleanup() {
	if [ -n "$SERVER_PID" ]; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap nbd_cleanup EXIT

nbd_start() {
	local server="$BUILDDIR/test_nbd_serve"
	[ -x "$server" ] || { echo "skip: $server not built" >&2; exit 77; }
	SOCK="$TMP/nbd.sock"
	"$server" --serve "$SOCK" "$@" &
	SERVER_PID=$!
	for _ in $(seq 1 200); do
		[ -S "$SOCK" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited early" >&2; exit 1; }
		sleep 0.05
	done
	[ -S "$SOCK" ] || { echo "server socket never appeared" >&2; exit 1; }
	# shellcheck disable=SC2034 # used by the sourcing test
	URI="nbd+unix:///?socket=$SOCK"
	if [ $# -ge 4 ]; then
		URI="nbd+unix:///$4?socket=$SOCK"
	fi
}

# Stop the server with SIGTERM and require a clean exit.
nbd_stop() {
	kill -TERM "$SERVER_PID"
	local rc=0
	wait "$SERVER_PID" || rc=$?
	SERVER_PID=
	[ "$rc" -eq 0 ] || { echo "server exited with $rc" >&2; exit 1; }
}
