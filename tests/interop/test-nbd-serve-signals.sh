#!/usr/bin/env bash
# SIGTERM and SIGINT stop `cryptblk serve` cleanly: exit 0, the socket and
# the pid file are gone, and a write that was acknowledged is on disk.
. "$SRCDIR/tests/interop/lib/nbd-server.sh"
nbd_need_serve
nbd_need nbdsh

nbd_luks_image "$TMP/img" $((1024 * 1024)) 512
for sig in TERM INT; do
	SOCK="$TMP/sock-$sig"
	"$CRYPTBLK" serve "$TMP/img" --key-file "$TMP/key" --nbd "unix:$SOCK" \
		--pid-file "$TMP/pid" &
	SERVER_PID=$!
	for _ in $(seq 1 400); do [ -s "$TMP/pid" ] && break; sleep 0.05; done
	[ "$(cat "$TMP/pid")" = "$SERVER_PID" ]
	[ -S "$SOCK" ]
	nbdsh -u "nbd+unix:///?socket=$SOCK" -c "h.pwrite(b'$sig' * 1000, 4321)"
	kill -"$sig" "$SERVER_PID"
	rc=0
	wait "$SERVER_PID" || rc=$?
	SERVER_PID=
	[ "$rc" -eq 0 ] || { echo "SIG$sig: exit $rc" >&2; exit 1; }
	[ ! -e "$SOCK" ] || { echo "SIG$sig: socket left behind" >&2; exit 1; }
	[ ! -e "$TMP/pid" ] || { echo "SIG$sig: pid file left behind" >&2; exit 1; }
done
# both writes survived the restarts
"$CRYPTBLK" serve "$TMP/img" --key-file "$TMP/key" --nbd "unix:$TMP/sock" --readonly \
	--run "nbdsh -u \"\$uri\" -c 'assert h.pread(3000, 4321) == b\"INT\" * 1000'"
echo ok
