# Sourced by tests/interop/test-remote-*.sh: an nbdkit remote on a unix
# socket holding the ciphertext, and `cryptblk serve` over it.
#
#   remote_start ARGS...      nbdkit ARGS (plugin, filters) in the foreground on
#                             $TMP/remote.sock; sets REMOTE_PID, REMOTE_URI
#   remote_kill               SIGKILL the remote and wait for it
#   remote_format [ARGS...]   cryptblk format over REMOTE_URI, key $TMP/key
#   remote_serve [ARGS...]    cryptblk serve REMOTE_URI on $TMP/nbd.sock with
#                             stderr in $TMP/serve.err; sets SERVER_PID, SOCK, URI
# shellcheck disable=SC2034 # REMOTE_URI, URI are for the sourcing test
. "$SRCDIR/tests/interop/lib/nbd-server.sh"

nbd_need nbdkit
nbd_need_serve

fail() {
	echo "FAIL: $*" >&2
	[ -f "$TMP/serve.err" ] && sed 's/^/serve: /' "$TMP/serve.err" >&2
	exit 1
}

REMOTE_PID=
REMOTE_ARGS=()
remote_cleanup() {
	# The server first: with its remote gone, its final flush would wait
	# out the reconnect timeout.
	if [ -n "$SERVER_PID" ]; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=
	fi
	if [ -n "$REMOTE_PID" ]; then
		kill -KILL "$REMOTE_PID" 2>/dev/null || true
		wait "$REMOTE_PID" 2>/dev/null || true
	fi
	nbd_cleanup
}
trap remote_cleanup EXIT

printf 'remote passphrase' >"$TMP/key"

remote_start() {
	[ $# -gt 0 ] && REMOTE_ARGS=("$@")
	rm -f "$TMP/remote.sock"
	nbdkit -f -U "$TMP/remote.sock" "${REMOTE_ARGS[@]}" 2>>"$TMP/remote.err" &
	REMOTE_PID=$!
	for _ in $(seq 1 200); do
		[ -S "$TMP/remote.sock" ] && break
		kill -0 "$REMOTE_PID" 2>/dev/null || { cat "$TMP/remote.err" >&2; exit 1; }
		sleep 0.05
	done
	[ -S "$TMP/remote.sock" ] || { echo "remote socket never appeared" >&2; exit 1; }
	REMOTE_URI="nbd+unix:///?socket=$TMP/remote.sock"
}

remote_kill() {
	kill -KILL "$REMOTE_PID"
	wait "$REMOTE_PID" 2>/dev/null || true
	REMOTE_PID=
}

remote_format() {
	"$CRYPTBLK" format "$REMOTE_URI" --key-file "$TMP/key" --pbkdf pbkdf2 \
		--pbkdf-force-iterations 1000 --batch-mode "$@" >/dev/null
}

remote_serve() {
	SOCK="$TMP/nbd.sock"
	rm -f "$SOCK"
	"$CRYPTBLK" serve "$REMOTE_URI" --key-file "$TMP/key" --nbd "unix:$SOCK" "$@" \
		2>"$TMP/serve.err" &
	SERVER_PID=$!
	nbd_wait_socket
	URI="nbd+unix:///?socket=$SOCK"
}

# fio's nbd engine, or skip.
remote_need_fio() {
	nbd_need fio
	if ! fio --enghelp=nbd >/dev/null 2>&1; then
		echo "skip: fio has no nbd engine" >&2
		exit 77
	fi
}
